/* GET /t/{token}: the tracking page a customer opens from a text message.
 *
 * Server-rendered HTML from the statement of the JSON route (track_get in
 * sql/queries/track.sql): order number, status and its timeline, the ETA in
 * the business time zone, the driver's first name; nothing more personal.
 * Arabic (right to left) by default, English with ?lang=en or an
 * Accept-Language that prefers it. No script, no external resource (the CSP
 * forbids them), one inline style block; while the order is not terminal the
 * page refreshes itself every minute. An unknown or malformed token is a 404
 * page of the same look, never JSON. Every value from the database goes
 * through html_text(). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliveryd/api.h"

enum lang { LANG_AR, LANG_EN };

#define CSP                                                                                        \
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "              \
    "form-action 'none'; frame-ancestors 'none'"
#define TOKEN_MAX 256

/* The one escaping helper: text and attribute values alike. */
static void html_text(buf_t *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            buf_puts(b, "&amp;");
            break;
        case '<':
            buf_puts(b, "&lt;");
            break;
        case '>':
            buf_puts(b, "&gt;");
            break;
        case '"':
            buf_puts(b, "&quot;");
            break;
        case '\'':
            buf_puts(b, "&#39;");
            break;
        default:
            buf_append(b, s, 1);
        }
    }
}

/* --- language ----------------------------------------------------------------------------- */

/* The q of one Accept-Language item's parameters (";q=0.8"), 1 when absent,
 * -1 when malformed (the item is then ignored). */
static double item_q(const char *p, const char *end)
{
    double q = 1;
    while (p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        const char *e = p;
        while (e < end && *e != ';')
            e++;
        if (e - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            char tmp[16];
            size_t n = (size_t)(e - p - 2);
            while (n && (p[2 + n - 1] == ' ' || p[2 + n - 1] == '\t'))
                n--;
            if (n == 0 || n >= sizeof tmp) return -1;
            memcpy(tmp, p + 2, n);
            tmp[n] = '\0';
            char *stop;
            q = strtod(tmp, &stop);
            if (*stop || !(q >= 0 && q <= 1)) return -1;
        }
        p = e;
    }
    return q;
}

/* English when Accept-Language ranks English (en, en-US, ...) above Arabic
 * (ar, ar-KW, ...; a "*" stands for Arabic when Arabic is not named); on a
 * tie, the one listed first. Anything else, or no header: Arabic. */
static bool accept_language_prefers_en(const char *h)
{
    double en = -1, ar = -1, star = -1;
    int en_pos = 0, ar_pos = 0, star_pos = 0, pos = 0;
    const char *p = h;
    while (*p) {
        const char *e = strchr(p, ',');
        if (!e) e = p + strlen(p);
        pos++;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        const char *tag = p;
        while (p < e && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t taglen = (size_t)(p - tag);
        double q = item_q(p, e);
        size_t prim = 0;
        while (prim < taglen && tag[prim] != '-' && tag[prim] != '_')
            prim++;
        if (q >= 0) {
            if (prim == 2 && strncasecmp(tag, "en", 2) == 0 && q > en)
                en = q, en_pos = pos;
            else if (prim == 2 && strncasecmp(tag, "ar", 2) == 0 && q > ar)
                ar = q, ar_pos = pos;
            else if (taglen == 1 && tag[0] == '*' && q > star)
                star = q, star_pos = pos;
        }
        p = *e ? e + 1 : e;
    }
    if (ar < 0) ar = star, ar_pos = star_pos;
    if (en <= 0) return false;
    return en > ar || (en == ar && en_pos < ar_pos);
}

static enum lang page_lang(struct req *r)
{
    const char *q = req_query(r, "lang");
    if (q && strcasecmp(q, "en") == 0) return LANG_EN;
    if (q && strcasecmp(q, "ar") == 0) return LANG_AR;
    const char *al = req_header(r, "Accept-Language");
    return al && accept_language_prefers_en(al) ? LANG_EN : LANG_AR;
}

/* --- words -------------------------------------------------------------------------------- */

struct words {
    const char *lang, *dir, *title, *order, *eta, *driver, *timeline, *refresh, *other_lang,
        *other_href, *not_found, *not_found_hint, *comma;
    const char *months[12];
};

static const struct words g_words[2] = {
    [LANG_AR] =
        {
            .lang = "ar",
            .dir = "rtl",
            .title = "تتبع الطلب",
            .order = "طلب رقم",
            .eta = "موعد التوصيل المتوقع",
            .driver = "مندوب التوصيل",
            .timeline = "مراحل الطلب",
            .refresh = "تتحدّث هذه الصفحة تلقائياً كل دقيقة.",
            .other_lang = "English",
            .other_href = "?lang=en",
            .not_found = "لم نجد هذا الطلب",
            .not_found_hint = "تأكّد من الرابط في الرسالة النصية، أو تواصل مع الصيدلية.",
            .comma = "، ",
            .months = {"يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس",
                       "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"},
        },
    [LANG_EN] =
        {
            .lang = "en",
            .dir = "ltr",
            .title = "Order tracking",
            .order = "Order",
            .eta = "Estimated delivery",
            .driver = "Your driver",
            .timeline = "Order progress",
            .refresh = "This page refreshes itself every minute.",
            .other_lang = "العربية",
            .other_href = "?lang=ar",
            .not_found = "Order not found",
            .not_found_hint = "Check the link in your text message, or contact the pharmacy.",
            .comma = ", ",
            .months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                       "Dec"},
        },
};

static const struct {
    const char *status, *label[2];
} g_status[] = {
    {"pending", {"تم استلام طلبك", "Order received"}},
    {"assigned", {"تم تعيين مندوب التوصيل", "Driver assigned"}},
    {"picked_up", {"في الطريق إليك", "On the way"}},
    {"delivered", {"تم التوصيل", "Delivered"}},
    {"failed", {"تعذّر التوصيل", "Delivery attempt failed"}},
    {"cancelled", {"تم إلغاء الطلب", "Cancelled"}},
    {"returned", {"أُعيد الطلب إلى الصيدلية", "Returned to the pharmacy"}},
};

/* The label of a status; a status this table does not know (none today)
 * shows as it is, escaped by the caller. */
static const char *status_label(const char *status, enum lang l)
{
    for (size_t i = 0; i < ARRAY_LEN(g_status); i++)
        if (status && strcmp(g_status[i].status, status) == 0) return g_status[i].label[l];
    return status ? status : "";
}

/* "HH:MM D M" (the statement's business-time text) as "17:05, 5 Dec" /
 * "17:05، 5 ديسمبر"; false when it is not that shape. */
static bool local_time(buf_t *b, const char *s, enum lang l)
{
    int hh, mm, d, m, n = 0;
    if (!s || sscanf(s, "%2d:%2d %2d %2d%n", &hh, &mm, &d, &m, &n) != 4 || s[n] || m < 1 || m > 12)
        return false;
    buf_printf(b, "<bdi>%02d:%02d%s%d %s</bdi>", hh, mm, g_words[l].comma, d,
               g_words[l].months[m - 1]);
    return true;
}

/* --- page --------------------------------------------------------------------------------- */

static const char g_style[] =
    ":root{color-scheme:light dark;--fg:#1b1f24;--bg:#f4f6f8;--card:#fff;--muted:#5b6570;"
    "--line:#d0d7de;--accent:#0b7a53}"
    "@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--card:#161b22;"
    "--muted:#9aa4ae;--line:#30363d;--accent:#3fb950}}"
    "*{box-sizing:border-box}"
    "body{margin:0;background:var(--bg);color:var(--fg);font:18px/1.5 system-ui,-apple-system,"
    "'Segoe UI',Tahoma,'DejaVu Sans',sans-serif;-webkit-text-size-adjust:100%}"
    "main{max-width:34rem;margin:0 auto;padding:1rem}"
    ".card{background:var(--card);border-radius:14px;padding:1.1rem 1.2rem;margin:0 0 1rem;"
    "box-shadow:0 1px 3px rgba(0,0,0,.12)}"
    ".brand{color:var(--muted);font-size:1rem;margin:0 0 .25rem}"
    "h1{font-size:1.35rem;margin:0 0 .75rem;overflow-wrap:anywhere}"
    "h2{font-size:1.1rem;margin:0 0 .75rem}"
    /* its own bidi paragraph: "A-100-7" wraps as written inside Arabic text */
    ".num{display:inline-block}"
    ".status{font-size:1.7rem;font-weight:700;margin:0;color:var(--accent)}"
    ".s-failed,.s-cancelled,.s-returned{color:#c62828}"
    "dl{margin:0}dt{color:var(--muted);font-size:1rem}dd{margin:0 0 .75rem;font-size:1.25rem;"
    "font-weight:600;overflow-wrap:anywhere}dd:last-child{margin-bottom:0}"
    "ol{list-style:none;margin:0;padding:0}"
    "li{position:relative;padding-block:0 1rem;padding-inline:1.6rem 0}"
    "li::before{content:'';position:absolute;inset-inline-start:.3rem;top:.45rem;width:.75rem;"
    "height:.75rem;border-radius:50%;background:var(--line)}"
    "li::after{content:'';position:absolute;inset-inline-start:.63rem;top:1.35rem;bottom:-.1rem;"
    "width:2px;background:var(--line)}"
    "li:last-child{padding-bottom:0}li:last-child::after{display:none}"
    "li.now::before{background:var(--accent)}li.now .label{font-weight:700}"
    ".label{display:block}time{display:block;color:var(--muted);font-size:1rem}"
    ".foot{color:var(--muted);font-size:.95rem;text-align:center}"
    ".foot a{color:inherit}";

static void page_headers(struct req *r, enum lang l)
{
    reply_header(r, "Content-Security-Policy", CSP);
    reply_header(r, "Cache-Control", "no-store");
    reply_header(r, "X-Content-Type-Options", "nosniff");
    reply_header(r, "Referrer-Policy", "no-referrer");
    reply_header(r, "Vary", "Accept-Language");
    reply_header(r, "Content-Language", g_words[l].lang);
}

static void page_head(buf_t *b, enum lang l, const char *title_extra, bool refresh)
{
    const struct words *w = &g_words[l];
    buf_printf(b,
               "<!DOCTYPE html>\n<html lang=\"%s\" dir=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
               "<meta name=\"referrer\" content=\"no-referrer\">\n"
               "<meta name=\"robots\" content=\"noindex, nofollow\">\n"
               /* no request for /favicon.ico, which the CSP would refuse */
               "<link rel=\"icon\" href=\"data:,\">\n",
               w->lang, w->dir);
    if (refresh) buf_puts(b, "<meta http-equiv=\"refresh\" content=\"60\">\n");
    buf_puts(b, "<title>");
    if (title_extra) {
        html_text(b, title_extra);
        buf_puts(b, " - ");
    }
    buf_printf(b, "%s</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n", w->title, g_style);
}

static void page_foot(buf_t *b, enum lang l, bool refresh)
{
    const struct words *w = &g_words[l];
    buf_puts(b, "<p class=\"foot\">");
    if (refresh) buf_printf(b, "%s<br>", w->refresh);
    buf_printf(b,
               "<a href=\"%s\" hreflang=\"%s\" lang=\"%s\">%s</a></p>\n</main>\n</body>\n</html>\n",
               w->other_href, g_words[!l].lang, g_words[!l].lang, w->other_lang);
}

static void reply_page(struct req *r, int status, enum lang l, buf_t *b)
{
    page_headers(r, l);
    reply_bytes(r, status, "text/html; charset=utf-8", b->data, b->len);
    buf_free(b);
}

static void reply_not_found_page(struct req *r, enum lang l)
{
    const struct words *w = &g_words[l];
    buf_t b;
    buf_init(&b);
    page_head(&b, l, w->not_found, false);
    buf_printf(&b,
               "<section class=\"card\">\n<p class=\"brand\">%s</p>\n<h1>%s</h1>\n<p>%s</p>\n"
               "</section>\n",
               w->title, w->not_found, w->not_found_hint);
    page_foot(&b, l, false);
    r->error_code = "not_found";
    reply_page(r, 404, l, &b);
}

static bool token_well_formed(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > TOKEN_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && t[i] != '-' && t[i] != '_') return false;
    return true;
}

void api_track_page(struct req *r)
{
    enum lang l = page_lang(r);
    const struct words *w = &g_words[l];
    const char *token = r->params[0];
    if (!token_well_formed(token)) {
        reply_not_found_page(r, l);
        return;
    }
    db_res *res = db_q_or_reply(r, Q(track_get)(token));
    if (!res) return;
    if (db_ntuples(res) == 0 || db_isnull(res, 0, 0)) {
        reply_not_found_page(r, l);
        return;
    }
    json_t *o = req_own_json(r, json_loads(db_get(res, 0, 0), 0, NULL));
    json_t *times = req_own_json(r, json_loads(db_get(res, 0, 3), 0, NULL));
    if (!json_is_object(o)) {
        reply_problem(r, 500, "internal", "the tracking row is not a JSON object");
        return;
    }
    bool open = strcmp(db_get(res, 0, 1), "t") != 0;
    const char *number = json_string_value(json_object_get(o, "order_number"));
    const char *status = json_string_value(json_object_get(o, "status"));
    const char *driver = json_string_value(json_object_get(o, "driver_first_name"));
    const char *label = status_label(status, l);
    json_t *events = json_object_get(o, "events");

    buf_t b;
    buf_init(&b);
    buf_t title;
    buf_init(&title);
    buf_printf(&title, "%s %s", w->order, number ? number : "");
    page_head(&b, l, title.data, open);
    buf_free(&title);

    buf_printf(&b,
               "<section class=\"card\">\n<p class=\"brand\">%s</p>\n<h1>%s <bdi class=\"num\">",
               w->title, w->order);
    html_text(&b, number);
    buf_puts(&b, "</bdi></h1>\n<p class=\"status s-");
    html_text(&b, status);
    buf_puts(&b, "\" id=\"status\">");
    html_text(&b, label);
    buf_puts(&b, "</p>\n</section>\n");

    const char *eta = db_isnull(res, 0, 2) ? NULL : db_get(res, 0, 2);
    if ((eta && open) || driver) {
        buf_puts(&b, "<section class=\"card\">\n<dl>\n");
        if (eta && open) {
            buf_printf(&b, "<dt>%s</dt>\n<dd id=\"eta\">", w->eta);
            if (!local_time(&b, eta, l)) html_text(&b, eta);
            buf_puts(&b, "</dd>\n");
        }
        if (driver) {
            buf_printf(&b, "<dt>%s</dt>\n<dd id=\"driver\"><bdi>", w->driver);
            html_text(&b, driver);
            buf_puts(&b, "</bdi></dd>\n");
        }
        buf_puts(&b, "</dl>\n</section>\n");
    }

    size_t n = json_array_size(events);
    buf_printf(&b, "<section class=\"card\">\n<h2>%s</h2>\n<ol class=\"timeline\">\n", w->timeline);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(events, i);
        const char *st = json_string_value(json_object_get(e, "status"));
        const char *at = json_string_value(json_object_get(e, "at"));
        const char *when = json_string_value(json_array_get(times, i));
        buf_puts(&b, i + 1 == n ? "<li class=\"now\">" : "<li>");
        buf_puts(&b, "<span class=\"label\">");
        html_text(&b, status_label(st, l));
        buf_puts(&b, "</span><time datetime=\"");
        html_text(&b, at);
        buf_puts(&b, "\">");
        if (!local_time(&b, when, l)) html_text(&b, at);
        buf_puts(&b, "</time></li>\n");
    }
    buf_puts(&b, "</ol>\n</section>\n");
    page_foot(&b, l, open);
    reply_page(r, 200, l, &b);
}
