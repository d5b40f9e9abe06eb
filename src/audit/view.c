/* view.c - the audit trail as FHIR AuditEvent resources: read by id (the sequence number) and
 * search by patient, agent, date, action, outcome, newest first with keyset paging. */
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "base/ids.h"
#include "base/text.h"
#include "base/timeutil.h"

#define VIEW_COLUMNS "seq, time_ms, " AUDIT_FIELD_COLUMNS

static const char *view_action_code(const char *a)
{
    if (!a) return "E";
    if (!strcmp(a, "create")) return "C";
    if (!strcmp(a, "read") || !strcmp(a, "vread") || !strcmp(a, "search") || !strcmp(a, "history")) return "R";
    if (!strcmp(a, "update")) return "U";
    if (!strcmp(a, "delete")) return "D";
    return "E";
}

static const char *view_rest_subtype(const char *a)
{
    static const char *const map[][2] = {{"read", "read"},     {"vread", "vread"},   {"update", "update"},
                                         {"delete", "delete"}, {"create", "create"}, {"search", "search-type"},
                                         {"history", "history-instance"}};
    for (size_t i = 0; a && i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(a, map[i][0])) return map[i][1];
    return NULL;
}

static void view_kv(socle_buf *b, const char *key, const char *value)
{
    buf_printf(b, ",\"%s\":", key);
    buf_json_string(b, value);
}

/* Render the current row (columns of VIEW_COLUMNS) as an AuditEvent. */
static void view_render(store_rows *r, socle_buf *b)
{
    const char *f[AUDIT_NFIELDS];
    for (int i = 0; i < AUDIT_NFIELDS; i++) f[i] = store_rows_text(r, 2 + i, NULL);
    const char *action = f[0], *outcome = f[1], *agent_id = f[3], *profession = f[4], *structure = f[5];
    const char *rtype = f[6], *rid = f[7], *patient = f[8], *address = f[9], *request_id = f[10], *detail = f[11];
    char when[32];
    time_format_instant(store_rows_int(r, 1), when);
    buf_printf(b, "{\"resourceType\":\"AuditEvent\",\"id\":\"%lld\",\"meta\":{\"versionId\":\"1\",\"lastUpdated\":\"%s\"}",
               (long long)store_rows_int(r, 0), when);
    buf_puts(b, ",\"type\":{\"system\":\"http://terminology.hl7.org/CodeSystem/audit-event-type\",\"code\":\"rest\","
                "\"display\":\"RESTful Operation\"}");
    const char *sub = view_rest_subtype(action);
    if (sub)
        buf_printf(b, ",\"subtype\":[{\"system\":\"http://hl7.org/fhir/restful-interaction\",\"code\":\"%s\"}]", sub);
    else if (action) {
        buf_puts(b, ",\"subtype\":[{\"system\":\"urn:socle:audit-action\",\"code\":");
        buf_json_string(b, action);
        buf_puts(b, "}]");
    }
    buf_printf(b, ",\"action\":\"%s\",\"recorded\":\"%s\"", view_action_code(action), when);
    const char *oc = outcome && !strcmp(outcome, "success") ? "0" : outcome && !strcmp(outcome, "denied") ? "4" : "8";
    buf_printf(b, ",\"outcome\":\"%s\"", oc);
    if (detail && *detail) view_kv(b, "outcomeDesc", detail);
    buf_puts(b, ",\"agent\":[{\"type\":{\"coding\":[{\"system\":\"http://dicom.nema.org/resources/ontology/DCM\","
                "\"code\":\"110153\",\"display\":\"Source Role ID\"}]}");
    if (agent_id && *agent_id) {
        buf_puts(b, ",\"who\":{\"identifier\":{\"value\":");
        buf_json_string(b, agent_id);
        buf_puts(b, "}}");
    }
    if (profession && *profession) {
        buf_puts(b, ",\"role\":[{\"coding\":[{\"system\":\"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/"
                    "TRE-G15-ProfessionSante\",\"code\":");
        buf_json_string(b, profession);
        buf_puts(b, "}]}]");
    }
    buf_puts(b, ",\"requestor\":true");
    if (address && *address) {
        buf_puts(b, ",\"network\":{\"address\":");
        buf_json_string(b, address);
        buf_puts(b, ",\"type\":\"2\"}");
    }
    buf_puts(b, "}],\"source\":{");
    if (structure && *structure) {
        buf_puts(b, "\"site\":");
        buf_json_string(b, structure);
        buf_putc(b, ',');
    }
    buf_puts(b, "\"observer\":{\"display\":\"socle\"}}");
    int first = 1;
    if (patient && *patient) {
        buf_puts(b, ",\"entity\":[{\"what\":{\"reference\":\"Patient/");
        socle_buf esc = SOCLE_BUF_INIT;
        buf_json_string(&esc, patient);
        buf_append(b, esc.data + 1, esc.len - 1);
        buf_free(&esc);
        buf_puts(b, "},\"type\":{\"system\":\"http://terminology.hl7.org/CodeSystem/audit-entity-type\",\"code\":\"1\"},"
                    "\"role\":{\"system\":\"http://terminology.hl7.org/CodeSystem/object-role\",\"code\":\"1\"}}");
        first = 0;
    }
    if (rtype && *rtype && rid && *rid) {
        buf_puts(b, first ? ",\"entity\":[" : ",");
        buf_puts(b, "{\"what\":{\"reference\":\"");
        socle_buf ref = SOCLE_BUF_INIT;
        buf_printf(&ref, "%s/%s", rtype, rid);
        socle_buf esc = SOCLE_BUF_INIT;
        buf_json_string(&esc, ref.data);
        buf_append(b, esc.data + 1, esc.len - 1);
        buf_free(&esc);
        buf_free(&ref);
        buf_puts(b, "},\"type\":{\"system\":\"http://terminology.hl7.org/CodeSystem/audit-entity-type\",\"code\":\"2\"}}");
        first = 0;
    }
    if (request_id && *request_id) {
        buf_puts(b, first ? ",\"entity\":[" : ",");
        buf_puts(b, "{\"what\":{\"identifier\":{\"system\":\"urn:socle:request-id\",\"value\":");
        buf_json_string(b, request_id);
        buf_puts(b, "}},\"type\":{\"system\":\"http://terminology.hl7.org/CodeSystem/audit-entity-type\",\"code\":\"2\"}}");
        first = 0;
    }
    if (!first) buf_putc(b, ']');
    buf_putc(b, '}');
}

/* Buckets asked for in one query, at most. */
#define VIEW_BUCKETS_MAX 32

/* One page of search results being gathered, newest first. */
typedef struct view_page {
    int count;            /* entries wanted */
    const char *base_url;
    socle_buf entries;    /* the Bundle entries rendered so far */
    int n;                /* how many */
    int64_t last;         /* seq of the last one (the next page's cursor) */
    int more;             /* a further match exists beyond count */
} view_page;

/* Run the search `where` (with its np parameters) for the rows still wanted, rendering them. p
 * has room for one more parameter (the LIMIT). */
static int view_collect(store_conn *c, const char *where, store_value *p, int np, view_page *page,
                        socle_err *err)
{
    /* The LIMIT is a parameter: one SQL text per kind of search, for the prepared statements. */
    socle_buf sql = SOCLE_BUF_INIT;
    buf_printf(&sql, "SELECT " VIEW_COLUMNS " FROM audit_event WHERE 1 = 1%s ORDER BY seq DESC LIMIT $%d",
               where ? where : "", np + 1);
    p[np] = STORE_V_INT(page->count + 1 - page->n);
    store_rows *r;
    int rc = store_query(c, sql.data, p, np + 1, &r, err);
    buf_free(&sql);
    if (rc) return rc;
    while ((rc = store_rows_next(r, err)) == 1) {
        if (page->n == page->count) {
            page->more = 1;
            break;
        }
        page->last = store_rows_int(r, 0);
        buf_puts(&page->entries, page->n++ ? "," : "");
        buf_printf(&page->entries, "{\"fullUrl\":\"%s/AuditEvent/%lld\",\"resource\":", page->base_url,
                   (long long)page->last);
        view_render(r, &page->entries);
        buf_puts(&page->entries, ",\"search\":{\"mode\":\"match\"}}");
    }
    store_rows_free(r);
    return rc < 0 ? rc : 0;
}

/* A search by patient or agent: its index leads with the bucket (see AUDIT_BUCKET), so ask for
 * the buckets from the newest down, one bucket, then 2, 4... up to VIEW_BUCKETS_MAX at a time (an
 * index seek each), until the page and the row that tells a next page exists are found, or the
 * first bucket is passed. Every query names VIEW_BUCKETS_MAX buckets (the last one repeated), so
 * that its SQL text is always the same. p has room for VIEW_BUCKETS_MAX + 1 more parameters. */
static int view_collect_by_bucket(store_conn *c, const char *where, store_value *p, int np, int64_t cursor,
                                  view_page *page, socle_err *err)
{
    store_rows *r;
    int rc = store_query(c, "SELECT seq FROM audit_head WHERE id = 1", NULL, 0, &r, err);
    if (rc) return rc;
    rc = store_rows_next(r, err);
    int64_t top = rc == 1 ? store_rows_int(r, 0) : 0;
    store_rows_free(r);
    if (rc < 0) return rc;
    if (cursor > 0 && cursor - 1 < top) top = cursor - 1;
    socle_buf bucket_where = SOCLE_BUF_INIT;
    buf_printf(&bucket_where, "%s AND seq / " AUDIT_BUCKET_SQL " IN (", where ? where : "");
    for (int i = 0; i < VIEW_BUCKETS_MAX; i++) buf_printf(&bucket_where, "%s$%d", i ? ", " : "", np + i + 1);
    buf_putc(&bucket_where, ')');
    rc = 0;
    int64_t bucket = top / AUDIT_BUCKET;
    for (int chunk = 1; bucket >= 0 && !page->more && !rc; chunk = chunk < VIEW_BUCKETS_MAX ? chunk * 2 : chunk) {
        for (int i = 0; i < VIEW_BUCKETS_MAX; i++) {
            p[np + i] = STORE_V_INT(bucket);
            if (i < chunk - 1 && bucket > 0) bucket--;
        }
        bucket--;
        rc = view_collect(c, bucket_where.data, p, np + VIEW_BUCKETS_MAX, page, err);
    }
    buf_free(&bucket_where);
    return rc;
}

int audit_read(store *s, const char *id, socle_buf *out, socle_err *err)
{
    char *end;
    long long seq = strtoll(id, &end, 10);
    if (*end || seq < 1) return socle_err_set(err, SOCLE_ENOTFOUND, "AuditEvent/%.64s is not known", id);
    store_conn *c;
    int rc = store_acquire(s, &c, err);
    if (rc) return rc;
    store_value p[1] = {STORE_V_INT(seq)};
    store_rows *r;
    rc = store_query(c, "SELECT " VIEW_COLUMNS " FROM audit_event WHERE seq = $1", p, 1, &r, err);
    if (!rc) {
        rc = store_rows_next(r, err);
        if (rc == 1) {
            view_render(r, out);
            rc = 0;
        } else if (rc == 0) {
            rc = socle_err_set(err, SOCLE_ENOTFOUND, "AuditEvent/%lld is not known", seq);
        }
        store_rows_free(r);
    }
    store_release(s, c);
    return rc;
}

int audit_search(store *s, const audit_query_param *params, int nparams, int lenient, const char *base_url,
                 socle_buf *out, socle_err *err)
{
    socle_buf where = SOCLE_BUF_INIT, self = SOCLE_BUF_INIT;
    store_value p[64 + VIEW_BUCKETS_MAX + 1];
    int np = 0, count = 50, rc = 0, by_key = 0;
    int64_t cursor = 0;
    for (int i = 0; i < nparams && !rc; i++) {
        const char *name = params[i].name, *v = params[i].value;
        if (np > 56) {
            rc = socle_err_set(err, SOCLE_EINVAL, "too many search parameters");
            break;
        }
        if (!strcmp(name, "_format") || !strcmp(name, "_pretty")) continue;
        if (!strcmp(name, "_count")) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || end == v || n < 1 || n > 100000) {
                rc = socle_err_at(err, SOCLE_EINVAL, "_count", "_count must be a positive integer");
                break;
            }
            count = n > 1000 ? 1000 : (int)n;
            continue;
        }
        if (!strcmp(name, "_cursor")) {
            char *end;
            cursor = strtoll(v, &end, 10);
            if (*end || cursor < 1) {
                rc = socle_err_at(err, SOCLE_EINVAL, "_cursor", "_cursor is not valid");
                break;
            }
            continue;
        }
        if (!strcmp(name, "patient")) {
            const char *id = !strncmp(v, "Patient/", 8) ? v + 8 : v;
            p[np] = STORE_V_TEXT(id);
            buf_printf(&where, " AND patient_id = $%d", ++np);
            by_key = 1;
        } else if (!strcmp(name, "agent")) {
            p[np] = STORE_V_TEXT(v);
            buf_printf(&where, " AND agent_id = $%d", ++np);
            by_key = 1;
        } else if (!strcmp(name, "outcome")) {
            const char *o = !strcmp(v, "0") ? "success" : !strcmp(v, "4") ? "denied" : !strcmp(v, "8") ? "failure" : v;
            p[np] = STORE_V_TEXT(o);
            buf_printf(&where, " AND outcome = $%d", ++np);
        } else if (!strcmp(name, "_id")) {
            p[np] = STORE_V_INT(strtoll(v, NULL, 10));
            buf_printf(&where, " AND seq = $%d", ++np);
        } else if (!strcmp(name, "action")) {
            static const char *const groups[][5] = {{"C", "create"}, {"R", "read", "vread", "search", "history"},
                                                    {"U", "update"}, {"D", "delete"}};
            buf_puts(&where, " AND action IN (");
            int found = 0;
            for (size_t g = 0; g < 4; g++)
                if (!strcmp(v, groups[g][0]))
                    for (int k = 1; k < 5 && groups[g][k]; k++) {
                        p[np] = STORE_V_TEXT(groups[g][k]);
                        buf_printf(&where, "%s$%d", found++ ? ", " : "", ++np);
                    }
            if (!found) {
                p[np] = STORE_V_TEXT(v);
                buf_printf(&where, "$%d", ++np);
            }
            buf_putc(&where, ')');
        } else if (!strcmp(name, "date")) {
            const char *d = v, *prefix = "eq";
            if (strlen(v) > 2 && v[0] >= 'a' && v[0] <= 'z') {
                prefix = v;
                d = v + 2;
            }
            int64_t lo, hi;
            if (time_parse_fhir(d, &lo, &hi, err)) {
                rc = socle_err_at(err, SOCLE_EINVAL, "date", "search parameter date: %s", err->msg);
                break;
            }
            int pl = np + 1, ph = np + 2;
            p[np++] = STORE_V_INT(lo);
            p[np++] = STORE_V_INT(hi);
            if (!strncmp(prefix, "eq", 2)) buf_printf(&where, " AND time_ms >= $%d AND time_ms <= $%d", pl, ph);
            else if (!strncmp(prefix, "ne", 2)) buf_printf(&where, " AND (time_ms < $%d OR time_ms > $%d)", pl, ph);
            else if (!strncmp(prefix, "gt", 2)) buf_printf(&where, " AND time_ms > $%d AND $%d = $%d", ph, pl, pl);
            else if (!strncmp(prefix, "ge", 2)) buf_printf(&where, " AND time_ms >= $%d AND $%d = $%d", pl, ph, ph);
            else if (!strncmp(prefix, "lt", 2)) buf_printf(&where, " AND time_ms < $%d AND $%d = $%d", pl, ph, ph);
            else if (!strncmp(prefix, "le", 2)) buf_printf(&where, " AND time_ms <= $%d AND $%d = $%d", ph, pl, pl);
            else {
                rc = socle_err_at(err, SOCLE_EINVAL, "date", "search parameter date: unknown prefix");
                break;
            }
        } else {
            if (!lenient) rc = socle_err_at(err, SOCLE_EINVAL, name, "unknown search parameter '%.64s' for AuditEvent", name);
            continue;
        }
        if (self.len) buf_putc(&self, '&');
        text_url_encode(&self, name);
        buf_putc(&self, '=');
        text_url_encode(&self, v);
    }
    if (rc) goto out;
    if (cursor > 0) {
        p[np] = STORE_V_INT(cursor);
        buf_printf(&where, " AND seq < $%d", ++np);
    }
    store_conn *c;
    rc = store_acquire(s, &c, err);
    if (rc) goto out;
    view_page page = {.count = count, .base_url = base_url};
    if (by_key)
        rc = view_collect_by_bucket(c, where.data, p, np, cursor, &page, err);
    else
        rc = view_collect(c, where.data, p, np, &page, err);
    store_release(s, c);
    socle_buf entries = page.entries;
    int n = page.n, more = page.more;
    int64_t last = page.last;
    if (rc) {
        buf_free(&entries);
        goto out;
    }
    char id[37], now[32];
    buf_printf(out, "{\"resourceType\":\"Bundle\",\"id\":\"%s\",\"meta\":{\"lastUpdated\":\"%s\"},\"type\":\"searchset\"",
               id_uuid(id), time_format_instant(time_now_ms(), now));
    buf_printf(out, ",\"link\":[{\"relation\":\"self\",\"url\":\"%s/AuditEvent?%s%s_count=%d\"}", base_url,
               self.data ? self.data : "", self.len ? "&" : "", count);
    if (more)
        buf_printf(out, ",{\"relation\":\"next\",\"url\":\"%s/AuditEvent?%s%s_count=%d&_cursor=%lld\"}", base_url,
                   self.data ? self.data : "", self.len ? "&" : "", count, (long long)last);
    buf_putc(out, ']');
    if (n) {
        buf_puts(out, ",\"entry\":[");
        buf_append(out, entries.data, entries.len);
        buf_putc(out, ']');
    }
    buf_putc(out, '}');
    buf_free(&entries);
out:
    buf_free(&where);
    buf_free(&self);
    return rc;
}
