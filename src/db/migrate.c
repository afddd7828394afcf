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

static int exec_or_say(enum query_id q, int n, const char *const *params, const char *what)
{
    struct db_error err;
    db_res *res = db_run(q, n, params, &err);
    if (!res) {
        fprintf(stderr, "migrate: %s failed: %s\n", what, err.message);
        return -1;
    }
    db_res_free(res);
    return 0;
}

/* A file's text and its SHA-256 in hex; NULL (after a message) when it
 * cannot be read. */
static char *read_with_checksum(const char *dir, const char *name,
                                char hex[2 * crypto_hash_sha256_BYTES + 1])
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        fprintf(stderr, "migrate: path too long: %s/%s\n", dir, name);
        return NULL;
    }
    size_t len;
    char *sql = read_file(path, &len);
    if (!sql) {
        fprintf(stderr, "migrate: cannot read %s\n", path);
        return NULL;
    }
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(hash, (const unsigned char *)sql, len);
    hex_encode(hash, sizeof hash, hex);
    return sql;
}

/* The recorded checksum of `name` (statement q: the numbered or the
 * repeatable table's): 1 with *recorded set (caller frees), 0 when not recorded,
 * -1 on a database error (printed). */
static int recorded_checksum(enum query_id q, const char *name, char **recorded)
{
    struct db_error err;
    const char *p[] = {name};
    db_res *res = db_run(q, 1, p, &err);
    if (!res) {
        fprintf(stderr, "migrate: reading %s: %s\n", g_queries[q].name, err.message);
        return -1;
    }
    int found = db_ntuples(res) == 1;
    if (found) *recorded = xstrdup(db_get(res, 0, 0));
    db_res_free(res);
    return found;
}

/* Runs one file in its own transaction and records it with statement
 * `record` ($1 name, $2 checksum) before the commit. A migration may rewrite a big
 * table: no statement timeout (the pool's applies to requests).
 * lock_timeout stays, so a file that cannot get its locks fails instead of
 * stalling traffic. */
static int apply_file(const char *dir, const char *name, const char *sql, const char *hex,
                      enum query_id record)
{
    struct db_error err;
    if (db_exec_script("BEGIN; SET LOCAL statement_timeout = 0", &err) < 0 ||
        db_exec_script(sql, &err) < 0) {
        fprintf(stderr, "migrate: %s/%s failed: %s (SQLSTATE %s)\n", dir, name, err.message,
                err.sqlstate);
        db_rollback();
        return -1;
    }
    const char *p[] = {name, hex};
    if (exec_or_say(record, 2, p, "recording the file") < 0) {
        db_rollback();
        return -1;
    }
    db_res *done = db_exec("COMMIT", 0, NULL, &err);
    if (!done) {
        fprintf(stderr, "migrate: %s/%s: commit failed: %s\n", dir, name, err.message);
        db_rollback();
        return -1;
    }
    db_res_free(done);
    return 0;
}

/* The numbered migrations: each applied once, in name order; an applied
 * file that changed stops everything. *applied counts the files run now. */
static int run_numbered(const char *dir, char **names, size_t count, size_t *applied)
{
    if (exec_or_say(Q(migrate_numbered_table)(), "creating schema_migrations") < 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        char hex[2 * crypto_hash_sha256_BYTES + 1];
        char *sql = read_with_checksum(dir, names[i], hex);
        if (!sql) return -1;
        char *recorded = NULL;
        int found = recorded_checksum(Q_migrate_numbered_checksum, names[i], &recorded);
        if (found != 0) {
            bool same = found == 1 && strcmp(recorded, hex) == 0;
            if (found == 1 && !same)
                fprintf(stderr,
                        "migrate: %s was changed after it was applied (checksum %s, recorded "
                        "%s); add a new migration instead of editing an applied one\n",
                        names[i], hex, recorded);
            free(recorded);
            free(sql);
            if (!same) return -1;
            continue;
        }
        int rc = apply_file(dir, names[i], sql, hex, Q_migrate_numbered_record);
        free(sql);
        if (rc < 0) return -1;
        fprintf(stderr, "migrate: applied %s\n", names[i]);
        (*applied)++;
    }
    return 0;
}

/* The repeatable files (sql/schema): in name order, each whose checksum
 * differs from the recorded one, or every one when `all` (a numbered
 * migration ran in this run and may have dropped what they define). */
static int run_repeatable(const char *dir, char **names, size_t count, bool all, size_t *applied)
{
    if (exec_or_say(Q(migrate_repeatable_table)(), "creating schema_repeatable") < 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        char hex[2 * crypto_hash_sha256_BYTES + 1];
        char *sql = read_with_checksum(dir, names[i], hex);
        if (!sql) return -1;
        char *recorded = NULL;
        int found = recorded_checksum(Q_migrate_repeatable_checksum, names[i], &recorded);
        bool same = found == 1 && strcmp(recorded, hex) == 0;
        free(recorded);
        if (found < 0 || (same && !all)) {
            free(sql);
            if (found < 0) return -1;
            continue;
        }
        int rc = apply_file(dir, names[i], sql, hex, Q_migrate_repeatable_record);
        free(sql);
        if (rc < 0) {
            fprintf(stderr,
                    "migrate: stopped at %s/%s: the schema files before it are applied, it "
                    "and the ones after are not; fix it and run migrate again\n",
                    dir, names[i]);
            return -1;
        }
        fprintf(stderr, "migrate: applied %s/%s%s\n", dir, names[i],
                same ? " (unchanged, re-applied after a numbered migration)" : "");
        (*applied)++;
    }
    return 0;
}

int migrate_run(const char *dir, const char *schema_dir)
{
    char **names = NULL, **rnames = NULL;
    size_t count = 0, rcount = 0;
    int rc = -1;
    if (list_sql(dir, &names, &count) < 0) {
        fprintf(stderr, "migrate: cannot read the migrations directory %s (MIGRATIONS_DIR)\n", dir);
        return -1;
    }
    /* Both directories are read before anything changes: a release
     * without its schema files must not half-migrate. */
    if (list_sql(schema_dir, &rnames, &rcount) < 0) {
        fprintf(stderr,
                "migrate: cannot read the schema directory %s (SCHEMA_DIR; default: "
                "sql/schema beside MIGRATIONS_DIR)\n",
                schema_dir);
        goto out;
    }
    /* One migrator at a time, whatever the number of hosts running it. */
    if (exec_or_say(Q(migrate_lock)(), "taking the lock") < 0)
        goto out;
    size_t applied = 0, rapplied = 0;
    if (run_numbered(dir, names, count, &applied) < 0) goto unlock;
    fprintf(stderr, "migrate: %zu applied, %zu already up to date\n", applied, count - applied);
    if (run_repeatable(schema_dir, rnames, rcount, applied > 0, &rapplied) < 0) goto unlock;
    fprintf(stderr, "migrate: %zu schema files applied, %zu unchanged\n", rapplied,
            rcount - rapplied);
    rc = 0;
unlock:
    if (exec_or_say(Q(migrate_unlock)(), "releasing the lock") < 0)
        rc = -1;
out:
    for (size_t i = 0; i < count; i++) free(names[i]);
    free(names);
    for (size_t i = 0; i < rcount; i++) free(rnames[i]);
    free(rnames);
    return rc;
}
