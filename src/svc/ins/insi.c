/* insi.c - the INSi teleservice over HTTP with JSON: POST /insi/v1/rechercher, /insi/v1/verifier,
 * and GET /insi/v1/usage (the call counters). Request and answer shapes mirror the INSi element
 * names (see ins.h and ../shared/spec/ins.md). */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "svc/ins/ins_internal.h"
#include "svc/ins/matricule.h"
#include "svc/ins/traits.h"

/* --- reading the request --- */

static const char *insi_string(const json_t *obj, const char *key, const char *where, int required, socle_err *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required) socle_err_at(err, SOCLE_EINVAL, where, "%s is required", where);
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        socle_err_at(err, SOCLE_EINVAL, where, "%s must be a non-empty string", where);
        return NULL;
    }
    return json_string_value(v);
}

/* A rule broken by a value is a 422 naming the field; the message of the check says which rule. */
static int insi_value_error(socle_err *err, const char *where)
{
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    return socle_err_at(err, SOCLE_EUNPROCESSABLE, where, "%s: %s", where, msg);
}

int ins_traits_from_json(arena *a, const json_t *traits, int need_all, ins_traits_query *q, socle_err *err)
{
    memset(q, 0, sizeof *q);
    socle_err_clear(err);
    if (!json_is_object(traits)) return socle_err_at(err, SOCLE_EINVAL, "traits", "traits must be an object");
    const char *name = insi_string(traits, "nomNaissance", "traits.nomNaissance", need_all, err);
    if (!name && err->code) return err->code;
    const char *sex = insi_string(traits, "sexe", "traits.sexe", need_all, err);
    if (!sex && err->code) return err->code;
    const char *date = insi_string(traits, "dateNaissance", "traits.dateNaissance", need_all, err);
    if (!date && err->code) return err->code;
    const char *place = insi_string(traits, "lieuNaissance", "traits.lieuNaissance", 0, err);
    if (!place && err->code) return err->code;

    const json_t *prenoms = json_object_get(traits, "prenoms");
    socle_buf first = SOCLE_BUF_INIT;
    if (prenoms) {
        if (!json_is_array(prenoms) || json_array_size(prenoms) == 0 || json_array_size(prenoms) > 10) {
            buf_free(&first);
            return socle_err_at(err, SOCLE_EINVAL, "traits.prenoms", "traits.prenoms must be an array of 1 to 10 strings");
        }
        size_t i;
        const json_t *p;
        json_array_foreach(prenoms, i, p) {
            const char *v = json_string_value(p);
            if (!v || !v[strspn(v, " \t")]) {
                /* An empty name would switch the first-name rule off: a search by three traits. */
                buf_free(&first);
                return socle_err_at(err, SOCLE_EINVAL, "traits.prenoms", "traits.prenoms must hold non-empty strings");
            }
            if (i) buf_putc(&first, ' ');
            buf_puts(&first, json_string_value(p));
        }
    } else if (need_all) {
        return socle_err_at(err, SOCLE_EINVAL, "traits.prenoms", "traits.prenoms is required");
    }

    int rc = 0;
    if (name) {
        char *out = arena_alloc(a, 104);
        if ((rc = ins_normalize_name(name, out, 104, err))) rc = insi_value_error(err, "traits.nomNaissance");
        q->birth_name = out;
    }
    if (!rc && first.len) {
        char *out = arena_alloc(a, 256);
        if ((rc = ins_normalize_first_names(first.data, out, 256, err))) rc = insi_value_error(err, "traits.prenoms");
        else if (!*out)
            rc = socle_err_at(err, SOCLE_EINVAL, "traits.prenoms", "traits.prenoms: no letter in the first names");
        q->first_names = out;
    }
    buf_free(&first);
    if (!rc && sex) {
        if ((rc = ins_check_sex(sex, err))) rc = insi_value_error(err, "traits.sexe");
        q->sex = (sex[0] == 'm' || sex[0] == 'M') ? "M" : "F";
    }
    if (!rc && date) {
        int y, m, d;
        if ((rc = ins_check_birth_date(date, &y, &m, &d, err))) rc = insi_value_error(err, "traits.dateNaissance");
        q->birth_date = date;
    }
    if (!rc && place) {
        if ((rc = ins_check_birth_place(place, err))) rc = insi_value_error(err, "traits.lieuNaissance");
        q->birth_place = place;
    }
    return rc;
}

/* --- answering --- */

static void insi_traits_json(socle_buf *b, const ins_identity *id)
{
    buf_puts(b, "{\"nomNaissance\":");
    buf_json_string(b, id->birth_name);
    buf_puts(b, ",\"prenoms\":[");
    const char *p = id->first_names;
    int first = 1;
    while (*p) {
        size_t n = strcspn(p, " ");
        if (n) {
            if (!first) buf_putc(b, ',');
            buf_json_stringn(b, p, n);
            first = 0;
        }
        p += n;
        while (*p == ' ') p++;
    }
    buf_puts(b, "],\"sexe\":");
    buf_json_string(b, id->sex);
    buf_puts(b, ",\"dateNaissance\":");
    buf_json_string(b, id->birth_date);
    if (id->birth_place[0]) {
        buf_puts(b, ",\"lieuNaissance\":");
        buf_json_string(b, id->birth_place);
    }
    buf_putc(b, '}');
}

static const char *insi_libelle(int found)
{
    return found == 0 ? "Aucune identité trouvée" : found == 1 ? "Identité trouvée" : "Plusieurs identités trouvées";
}

int ins_admit(ins_service *ins, http_request *req, http_response *res, const char *type, const char *op, auth_subject *who)
{
    if (rest_authenticate(ins->app, req, res, who)) return -1;
    auth_target t = {.resource_type = type, .operation = op};
    auth_decision d;
    auth_policy_decide(ins->app->policy, who, AUTH_ACTION_OPERATION, &t, &d);
    if (d.allowed) return 0;
    rest_audit(ins->app, req, who, op, "denied", type, NULL, NULL, d.reason);
    socle_err err;
    socle_err_set(&err, SOCLE_EFORBIDDEN, "%s is not allowed: %s", op, d.reason);
    http_respond_error(req, res, &err);
    res->log_outcome = "denied";
    return -1;
}

int ins_json_body(ins_service *ins, http_request *req, http_response *res, json_t **out)
{
    const char *ct = http_header(req, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16)) {
        http_respond_status(req, res, 415, "not-supported", "the body must be JSON (Content-Type: application/json)");
        return -1;
    }
    socle_err err;
    if (fhir_json_parse(req->body, req->body_len, &ins->app->limits, out, &err)) {
        http_respond_error(req, res, &err);
        return -1;
    }
    if (!json_is_object(*out)) {
        json_decref(*out);
        socle_err_set(&err, SOCLE_EINVAL, "the body must be a JSON object");
        http_respond_error(req, res, &err);
        return -1;
    }
    return 0;
}

static void insi_structure(const auth_subject *who, char *out, size_t n)
{
    snprintf(out, n, "%s", who->structure[0] ? who->structure : "");
}

static void insi_route_rechercher(void *ctx, http_request *req, http_response *res)
{
    ins_service *ins = ctx;
    auth_subject who;
    if (ins_admit(ins, req, res, "INSi", "insi-rechercher", &who)) return;
    json_t *body;
    if (ins_json_body(ins, req, res, &body)) return;
    socle_err err = {0};
    const json_t *traits = json_object_get(body, "traits");
    const json_t *vitale = json_object_get(body, "carteVitale");
    ins_identity found;
    ins_past past[INS_HISTORY_MAX];
    int n = 0, npast = 0;
    store_conn *c = NULL;
    if ((traits && vitale) || (!traits && !vitale)) {
        n = socle_err_set(&err, SOCLE_EINVAL, "give either traits or carteVitale");
    } else if (traits) {
        ins_traits_query q;
        n = ins_traits_from_json(req->arena, traits, 1, &q, &err);
        if (!n && !(n = store_acquire(ins->app->store, &c, &err))) n = ins_reference_search_traits(c, &q, &found, &err);
    } else {
        const char *insured = json_is_object(vitale) ? insi_string(vitale, "matriculeOuvrantDroit",
                                                                   "carteVitale.matriculeOuvrantDroit", 1, &err)
                                                     : NULL;
        const char *date = insured ? insi_string(vitale, "dateNaissance", "carteVitale.dateNaissance", 1, &err) : NULL;
        const json_t *rank = json_object_get(vitale, "rangNaissance");
        int y, m, d;
        if (!json_is_object(vitale)) n = socle_err_at(&err, SOCLE_EINVAL, "carteVitale", "carteVitale must be an object");
        else if (!insured || !date) n = err.code;
        else if (ins_matricule_check(insured, &err)) n = insi_value_error(&err, "carteVitale.matriculeOuvrantDroit");
        else if (ins_check_birth_date(date, &y, &m, &d, &err)) n = insi_value_error(&err, "carteVitale.dateNaissance");
        else if (rank && (!json_is_integer(rank) || json_integer_value(rank) < 1 || json_integer_value(rank) > 9))
            n = socle_err_at(&err, SOCLE_EINVAL, "carteVitale.rangNaissance", "carteVitale.rangNaissance must be an integer from 1 to 9");
        else if (!(n = store_acquire(ins->app->store, &c, &err)))
            n = ins_reference_search_vitale(c, insured, date, rank ? (int)json_integer_value(rank) : 0, &found, &err);
    }
    if (n == 1) { /* the person's past INS (insHistorique) */
        npast = ins_reference_history_get(c, found.matricule, past, INS_HISTORY_MAX, &err);
        if (npast < 0) n = npast;
    }
    if (c) store_release(ins->app->store, c);
    json_decref(body);
    char structure[64];
    insi_structure(&who, structure, sizeof structure);
    if (n < 0) {
        ins_usage_count(ins->usage, structure, who.sub, "rechercher", "error");
        rest_audit(ins->app, req, &who, "insi-rechercher", "failure", "INSi", NULL, NULL, socle_err_name(n));
        http_respond_error(req, res, &err);
        return;
    }
    const char *cr = n == 0 ? "01" : n == 1 ? "00" : "02";
    ins_usage_count(ins->usage, structure, who.sub, "rechercher", cr);
    char detail[48];
    snprintf(detail, sizeof detail, "cr=%s", cr);
    /* The identity found is named in the trace by its matricule: who looked whom up. */
    rest_audit(ins->app, req, &who, "insi-rechercher", "success", "INSi", n == 1 ? found.matricule : NULL, NULL, detail);
    res->content_type = "application/json";
    buf_printf(&res->body, "{\"cr\":\"%s\",\"libelle\":", cr);
    buf_json_string(&res->body, insi_libelle(n));
    if (n == 1) {
        buf_puts(&res->body, ",\"ins\":{\"matricule\":");
        buf_json_string(&res->body, found.matricule);
        buf_puts(&res->body, ",\"oid\":");
        buf_json_string(&res->body, found.oid);
        buf_puts(&res->body, "},\"insHistorique\":[");
        for (int i = 0; i < npast; i++) {
            buf_puts(&res->body, i ? ",{\"matricule\":" : "{\"matricule\":");
            buf_json_string(&res->body, past[i].matricule);
            buf_puts(&res->body, ",\"oid\":");
            buf_json_string(&res->body, past[i].oid);
            buf_putc(&res->body, '}');
        }
        buf_puts(&res->body, "],\"traits\":");
        insi_traits_json(&res->body, &found);
    }
    buf_putc(&res->body, '}');
}

static void insi_route_verifier(void *ctx, http_request *req, http_response *res)
{
    ins_service *ins = ctx;
    auth_subject who;
    if (ins_admit(ins, req, res, "INSi", "insi-verifier", &who)) return;
    json_t *body;
    if (ins_json_body(ins, req, res, &body)) return;
    socle_err err = {0};
    const json_t *insj = json_object_get(body, "ins");
    const char *matricule = NULL, *oid = NULL;
    ins_traits_query q;
    ins_identity ref;
    char active[16] = "";
    int rc = 0, found = 0, is_past = 0;
    if (!json_is_object(insj)) rc = socle_err_at(&err, SOCLE_EINVAL, "ins", "ins (matricule and oid) is required");
    if (!rc && !(matricule = insi_string(insj, "matricule", "ins.matricule", 1, &err))) rc = err.code;
    if (!rc && !(oid = insi_string(insj, "oid", "ins.oid", 1, &err))) rc = err.code;
    if (!rc && ins_matricule_check(matricule, &err)) rc = insi_value_error(&err, "ins.matricule");
    if (!rc && !ins_oid_known(oid))
        rc = socle_err_at(&err, SOCLE_EUNPROCESSABLE, "ins.oid", "ins.oid is not an INS identifier system (NIR, NIA, test or demo OID)");
    if (!rc) rc = ins_traits_from_json(req->arena, json_object_get(body, "traits"), 1, &q, &err);
    store_conn *c = NULL;
    if (!rc && !(rc = store_acquire(ins->app->store, &c, &err))) {
        /* A past INS of someone is not an active identity: its traits are compared with the
         * active one's, and "matricule" differs. */
        is_past = ins_reference_active_of(c, matricule, active, &err);
        if (is_past < 0) rc = is_past;
        else found = ins_reference_get(c, is_past ? active : matricule, &ref, &err);
        if (!rc && found < 0) rc = found;
        store_release(ins->app->store, c);
    }
    char structure[64];
    insi_structure(&who, structure, sizeof structure);
    if (rc) {
        ins_usage_count(ins->usage, structure, who.sub, "verifier", "error");
        rest_audit(ins->app, req, &who, "insi-verifier", "failure", "INSi", NULL, NULL, socle_err_name(rc));
        http_respond_error(req, res, &err);
        json_decref(body);
        return;
    }
    /* The traits that differ from the reference; an unknown matricule or OID differs on "ins"; a
     * past matricule of the person differs on "matricule" (then the traits are the active INS's). */
    const char *gaps[7];
    int ngaps = 0;
    if (is_past) gaps[ngaps++] = "matricule";
    if (!is_past && (!found || strcmp(ref.oid, oid))) {
        gaps[ngaps++] = "ins";
    } else if (found) {
        if (strcmp(q.birth_name, ref.birth_name)) gaps[ngaps++] = "nomNaissance";
        if (!ins_first_names_all_in_list(q.first_names, ref.first_names)) gaps[ngaps++] = "prenoms";
        if (strcmp(q.sex, ref.sex)) gaps[ngaps++] = "sexe";
        if (!ins_birth_dates_match(q.birth_date, ref.birth_date)) gaps[ngaps++] = "dateNaissance";
        if (q.birth_place && ref.birth_place[0] && strcmp(q.birth_place, ref.birth_place)) gaps[ngaps++] = "lieuNaissance";
    }
    const char *result = ngaps ? "ecart" : "conforme";
    ins_usage_count(ins->usage, structure, who.sub, "verifier", result);
    rest_audit(ins->app, req, &who, "insi-verifier", "success", "INSi", found ? matricule : NULL, NULL, result);
    res->content_type = "application/json";
    buf_printf(&res->body, "{\"conforme\":%s,\"ecarts\":[", ngaps ? "false" : "true");
    for (int i = 0; i < ngaps; i++) buf_printf(&res->body, "%s\"%s\"", i ? "," : "", gaps[i]);
    buf_puts(&res->body, "]}");
    json_decref(body); /* matricule and oid pointed into it */
}

/* GET /insi/v1/usage[?day=YYYY-MM-DD]: the counters (admin and auditor roles). */
static void insi_route_usage(void *ctx, http_request *req, http_response *res)
{
    ins_service *ins = ctx;
    auth_subject who;
    if (ins_admit(ins, req, res, "INSi", "insi-usage", &who)) return;
    socle_err err = {0};
    const char *day = http_query(req, "day");
    if (day && (strlen(day) != 10 || day[4] != '-' || day[7] != '-')) {
        socle_err_at(&err, SOCLE_EINVAL, "day", "day must be YYYY-MM-DD");
        http_respond_error(req, res, &err);
        return;
    }
    int rc = ins_usage_flush(ins->usage, &err);
    store_conn *c = NULL;
    store_rows *r = NULL;
    store_value p = STORE_V_TEXT(day ? day : "");
    if (!rc) rc = store_acquire(ins->app->store, &c, &err);
    if (!rc)
        rc = store_query(c,
                         "SELECT day, structure, user_id, operation, result, calls FROM ins_insi_usage"
                         " WHERE $1 = '' OR day = $1 ORDER BY day, structure, user_id, operation, result",
                         &p, 1, &r, &err);
    res->content_type = "application/json";
    buf_puts(&res->body, "{\"usage\":[");
    int n = 0;
    while (!rc && (rc = store_rows_next(r, &err)) == 1) {
        static const char *const keys[] = {"jour", "structure", "utilisateur", "operation", "resultat"};
        buf_puts(&res->body, n++ ? ",{" : "{");
        for (int i = 0; i < 5; i++) {
            buf_printf(&res->body, "\"%s\":", keys[i]);
            buf_json_string(&res->body, store_rows_text(r, i, NULL));
            buf_putc(&res->body, ',');
        }
        buf_printf(&res->body, "\"appels\":%lld}", (long long)store_rows_int(r, 5));
        rc = 0;
    }
    if (r) store_rows_free(r);
    if (c) store_release(ins->app->store, c);
    if (rc < 0) {
        buf_reset(&res->body);
        http_respond_error(req, res, &err);
        return;
    }
    buf_puts(&res->body, "]}");
}

int ins_register(ins_service *ins, http_router *router)
{
    int rc = http_route(router, "POST", "/insi/v1/rechercher", "insi.rechercher", insi_route_rechercher, ins);
    if (!rc) rc = http_route(router, "POST", "/insi/v1/verifier", "insi.verifier", insi_route_verifier, ins);
    if (!rc) rc = http_route(router, "GET", "/insi/v1/usage", "insi.usage", insi_route_usage, ins);
    /* The teleservice only reads (its audit events and counters are queued). */
    if (!rc) rc = http_route_pool(router, "insi.rechercher", 0);
    if (!rc) rc = http_route_pool(router, "insi.verifier", 0);
    if (!rc) rc = ins_register_civ(ins, router);
    return rc;
}
