/* Who is acting: the roles and the caller's identity as plain data, so a
 * service can be told who acts without knowing any request. */
#ifndef DELIVERYD_WHO_H
#define DELIVERYD_WHO_H

#include <stdint.h>

enum role_bits {
    ROLE_ADMIN = 1u << 0,
    ROLE_MANAGER = 1u << 1,
    ROLE_DRIVER = 1u << 2,
    ROLE_STAFF = ROLE_ADMIN | ROLE_MANAGER,
    ROLE_ANY = ROLE_ADMIN | ROLE_MANAGER | ROLE_DRIVER,
    ROLE_PUBLIC = 1u << 8, /* no authentication (routes only) */
    ROLE_CRON = 1u << 9,   /* Authorization: Bearer CRON_SECRET (routes only) */
};

/* Who is calling, after authentication. */
struct principal {
    int64_t user_id;
    unsigned role;         /* one ROLE_* bit */
    int64_t warehouse_id;  /* 0: not scoped */
    int64_t driver_id;     /* 0: not a driver */
};

#endif
