/* capability.c - the CapabilityStatement, generated from the type and search-parameter registries
 * so that it lists exactly what the server supports. */
#include <stdlib.h>
#include <string.h>

#include "base/timeutil.h"
#include "fhir/search.h"
#include "rest/rest.h"

#define SOCLE_VERSION "0.1.0"

static json_t *capability_code_list(const char *const *codes)
{
    json_t *a = json_array();
    for (int i = 0; codes[i]; i++) json_array_append_new(a, json_pack("{s:s}", "code", codes[i]));
    return a;
}

static int capability_targets(const fhir_param_def *p, const char *type)
{
    if (!p->targets) return 0;
    size_t n = strlen(type);
    for (const char *t = p->targets; *t;) {
        const char *bar = strchr(t, '|');
        size_t len = bar ? (size_t)(bar - t) : strlen(t);
        if (len == n && !strncmp(t, type, n)) return 1;
        if (!bar) break;
        t = bar + 1;
    }
    return 0;
}

static json_t *capability_resource(const fhir_type *t, const fhir_param_def *params, size_t nparams)
{
    static const char *const rw[] = {"read", "vread", "update", "delete", "history-instance", "history-type",
                                     "create", "search-type", NULL};
    static const char *const ro[] = {"read", "search-type", NULL};
    int readonly = (t->flags & FHIR_TYPE_READONLY) != 0;
    json_t *r = json_pack("{s:s, s:o, s:s, s:b, s:b, s:b, s:s, s:b, s:s}", "type", t->name, "interaction",
                          capability_code_list(readonly ? ro : rw), "versioning", readonly ? "no-version" : "versioned",
                          "readHistory", !readonly, "updateCreate", !readonly, "conditionalCreate", !readonly,
                          "conditionalRead", "not-supported", "conditionalUpdate", 0, "conditionalDelete", "not-supported");
    json_t *sp = json_array(), *inc = json_array(), *rev = json_array();
    if (!strcmp(t->name, "AuditEvent")) {
        static const char *const audit_params[][2] = {{"patient", "reference"}, {"agent", "token"}, {"date", "date"},
                                                      {"action", "token"},       {"outcome", "token"}};
        for (size_t i = 0; i < 5; i++)
            json_array_append_new(sp, json_pack("{s:s, s:s}", "name", audit_params[i][0], "type", audit_params[i][1]));
    }
    for (size_t i = 0; i < nparams; i++) {
        const fhir_param_def *p = &params[i];
        if (!strcmp(p->resource_type, t->name)) {
            json_array_append_new(sp, json_pack("{s:s, s:s}", "name", p->name, "type", fhir_param_kind_name(p->kind)));
            if (p->kind == FHIR_PARAM_REFERENCE)
                json_array_append_new(inc, json_sprintf("%s:%s", p->resource_type, p->name));
        }
        if (p->kind == FHIR_PARAM_REFERENCE && capability_targets(p, t->name))
            json_array_append_new(rev, json_sprintf("%s:%s", p->resource_type, p->name));
    }
    if (json_array_size(inc)) json_object_set(r, "searchInclude", inc);
    if (json_array_size(rev)) json_object_set(r, "searchRevInclude", rev);
    if (json_array_size(sp)) json_object_set(r, "searchParam", sp);
    json_decref(inc);
    json_decref(rev);
    json_decref(sp);
    return r;
}

int rest_capability_build(socle_app *app, socle_err *err)
{
    size_t ntypes, nparams;
    const fhir_type *types = fhir_types(&ntypes);
    const fhir_param_def *params = fhir_params(&nparams);
    char now[32];
    time_format_instant(time_now_ms(), now);
    now[10] = 0; /* the date part */
    json_t *resources = json_array();
    for (size_t i = 0; i < ntypes; i++) json_array_append_new(resources, capability_resource(&types[i], params, nparams));
    static const char *const system_interactions[] = {"transaction", "batch", "history-system", NULL};
    json_t *common = json_array();
    json_array_append_new(common, json_pack("{s:s, s:s}", "name", "_id", "type", "token"));
    json_array_append_new(common, json_pack("{s:s, s:s}", "name", "_lastUpdated", "type", "date"));
    json_t *cs = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}, s:s, s:[s, s],"
        " s:[{s:s, s:{s:b, s:[{s:[{s:s, s:s}]}], s:s}, s:o, s:o, s:o}]}",
        "resourceType", "CapabilityStatement", "id", "socle", "status", "active", "date", now, "publisher", "socle",
        "kind", "instance", "description", "socle FHIR R4 server (foundation)", "software", "name", "socle",
        "version", SOCLE_VERSION, "implementation", "description", "socle", "url", app->fhir_base, "fhirVersion",
        "4.0.1", "format", "application/fhir+json", "json", "rest", "mode", "server", "security", "cors", 0,
        "service", "coding", "system", "http://terminology.hl7.org/CodeSystem/restful-security-service", "code",
        "OAuth", "description", "Authorization: Bearer <JWT> (ES256) on every interaction but metadata", "resource",
        resources, "interaction", capability_code_list(system_interactions), "searchParam", common);
    if (!cs) return socle_err_set(err, SOCLE_EINTERNAL, "cannot build the CapabilityStatement");
    socle_buf b = SOCLE_BUF_INIT;
    fhir_json_dump(cs, &b);
    json_decref(cs);
    free(app->capability);
    app->capability = buf_take(&b, &app->capability_len);
    return app->capability ? 0 : socle_err_set(err, SOCLE_ENOMEM, "out of memory");
}
