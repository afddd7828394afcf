/* Proof of delivery: POST/GET /orders/{id}/proof and GET /files/{id}.
 * Images are checked by their magic bytes, stored by content hash, and the
 * file rows and the proof are written by one statement. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliveryd/api.h"
#include "deliveryd/files.h"
#include "deliveryd/io.h"

#define PHOTO_MAX (5 * 1024 * 1024)
#define SIGNATURE_MAX (1024 * 1024)

static void mp_free(void *p)
{
    multipart_free(p);
}

static const char *text_part(const struct multipart *mp, const char *name)
{
    const struct multipart_part *p = multipart_get(mp, name);
    if (!p || p->len == 0 || strlen((const char *)p->data) != p->len) return NULL;
    return (const char *)p->data;
}

/* Checks and stores one image part; NULL rel when absent. -1 after a reply. */
static int store_image(struct req *r, const struct multipart *mp, const char *name,
                       bool png_only, const char **type, char *sha, char *rel, size_t rellen)
{
    const struct multipart_part *p = multipart_get(mp, name);
    *type = NULL;
    if (!p) return 0;
    *type = files_image_type(p->data, p->len);
    if (!*type || (png_only && strcmp(*type, "image/png") != 0))
        return reply_problem(r, 415, "unsupported_media_type", "%s must be %s", name,
                             png_only ? "a PNG image" : "a JPEG or PNG image");
    if (files_store(p->data, p->len, strcmp(*type, "image/png") == 0 ? "png" : "jpg", sha, rel,
                    rellen) < 0)
        return reply_problem(r, 500, "internal", "the file could not be stored");
    return 0;
}

void api_proofs_create(struct req *r)
{
    const char *ctype = req_header(r, "Content-Type");
    if (!ctype || strncasecmp(ctype, "multipart/form-data", 19) != 0) {
        reply_problem(r, 415, "unsupported_media_type", "send multipart/form-data");
        return;
    }
    static const struct multipart_field_limit fl[] = {{"photo", PHOTO_MAX},
                                                      {"signature", SIGNATURE_MAX}};
    static const struct multipart_limits lim = {PHOTO_MAX + SIGNATURE_MAX + 64 * 1024, 16, 0,
                                                4096, fl, 2};
    struct multipart *mp = NULL;
    char err[160];
    if (multipart_new(ctype, &lim, &mp, err, sizeof err) != MP_OK) {
        reply_problem(r, 400, "bad_request", "%s", err);
        return;
    }
    req_defer(r, mp_free, mp);
    int rc = multipart_feed(mp, r->body.data ? r->body.data : "", r->body.len);
    if (rc == MP_OK) rc = multipart_finish(mp);
    if (rc == MP_ERR_TOO_LARGE) {
        const char *f = multipart_error_field(mp);
        reply_problem(r, 413, "payload_too_large", "%s is too large", f ? f : "the body");
        return;
    }
    if (rc != MP_OK) {
        reply_problem(r, 400, "bad_request", "%s", multipart_error(mp));
        return;
    }
    /* the text fields through the one validator */
    json_t *obj = req_own_json(r, json_object());
    static const char *const texts[] = {"recipient_name", "notes"};
    for (int i = 0; i < 2; i++) {
        const char *v = text_part(mp, texts[i]);
        json_t *s = v ? json_string(v) : NULL; /* NULL also for invalid UTF-8 */
        if (v) json_object_set_new(obj, texts[i], s ? s : json_integer(0));
    }
    static const char *const coords[] = {"latitude", "longitude"};
    json_t *errs = json_array();
    for (int i = 0; i < 2; i++) {
        const char *v = text_part(mp, coords[i]);
        if (!v) continue;
        /* a JSON number, as in a JSON body (strtod also took "0x10") */
        json_t *n = json_loads(v, JSON_DECODE_ANY, NULL);
        if (json_is_number(n)) {
            json_object_set_new(obj, coords[i], n);
        } else {
            json_decref(n);
            fv_add_error(errs, coords[i], "must be a number");
        }
    }
    enum { F_RECIPIENT, F_NOTES, F_LATITUDE, F_LONGITUDE };
    static const struct fv_field f[] = {
        [F_RECIPIENT] = {"recipient_name", FV_STRING, FV_NULLABLE, 0, 0, 200, NULL},
        [F_NOTES] = {"notes", FV_STRING, FV_NULLABLE, 0, 0, 2000, NULL},
        [F_LATITUDE] = {"latitude", FV_NUMBER, FV_NULLABLE, -90, 90, 0, NULL},
        [F_LONGITUDE] = {"longitude", FV_NUMBER, FV_NULLABLE, -180, 180, 0, NULL},
    };
    struct fv_values v;
    fv_parse_req(r, obj, f, ARRAY_LEN(f), &v, errs);
    if (!multipart_get(mp, "photo") && !multipart_get(mp, "signature"))
        fv_add_error(errs, "photo", "a photo or a signature is required");
    if (fv_reply_errors(r, errs) < 0) return;

    /* the order must be visible and in a state that takes a proof, before
     * anything is written to disk */
    const char *order = id_text(r, r->ids[0]), *scope = scope_text(r), *own = own_driver_text(r);
    enum { ST_STATUS, ST_TAKES_PROOF, ST_ARCHIVED }; /* proof_order_status's columns */
    db_res *o = db_q_or_reply(r, Q(proof_order_status)(order, scope, own));
    if (!o) return;
    if (db_ntuples(o) == 0) {
        reply_not_found(r, "order");
        return;
    }
    if (db_get(o, 0, ST_ARCHIVED)[0] == 't') {
        reply_problem(r, 409, "conflict", "the order is archived: it takes no new proof");
        return;
    }
    if (db_get(o, 0, ST_TAKES_PROOF)[0] != 't') {
        reply_problem(r, 409, "invalid_transition", "a %s order takes no proof of delivery",
                      db_get(o, 0, ST_STATUS));
        return;
    }
    const char *ptype, *stype;
    char psha[65] = "", ssha[65] = "", prel[128] = "", srel[128] = "";
    if (store_image(r, mp, "photo", false, &ptype, psha, prel, sizeof prel) < 0 ||
        store_image(r, mp, "signature", true, &stype, ssha, srel, sizeof srel) < 0)
        return;
    const struct multipart_part *pp = multipart_get(mp, "photo");
    const struct multipart_part *sp = multipart_get(mp, "signature");
    db_res *res = db_q_or_reply(
        r, Q(proof_save)(order, scope, own,
                         ptype ? psha : NULL, ptype, ptype ? id_text(r, (int64_t)pp->len) : NULL,
                         ptype ? prel : NULL,
                         stype ? ssha : NULL, stype, stype ? id_text(r, (int64_t)sp->len) : NULL,
                         stype ? srel : NULL,
                         v.text[F_RECIPIENT], v.text[F_NOTES], v.text[F_LATITUDE],
                         v.text[F_LONGITUDE], id_text(r, r->who.user_id)));
    if (!res) return;
    if (db_ntuples(res) == 0) {
        reply_problem(r, 409, "conflict", "the order changed while uploading; retry");
        return;
    }
    reply_row_json(r, 201, res);
}

void api_proofs_get(struct req *r)
{
    db_res *res = db_q_or_reply(
        r, Q(proof_get)(id_text(r, r->ids[0]), scope_text(r), own_driver_text(r)));
    if (res) reply_row_json(r, 200, res);
}

void api_files_get(struct req *r)
{
    enum { FILE_PATH, FILE_TYPE }; /* proof_file's columns */
    db_res *res = db_q_or_reply(
        r, Q(proof_file)(id_text(r, r->ids[0]), scope_text(r), own_driver_text(r)));
    if (!res) return;
    if (db_ntuples(res) == 0) {
        reply_not_found(r, "file");
        return;
    }
    int fd = files_open(db_get(res, 0, FILE_PATH));
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) close(fd);
        reply_problem(r, 404, "not_found", "the file is missing from storage");
        return;
    }
    reply_header(r, "Cache-Control", "private, max-age=86400");
    reply_fd(r, 200,
             strcmp(db_get(res, 0, FILE_TYPE), "image/png") == 0 ? "image/png" : "image/jpeg", fd,
             (uint64_t)st.st_size);
}
