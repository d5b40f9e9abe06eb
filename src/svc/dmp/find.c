/* find.c - ITI-67 Find Document References and ITI-66 Find Lists (submission sets), over the DMP's
 * document index. A search is always about one patient; each document is shown only when the
 * policy engine lets the caller see it, and the total, the pages and the links count only those:
 * a search never reveals that a hidden document exists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "base/timeutil.h"
#include "svc/dmp/dmp_internal.h"

#define DMP_FIND_MAX_PARAMS 24
#define DMP_FIND_MAX_TYPES 16

typedef struct dmp_find {
    const char *patient; /* Patient id, from patient= or patient.identifier= */
    int patient_given;
    const char *tokens[DMP_FIND_MAX_PARAMS][2]; /* (parameter, value) token filters */
    int ntokens;
    int64_t date_low[4], date_high[4]; /* date filters: [low, high] ranges to intersect */
    int ndates;
    const char *author; /* IDNPS */
    int descending;     /* _sort=-date (the default) */
    int count, offset;
} dmp_find;

/* The code part of a token value "system|code" or "code". */
static const char *dmp_token_code(const char *v)
{
    const char *bar = strchr(v, '|');
    return bar ? bar + 1 : v;
}

/* Does the comma-separated token list `values` hold `code`? */
static int dmp_token_any(const char *values, const char *code)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", values);
    for (char *save = NULL, *v = strtok_r(buf, ",", &save); v; v = strtok_r(NULL, ",", &save))
        if (!strcmp(dmp_token_code(v), code)) return 1;
    return 0;
}

/* A date parameter value: optional prefix eq/ge/gt/le/lt then a FHIR date. */
static int dmp_date_filter(dmp_find *f, const char *value, socle_err *err)
{
    if (f->ndates == 4) return socle_err_at(err, SOCLE_EINVAL, "date", "at most 4 date parameters");
    char prefix[3] = "eq";
    if (strlen(value) > 2 && value[0] >= 'a' && value[0] <= 'z') {
        memcpy(prefix, value, 2);
        value += 2;
    }
    int64_t low, high;
    if (time_parse_fhir(value, &low, &high, err))
        return socle_err_at(err, SOCLE_EINVAL, "date", "date: %s", err->msg);
    int64_t *lo = &f->date_low[f->ndates], *hi = &f->date_high[f->ndates];
    *lo = TIME_MIN_MS;
    *hi = INT64_MAX;
    if (!strcmp(prefix, "eq"))
        *lo = low, *hi = high;
    else if (!strcmp(prefix, "ge"))
        *lo = low;
    else if (!strcmp(prefix, "gt"))
        *lo = high + 1;
    else if (!strcmp(prefix, "le"))
        *hi = high;
    else if (!strcmp(prefix, "lt"))
        *hi = low - 1;
    else
        return socle_err_at(err, SOCLE_EINVAL, "date", "date: unknown prefix '%s'", prefix);
    f->ndates++;
    return 0;
}

/* Parse the ITI-67 / ITI-66 parameters. `list` selects ITI-66 (fewer parameters). */
static int dmp_find_parse(dmp_service *svc, store_conn *c, arena *a, const rest_op *op, int list, dmp_find *f,
                          socle_err *err)
{
    memset(f, 0, sizeof *f);
    f->descending = 1;
    f->count = 20;
    static const char *const tokens[] = {"status",   "type",           "category", "format",    "setting",
                                         "facility", "security-label", "code",     "identifier"};
    for (int i = 0; i < op->nparams; i++) {
        const char *name = op->params[i].name, *value = op->params[i].value ? op->params[i].value : "";
        int is_token = 0;
        for (size_t k = 0; k < sizeof tokens / sizeof tokens[0]; k++)
            is_token |= !strcmp(name, tokens[k]);
        if (!strcmp(name, "patient") || !strcmp(name, "subject")) {
            char type[64], id[128];
            const char *pid = value;
            if (strchr(value, '/')) {
                if (!fhir_reference_parse(value, type, sizeof type, id, sizeof id) || strcmp(type, "Patient"))
                    return socle_err_at(err, SOCLE_EINVAL, name, "%s must reference a Patient", name);
                pid = arena_strdup(a, id);
            }
            f->patient = pid;
            f->patient_given = 1;
        } else if (!strcmp(name, "patient.identifier") || !strcmp(name, "subject.identifier")) {
            dmp_record r;
            int rc = dmp_record_by_ins(c, dmp_token_code(value), &r, err);
            if (rc && rc != SOCLE_ENOTFOUND) return rc;
            socle_err_clear(err);
            f->patient = rc ? "" : arena_strdup(a, r.patient_id);
            f->patient_given = 1;
        } else if (is_token) {
            if (f->ntokens == DMP_FIND_MAX_PARAMS)
                return socle_err_at(err, SOCLE_EINVAL, name, "too many search parameters");
            f->tokens[f->ntokens][0] = name;
            f->tokens[f->ntokens++][1] = value;
        } else if (!strcmp(name, "date") || (!list && !strcmp(name, "creation"))) {
            if (dmp_date_filter(f, value, err)) return err->code;
        } else if (!list && !strcmp(name, "author")) {
            char type[64], id[128];
            f->author =
                fhir_reference_parse(value, type, sizeof type, id, sizeof id) ? arena_strdup(a, id) : value;
        } else if (!strcmp(name, "_sort")) {
            if (strcmp(value, "date") && strcmp(value, "-date"))
                return socle_err_at(err, SOCLE_EINVAL, "_sort", "_sort supports date and -date");
            f->descending = value[0] == '-';
        } else if (!strcmp(name, "_count") || !strcmp(name, "_offset")) {
            char *end;
            long n = strtol(value, &end, 10);
            if (*end || n < 0 || (n == 0 && name[1] == 'c'))
                return socle_err_at(err, SOCLE_EINVAL, name, "%s must be a %s integer", name,
                                    name[1] == 'c' ? "positive" : "non-negative");
            if (name[1] == 'c')
                f->count = n > 200 ? 200 : (int)n;
            else
                f->offset = n > 1000000 ? 1000000 : (int)n;
        } else if (strcmp(name, "_format") && strcmp(name, "_pretty") && !op->lenient) {
            return socle_err_at(err, SOCLE_EINVAL, name, "unknown parameter '%.64s' for %s (%s)", name,
                                op->type, list ? "ITI-66" : "ITI-67");
        }
    }
    (void)svc;
    if (!f->patient_given)
        return socle_err_at(err, SOCLE_EINVAL, "patient",
                            "%s searches need the patient (patient= or patient.identifier=system|INS)",
                            list ? "ITI-66" : "ITI-67");
    return 0;
}

static int dmp_find_matches(const dmp_find *f, const dmp_document *d)
{
    if (!strcmp(d->status, "withdrawn")) return 0;
    for (int i = 0; i < f->ntokens; i++) {
        const char *name = f->tokens[i][0], *values = f->tokens[i][1];
        const char *field = !strcmp(name, "status")     ? d->status
                            : !strcmp(name, "type")     ? d->type_code
                            : !strcmp(name, "category") ? d->class_code
                            : !strcmp(name, "format")   ? d->format_code
                            : !strcmp(name, "setting")  ? d->setting_code
                            : !strcmp(name, "facility") ? d->facility_code
                                                        : NULL;
        if (!strcmp(name, "security-label")) {
            int ok =
                (d->masked && dmp_token_any(values, "MASQUE_PS")) ||
                (d->invisible_patient && dmp_token_any(values, "INVISIBLE_PATIENT")) ||
                (d->invisible_representatives && dmp_token_any(values, "INVISIBLE_REPRESENTANTS_LEGAUX"));
            if (!ok) return 0;
        } else if (field && !dmp_token_any(values, field)) {
            return 0;
        }
    }
    for (int i = 0; i < f->ndates; i++)
        if (d->date_ms < f->date_low[i] || d->date_ms > f->date_high[i]) return 0;
    if (f->author) {
        int ok = 0;
        for (int i = 0; i < d->nauthors; i++)
            ok |= !strcmp(d->authors[i], f->author);
        if (!ok) return 0;
    }
    return 1;
}

/* The visible documents of the patient matching f, in f's order: *out (arena), *n. */
static int dmp_find_documents(dmp_view *v, store_conn *c, arena *a, const dmp_find *f, dmp_document **out,
                              size_t *n, socle_err *err)
{
    /* The patient, and the document types when the search names them (the index is patient, type,
     * date): a patient's other documents are not even read. Every other filter applies below. */
    socle_buf sql = SOCLE_BUF_INIT;
    store_value p[1 + DMP_FIND_MAX_TYPES];
    int np = 0;
    p[np++] = STORE_V_TEXT(f->patient);
    buf_printf(&sql, "SELECT %s, body FROM dmp_document WHERE patient_id = $1", dmp_document_columns);
    const char *types = NULL;
    for (int i = 0; i < f->ntokens; i++)
        if (!strcmp(f->tokens[i][0], "type")) types = types ? "" : f->tokens[i][1]; /* several: filter in C */
    char typebuf[512];
    int ntypes = types ? 1 : 0;
    for (const char *t = types; t && *t; t++)
        ntypes += *t == ',';
    if (types && *types && ntypes <= DMP_FIND_MAX_TYPES && strlen(types) < sizeof typebuf) {
        snprintf(typebuf, sizeof typebuf, "%s", types);
        buf_puts(&sql, " AND type_code IN (");
        for (char *save = NULL, *t = strtok_r(typebuf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            buf_printf(&sql, "%s$%d", np > 1 ? ", " : "", np + 1);
            p[np++] = STORE_V_TEXT(dmp_token_code(t));
        }
        buf_putc(&sql, ')');
    }
    buf_printf(&sql, " ORDER BY date_ms %s, id", f->descending ? "DESC" : "ASC");
    store_rows *r;
    int rc = buf_ok(&sql) ? store_query(c, sql.data, p, np, &r, err)
                          : socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    buf_free(&sql);
    if (rc) return rc;
    size_t cap = 16;
    *n = 0;
    *out = arena_alloc(a, sizeof **out * cap);
    dmp_document d;
    while ((rc = store_rows_next(r, err)) == 1) {
        dmp_document_from_row(r, &d);
        if (!dmp_find_matches(f, &d) || !dmp_view_may_see(v, &d)) continue;
        size_t body_len;
        const char *body = store_rows_text(r, 16, &body_len);
        d.body = body && body_len ? arena_strndup(a, body, body_len) : NULL;
        d.body_len = d.body ? body_len : 0;
        if (*n == cap) {
            dmp_document *bigger = arena_alloc(a, sizeof **out * cap * 2);
            memcpy(bigger, *out, sizeof **out * cap);
            *out = bigger;
            cap *= 2;
        }
        (*out)[(*n)++] = d;
    }
    store_rows_free(r);
    return rc < 0 ? rc : 0;
}

static void dmp_searchset_open(socle_buf *b, socle_app *app, http_request *req, const char *type,
                               const rest_op *op, size_t total, const dmp_find *f)
{
    rest_bundle_open(b, "searchset");
    buf_printf(b, ",\"total\":%zu,\"link\":[{\"relation\":\"self\",\"url\":", total);
    /* The query as received, without paging, so that next pages add their own. */
    socle_buf q;
    buf_init(&q);
    for (int i = 0; i < op->nparams; i++) {
        if (!strcmp(op->params[i].name, "_offset") || !strcmp(op->params[i].name, "_count")) continue;
        if (q.len) buf_putc(&q, '&');
        text_url_encode(&q, op->params[i].name);
        buf_putc(&q, '=');
        text_url_encode(&q, op->params[i].value ? op->params[i].value : "");
    }
    const char *query = q.len ? arena_strndup(req->arena, q.data, q.len) : "";
    buf_free(&q);
    buf_json_string(b, arena_printf(req->arena, "%s/%s?%s%s_count=%d&_offset=%d", app->fhir_base, type, query,
                                    *query ? "&" : "", f->count, f->offset));
    buf_putc(b, '}');
    if ((size_t)f->offset + (size_t)f->count < total) {
        buf_puts(b, ",{\"relation\":\"next\",\"url\":");
        buf_json_string(b, arena_printf(req->arena, "%s/%s?%s%s_count=%d&_offset=%d", app->fhir_base, type,
                                        query, *query ? "&" : "", f->count, f->offset + f->count));
        buf_putc(b, '}');
    }
    buf_putc(b, ']');
}

static void dmp_searchset_entry(socle_buf *b, socle_app *app, http_request *req, int first, const char *type,
                                const fhir_stored *s)
{
    buf_puts(b, first ? ",\"entry\":[{\"fullUrl\":" : ",{\"fullUrl\":");
    buf_json_string(b, arena_printf(req->arena, "%s/%s/%s", app->fhir_base, type, s->id));
    buf_puts(b, ",\"resource\":");
    buf_append(b, s->body, s->body_len);
    buf_puts(b, ",\"search\":{\"mode\":\"match\"}}");
}

static int dmp_empty_searchset(dmp_service *svc, http_request *req, const char *type, const rest_op *op,
                               const dmp_find *f, rest_result *res)
{
    dmp_searchset_open(&res->body, svc->app, req, type, op, 0, f);
    buf_putc(&res->body, '}');
    res->status = 200;
    return 0;
}

int dmp_find_references(dmp_service *svc, http_request *req, const auth_subject *who, store_conn *c,
                        const rest_op *op, rest_result *res)
{
    dmp_find f;
    if (dmp_find_parse(svc, c, req->arena, op, 0, &f, &res->err)) return rest_fail(res, &res->err);
    dmp_view v;
    int rc = f.patient[0] ? dmp_view_open(svc, c, req, who, f.patient, &v, res) : SOCLE_ENOTFOUND;
    if (rc == SOCLE_ENOTFOUND) return dmp_empty_searchset(svc, req, "DocumentReference", op, &f, res);
    if (rc) return rc;
    dmp_document *docs;
    size_t n;
    if (dmp_find_documents(&v, c, req->arena, &f, &docs, &n, &res->err)) return rest_fail(res, &res->err);
    socle_buf *b = &res->body;
    dmp_searchset_open(b, svc->app, req, "DocumentReference", op, n, &f);
    int first = 1;
    for (size_t i = (size_t)f.offset; i < n && i < (size_t)f.offset + (size_t)f.count; i++) {
        fhir_stored s = {.id = docs[i].id, .body = docs[i].body, .body_len = docs[i].body_len};
        /* Rows written before the index kept the body: read it from the FHIR store. */
        if (!s.body && fhir_repo_read(c, "DocumentReference", docs[i].id, 0, req->arena, &s, &res->err))
            return rest_fail(res, &res->err);
        dmp_searchset_entry(b, svc->app, req, first, "DocumentReference", &s);
        first = 0;
    }
    if (!first) buf_putc(b, ']');
    buf_putc(b, '}');
    rest_audit(svc->app, req, who, "search", "success", "DocumentReference", NULL, f.patient,
               dmp_view_detail(&v));
    res->status = 200;
    return buf_ok(b) ? 0 : rest_fail(res, &(socle_err){.code = SOCLE_ENOMEM, .msg = "out of memory"});
}

/* Does the reference name DocumentReference/id (relative, or the tail of an absolute URL)? */
static int dmp_reference_is(const char *ref, const char *id)
{
    static const char type[] = "DocumentReference/";
    size_t n = strlen(ref), k = strlen(id), t = sizeof type - 1;
    if (n < t + k || strcmp(ref + n - k, id) || strncmp(ref + n - k - t, type, t)) return 0;
    return n == t + k || ref[n - k - t - 1] == '/';
}

int dmp_list_only_visible(fhir_stored *list, const dmp_document *visible, size_t n, arena *a, socle_err *err)
{
    json_t *j = json_loadb(list->body, list->body_len, 0, NULL);
    json_t *entries = json_object_get(j, "entry");
    if (!json_is_array(entries)) {
        json_decref(j);
        return 0;
    }
    json_t *kept = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        const char *ref = json_string_value(json_object_get(json_object_get(e, "item"), "reference"));
        int show = 0;
        for (size_t k = 0; ref && k < n && !show; k++)
            show = !strcmp(visible[k].submission_set, list->id) && dmp_reference_is(ref, visible[k].id);
        if (show) json_array_append(kept, e);
    }
    if (json_array_size(kept) < json_array_size(entries)) {
        /* Its narrative and notes may speak of the documents left out. */
        json_object_del(j, "text");
        json_object_del(j, "note");
    }
    json_object_set_new(j, "entry", kept);
    socle_buf b = SOCLE_BUF_INIT;
    fhir_json_dump(j, &b);
    json_decref(j);
    char *body = buf_ok(&b) ? arena_strndup(a, b.data, b.len) : NULL;
    size_t len = b.len;
    buf_free(&b);
    if (!body) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    list->body = body;
    list->body_len = len;
    return 0;
}

/* ITI-66: the submission sets of the patient that hold at least one document the caller sees. */
int dmp_find_lists(dmp_service *svc, http_request *req, const auth_subject *who, store_conn *c,
                   const rest_op *op, rest_result *res)
{
    dmp_find f;
    if (dmp_find_parse(svc, c, req->arena, op, 1, &f, &res->err)) return rest_fail(res, &res->err);
    dmp_view v;
    int rc = f.patient[0] ? dmp_view_open(svc, c, req, who, f.patient, &v, res) : SOCLE_ENOTFOUND;
    if (rc == SOCLE_ENOTFOUND) return dmp_empty_searchset(svc, req, "List", op, &f, res);
    if (rc) return rc;
    /* Documents filter by their own metadata; the list filters (code, status, date) apply below. */
    dmp_find docs_filter = f;
    docs_filter.ntokens = 0;
    docs_filter.ndates = 0;
    dmp_document *docs;
    size_t n;
    if (dmp_find_documents(&v, c, req->arena, &docs_filter, &docs, &n, &res->err))
        return rest_fail(res, &res->err);
    const char **sets = arena_alloc(req->arena, sizeof *sets * (n ? n : 1));
    size_t nsets = 0;
    for (size_t i = 0; i < n; i++) {
        int seen = !docs[i].submission_set[0];
        for (size_t k = 0; k < nsets && !seen; k++)
            seen = !strcmp(sets[k], docs[i].submission_set);
        if (!seen) sets[nsets++] = docs[i].submission_set;
    }
    fhir_stored *lists = arena_alloc(req->arena, sizeof *lists * (nsets ? nsets : 1));
    size_t nlists = 0;
    for (size_t k = 0; k < nsets; k++) {
        fhir_stored s;
        if (fhir_repo_read(c, "List", sets[k], 0, req->arena, &s, &res->err))
            return rest_fail(res, &res->err);
        json_t *list = json_loadb(s.body, s.body_len, 0, NULL);
        dmp_document probe;
        memset(&probe, 0, sizeof probe);
        snprintf(probe.status, sizeof probe.status, "%s", json_string_value(json_object_get(list, "status")));
        const char *date = json_string_value(json_object_get(list, "date"));
        int64_t high;
        if (date) time_parse_fhir(date, &probe.date_ms, &high, &res->err);
        int ok = 1;
        for (int i = 0; i < f.ntokens && ok; i++) {
            const char *name = f.tokens[i][0], *values = f.tokens[i][1];
            if (!strcmp(name, "status"))
                ok = dmp_token_any(values, probe.status);
            else if (!strcmp(name, "code"))
                ok = dmp_token_any(values, "submissionset");
            else if (!strcmp(name, "identifier"))
                ok = 1;
        }
        for (int i = 0; i < f.ndates && ok; i++)
            ok = probe.date_ms >= f.date_low[i] && probe.date_ms <= f.date_high[i];
        json_decref(list);
        if (ok && dmp_list_only_visible(&s, docs, n, req->arena, &res->err)) return rest_fail(res, &res->err);
        if (ok) lists[nlists++] = s;
    }
    socle_buf *b = &res->body;
    dmp_searchset_open(b, svc->app, req, "List", op, nlists, &f);
    int first = 1;
    for (size_t i = (size_t)f.offset; i < nlists && i < (size_t)f.offset + (size_t)f.count; i++) {
        dmp_searchset_entry(b, svc->app, req, first, "List", &lists[i]);
        first = 0;
    }
    if (!first) buf_putc(b, ']');
    buf_putc(b, '}');
    socle_err_clear(&res->err);
    rest_audit(svc->app, req, who, "search", "success", "List", NULL, f.patient, dmp_view_detail(&v));
    res->status = 200;
    return 0;
}
