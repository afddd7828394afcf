#include "deliveryd/migrate.h"

#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/db.h"
#include "deliveryd/log.h"

#define MAX_MIGRATION_BYTES (16 * 1024 * 1024)

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    buf_t b;
    buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > MAX_MIGRATION_BYTES) {
            buf_free(&b);
            fclose(f);
            return NULL;
        }
        buf_append(&b, chunk, n);
    }
    fclose(f);
    return buf_steal(&b, len);
}

static int list_sql(const char *dir, char ***names, size_t *count)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    size_t cap = 16, n = 0;
    char **v = xmalloc(cap * sizeof *v);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".sql") != 0 || e->d_name[0] == '.') continue;
        if (n == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(v, n, sizeof *v, cmp_names);
    *names = v;
    *count = n;
    return 0;
}

static int exec_or_say(const char *sql, int n, const char *const *params, const char *what)
{
    struct db_error err;
    db_res *res = db_exec(sql, n, params, &err);
    if (!res) {
        fprintf(stderr, "migrate: %s failed: %s\n", what, err.message);
        return -1;
    }
    db_res_free(res);
    return 0;
}

int migrate_run(const char *dir)
{
    char **names = NULL;
    size_t count = 0;
    int rc = -1;
    if (list_sql(dir, &names, &count) < 0) {
        fprintf(stderr, "migrate: cannot read the migrations directory %s\n", dir);
        return -1;
    }
    /* One migrator at a time, whatever the number of hosts running it. */
    if (exec_or_say("SELECT pg_advisory_lock(727274001)", 0, NULL, "taking the lock") < 0)
        goto out;
    if (exec_or_say("CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " name text PRIMARY KEY, checksum text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())",
                    0, NULL, "creating schema_migrations") < 0)
        goto unlock;
    size_t applied = 0;
    for (size_t i = 0; i < count; i++) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path) goto unlock;
        size_t len;
        char *sql = read_file(path, &len);
        if (!sql) {
            fprintf(stderr, "migrate: cannot read %s\n", path);
            goto unlock;
        }
        unsigned char hash[crypto_hash_sha256_BYTES];
        crypto_hash_sha256(hash, (const unsigned char *)sql, len);
        char hex[2 * crypto_hash_sha256_BYTES + 1];
        hex_encode(hash, sizeof hash, hex);

        struct db_error err;
        const char *p1[] = {names[i]};
        db_res *res =
            db_exec("SELECT checksum FROM schema_migrations WHERE name = $1", 1, p1, &err);
        if (!res) {
            fprintf(stderr, "migrate: %s\n", err.message);
            free(sql);
            goto unlock;
        }
        if (db_ntuples(res) == 1) {
            bool same = strcmp(db_get(res, 0, 0), hex) == 0;
            if (!same)
                fprintf(stderr,
                        "migrate: %s was changed after it was applied (checksum %s, recorded "
                        "%s); add a new migration instead of editing an applied one\n",
                        names[i], hex, db_get(res, 0, 0));
            db_res_free(res);
            free(sql);
            if (!same) goto unlock;
            continue;
        }
        db_res_free(res);
        /* A migration may rewrite a big table: no statement timeout (the
         * pool's applies to requests). lock_timeout stays, so a migration
         * that cannot get its locks fails instead of stalling traffic. */
        if (db_exec_script("BEGIN; SET LOCAL statement_timeout = 0", &err) < 0 ||
            db_exec_script(sql, &err) < 0) {
            fprintf(stderr, "migrate: %s failed: %s (SQLSTATE %s)\n", names[i], err.message,
                    err.sqlstate);
            db_rollback();
            free(sql);
            goto unlock;
        }
        free(sql);
        const char *p2[] = {names[i], hex};
        if (exec_or_say("INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", 2, p2,
                        "recording the migration") < 0 ||
            exec_or_say("COMMIT", 0, NULL, "commit") < 0) {
            db_rollback();
            goto unlock;
        }
        fprintf(stderr, "migrate: applied %s\n", names[i]);
        applied++;
    }
    fprintf(stderr, "migrate: %zu applied, %zu already up to date\n", applied, count - applied);
    rc = 0;
unlock:
    if (exec_or_say("SELECT pg_advisory_unlock(727274001)", 0, NULL, "releasing the lock") < 0)
        rc = -1;
out:
    for (size_t i = 0; i < count; i++) free(names[i]);
    free(names);
    return rc;
}
