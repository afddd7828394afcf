/* deliveryd create-user --username U --role R [--full-name N] [--password P]
 * The password comes from standard input unless --password is given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/auth.h"
#include "deliveryd/cli.h"
#include "deliveryd/db.h"
#include "deliveryd/fields.h"

static void usage(void)
{
    fprintf(stderr, "usage: deliveryd create-user --username U --role admin|manager|driver "
                    "[--full-name N] [--password P]  (password from stdin otherwise)\n");
}

int cli_create_user(int argc, char **argv)
{
    const char *username = NULL, *role = NULL, *full_name = NULL, *password = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return 2;
        }
        if (strcmp(a, "--username") == 0) username = v;
        else if (strcmp(a, "--role") == 0) role = v;
        else if (strcmp(a, "--full-name") == 0) full_name = v;
        else if (strcmp(a, "--password") == 0) password = v;
        else {
            usage();
            return 2;
        }
        i++;
    }
    if (!username || !*username || !role) {
        usage();
        return 2;
    }
    if (strcmp(role, "admin") != 0 && strcmp(role, "manager") != 0 &&
        strcmp(role, "driver") != 0) {
        fprintf(stderr, "create-user: --role must be admin, manager or driver\n");
        return 2;
    }
    char line[PASSWORD_MAX_LEN + 2];
    if (!password) {
        if (!fgets(line, sizeof line, stdin)) {
            fprintf(stderr, "create-user: no password on standard input\n");
            return 2;
        }
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n') line[--n] = '\0'; /* strip one trailing newline */
        password = line;
    }
    size_t plen = strlen(password);
    if (utf8_chars(password) < PASSWORD_MIN_LEN || plen > PASSWORD_MAX_LEN) {
        fprintf(stderr, "create-user: the password must be %d to %d characters\n",
                PASSWORD_MIN_LEN, PASSWORD_MAX_LEN);
        return 2;
    }
    if (password_global_init() < 0) return 1;
    char hash[PASSWORD_HASH_LEN];
    if (password_hash(password, hash) < 0) {
        fprintf(stderr, "create-user: hashing failed\n");
        return 1;
    }
    struct db_error err;
    db_res *res =
        db_run(Q(user_create_cli)(username, hash, full_name ? full_name : username, role), &err);
    if (!res) {
        if (strcmp(err.sqlstate, "23505") == 0)
            fprintf(stderr, "create-user: username %s already exists\n", username);
        else
            fprintf(stderr, "create-user: %s\n", err.message);
        return 1;
    }
    printf("created user %s (id %s, role %s)\n", username, db_get(res, 0, 0), role);
    db_res_free(res);
    return 0;
}
