#include "deliveryd/principal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/db.h"

#define SLOTS 1024

#define BODY_MAX 2048

struct slot {
    int64_t user_id;
    struct principal p;
    bool active;
    double loaded_at;
    char body[BODY_MAX]; /* the user JSON (GET /auth/me), "" when too long */
};

static struct slot slots[SLOTS];
static pthread_mutex_t locks[16] = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
    PTHREAD_MUTEX_INITIALIZER};

unsigned role_bit(const char *role)
{
    if (strcmp(role, "admin") == 0) return ROLE_ADMIN;
    if (strcmp(role, "manager") == 0) return ROLE_MANAGER;
    if (strcmp(role, "driver") == 0) return ROLE_DRIVER;
    return 0;
}

enum principal_status principal_load(int64_t user_id, struct principal *out, bool *is_active)
{
    size_t i = (size_t)user_id % SLOTS;
    pthread_mutex_t *m = &locks[i % 16];
    double now = now_mono();
    pthread_mutex_lock(m);
    if (slots[i].user_id == user_id && now - slots[i].loaded_at < PRINCIPAL_TTL) {
        *out = slots[i].p;
        *is_active = slots[i].active;
        pthread_mutex_unlock(m);
        return PRINCIPAL_OK;
    }
    pthread_mutex_unlock(m);

    char id[24];
    snprintf(id, sizeof id, "%ld", (long)user_id);
    struct db_error err;
    db_res *res = db_run(Q(principal_load)(id), &err);
    if (!res) return PRINCIPAL_DB_DOWN;
    if (db_ntuples(res) != 1) {
        db_res_free(res);
        return PRINCIPAL_GONE;
    }
    /* the columns of principal_load */
    enum { C_ROLE, C_ACTIVE, C_WAREHOUSE, C_DRIVER, C_BODY };
    struct principal p = {.user_id = user_id, .role = role_bit(db_get(res, 0, C_ROLE))};
    bool active = db_get(res, 0, C_ACTIVE)[0] == 't';
    p.warehouse_id = atoll(db_get(res, 0, C_WAREHOUSE));
    p.driver_id = atoll(db_get(res, 0, C_DRIVER));
    bool body_fits = db_getlen(res, 0, C_BODY) < BODY_MAX;

    pthread_mutex_lock(m);
    if (body_fits) memcpy(slots[i].body, db_get(res, 0, C_BODY), db_getlen(res, 0, C_BODY) + 1);
    else slots[i].body[0] = '\0';
    db_res_free(res);
    slots[i].user_id = user_id;
    slots[i].p = p;
    slots[i].active = active;
    slots[i].loaded_at = now_mono();
    pthread_mutex_unlock(m);
    *out = p;
    *is_active = active;
    return PRINCIPAL_OK;
}

bool principal_body(int64_t user_id, char *out, size_t outlen)
{
    size_t i = (size_t)user_id % SLOTS;
    pthread_mutex_t *m = &locks[i % 16];
    bool ok = false;
    pthread_mutex_lock(m);
    if (slots[i].user_id == user_id && now_mono() - slots[i].loaded_at < PRINCIPAL_TTL &&
        slots[i].body[0] && strlen(slots[i].body) < outlen) {
        strcpy(out, slots[i].body);
        ok = true;
    }
    pthread_mutex_unlock(m);
    return ok;
}

void principal_invalidate(int64_t user_id)
{
    size_t i = (size_t)user_id % SLOTS;
    pthread_mutex_t *m = &locks[i % 16];
    pthread_mutex_lock(m);
    if (slots[i].user_id == user_id) slots[i].loaded_at = -1e9;
    pthread_mutex_unlock(m);
}
