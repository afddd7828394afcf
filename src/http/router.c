/* Route matching: method + path pattern with {params}. Pure, no I/O. */
#include <string.h>

#include "deliveryd/http.h"

/* Matches one pattern against path; fills params on success. */
static bool pattern_match(const char *pat, const char *path, struct route_match *m)
{
    const char *p = pat, *s = path;
    m->nparams = 0;
    while (*p && *s) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            if (!pe) return false;
            bool is_id = (size_t)(pe - p) == 3 && strncmp(p, "{id}", 4) == 0;
            const char *se = s;
            while (*se && *se != '/') se++;
            size_t len = (size_t)(se - s);
            if (len == 0 || m->nparams >= ROUTE_MAX_PARAMS) return false;
            int64_t v = 0;
            if (is_id && (!parse_i64(s, len, false, &v) || v <= 0)) return false;
            m->ids[m->nparams] = v;
            m->params[m->nparams].off = (size_t)(s - path);
            m->params[m->nparams].len = len;
            m->nparams++;
            p = pe + 1;
            s = se;
            continue;
        }
        if (*p != *s) return false;
        p++;
        s++;
    }
    return *p == '\0' && *s == '\0';
}

int router_match(const struct route *table, size_t n, const char *method, const char *path,
                 struct route_match *m)
{
    memset(m, 0, sizeof *m);
    m->index = -1;
    if (strcmp(method, "HEAD") == 0) method = "GET";
    bool path_seen = false;
    size_t alen = 0;
    for (size_t i = 0; i < n; i++) {
        struct route_match tmp;
        if (!pattern_match(table[i].pattern, path, &tmp)) continue;
        if (strcmp(table[i].method, method) == 0) {
            tmp.index = (int)i;
            memcpy(tmp.allow, m->allow, sizeof tmp.allow);
            *m = tmp;
            return MATCH_OK;
        }
        path_seen = true;
        /* collect the Allow list, each method once */
        const char *meth = table[i].method;
        size_t ml = strlen(meth);
        bool dup = false;
        for (const char *a = m->allow; *a;) {
            const char *e = strchr(a, ',');
            size_t l = e ? (size_t)(e - a) : strlen(a);
            if (l == ml && strncmp(a, meth, ml) == 0) dup = true;
            a += l;
            while (*a == ',' || *a == ' ') a++;
        }
        if (!dup && alen + ml + 3 < sizeof m->allow) {
            if (alen) {
                memcpy(m->allow + alen, ", ", 2);
                alen += 2;
            }
            memcpy(m->allow + alen, meth, ml);
            alen += ml;
            m->allow[alen] = '\0';
        }
    }
    if (path_seen) {
        if (strstr(m->allow, "GET") && alen + 6 < sizeof m->allow && !strstr(m->allow, "HEAD")) {
            memcpy(m->allow + alen, ", HEAD", 7);
            alen += 6;
        }
        if (alen + 9 < sizeof m->allow) memcpy(m->allow + alen, ", OPTIONS", 10);
        return MATCH_BAD_METHOD;
    }
    return MATCH_NOT_FOUND;
}

void route_metric_label(buf_t *b, size_t index)
{
    buf_printf(b, "route=\"%s\",method=\"%s\"", g_routes[index].pattern, g_routes[index].method);
}
