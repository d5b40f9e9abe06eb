/* search.c - FHIR search: parse the parameters into SQL over the index tables, run it with keyset
 * paging, then add _include / _revinclude resources (semantics in search.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/ids.h"
#include "base/text.h"
#include "base/timeutil.h"
#include "crypto/crypto.h"
#include "fhir/fhir.h"
#include "fhir/search.h"

#define SEARCH_MAX_PARAMS 256
#define SEARCH_TOP_STRING "\xf4\x8f\xbf\xbf" /* U+10FFFF: sorts after every folded string */

/* A chained parameter's condition on one target type (search_chain_clause). */
typedef struct search_chain_target {
    int type_param;              /* bound target type */
    const fhir_param_def *def;   /* the chained parameter on that type; NULL for `_id` */
    int name_param;              /* bound def->name */
    const char *values;          /* "(<cond> OR ...)" on def's index table; for `_id`: "$a, $b" */
} search_chain_target;

typedef struct search_chain {
    int ref_param;               /* bound name of the reference parameter */
    int ntargets;
    search_chain_target targets[16];
} search_chain;

/* A parameter's condition on its index table (or a chain's), kept until every parameter is read
 * (search_lead, search_checks). */
typedef struct search_clause {
    const fhir_param_def *def;   /* NULL: a chain */
    const search_chain *chain;
    const char *values;          /* "(<cond> OR ...)" */
    int rank;                    /* search_value_rank: the lowest starts the search */
    int fixed;                   /* leading key columns of the index that a single value sets by equality */
} search_clause;

typedef struct search_include {
    const char *source_type;     /* the type holding the reference */
    const char *param;
    const char *target_type;     /* NULL = any */
    int reverse;
} search_include;

struct fhir_search {
    const char *type;
    socle_buf where;             /* " AND ..." clauses */
    store_value params[SEARCH_MAX_PARAMS];
    int nparams;
    int count;
    int summary_count;
    int descending;
    fhir_param_kind sort_kind;   /* 0: r.id or r.last_updated */
    const char *sort_param;      /* NULL: by id; "_lastUpdated"; or a parameter name */
    const char *cursor[4];       /* _cursor: the last row's key columns, then its id */
    const uint8_t *cursor_key;   /* fhir_search_options.cursor_key */
    const char *cursor_text;     /* _cursor as received */
    int ncursor;
    search_include includes[16];
    int nincludes;
    socle_buf self;              /* canonical query without _count/_cursor */
    const char *where_sql;       /* `where` and `self` moved into the arena once parsed */
    const char *self_sql;
    const char **ignored;
    int nignored;
    search_clause *clauses;
    int nclauses;
    int listed;                  /* _id lists the candidate ids */
    arena *a;
};

static int search_bind(fhir_search *s, store_value v)
{
    if (s->nparams == SEARCH_MAX_PARAMS) return -1;
    s->params[s->nparams++] = v;
    return s->nparams;
}

static int search_bind_text(fhir_search *s, const char *v)
{
    return search_bind(s, STORE_V_TEXT(arena_strdup(s->a, v)));
}

/* Split a value on unescaped commas (\, is a literal comma). */
static int search_split(arena *a, const char *value, char **out, int max)
{
    int n = 0;
    socle_buf cur = SOCLE_BUF_INIT;
    for (const char *p = value;; p++) {
        if (*p == '\\' && (p[1] == ',' || p[1] == '\\' || p[1] == '|' || p[1] == '$')) {
            buf_putc(&cur, *++p);
        } else if (*p == ',' || !*p) {
            if (n < max) out[n++] = arena_strdup(a, cur.data ? cur.data : "");
            buf_reset(&cur);
            if (!*p) break;
        } else {
            buf_putc(&cur, *p);
        }
    }
    buf_free(&cur);
    return n;
}

static const char *search_date_prefix(const char *v, const char **rest)
{
    static const char *const prefixes[] = {"eq", "ne", "gt", "lt", "ge", "le", NULL};
    for (int i = 0; prefixes[i]; i++)
        if (!strncmp(v, prefixes[i], 2) && v[2] >= '0' && v[2] <= '9') {
            *rest = v + 2;
            return prefixes[i];
        }
    *rest = v;
    return "eq";
}

/* Date condition on columns lowcol/highcol against the search value's range. */
static int search_date_cond(fhir_search *s, socle_buf *w, const char *name, const char *v, const char *lowcol,
                            const char *highcol, socle_err *err)
{
    const char *rest;
    const char *prefix = search_date_prefix(v, &rest);
    int64_t lo, hi;
    if (time_parse_fhir(rest, &lo, &hi, err))
        return socle_err_at(err, SOCLE_EINVAL, name, "search parameter %s: %s", name, err->msg);
    /* Bind only the bounds a prefix uses: PostgreSQL cannot type a parameter the SQL never reads. */
    if (s->nparams > SEARCH_MAX_PARAMS - 2) return socle_err_set(err, SOCLE_EINVAL, "too many search values");
    if (!strcmp(prefix, "eq") || !strcmp(prefix, "ne")) {
        /* "lowcol <= hi" follows from the rest (low <= high), but bounds the index range on low:
         * without it an eq search read every entry from lo to the end of the index. */
        int pl = search_bind(s, STORE_V_INT(lo)), ph = search_bind(s, STORE_V_INT(hi));
        buf_printf(w, "%s(%s >= $%d AND %s <= $%d AND %s <= $%d)", prefix[0] == 'n' ? "NOT " : "", lowcol, pl,
                   lowcol, ph, highcol, ph);
    } else if (!strcmp(prefix, "gt"))
        buf_printf(w, "(%s > $%d)", highcol, search_bind(s, STORE_V_INT(hi)));
    else if (!strcmp(prefix, "lt"))
        buf_printf(w, "(%s < $%d)", lowcol, search_bind(s, STORE_V_INT(lo)));
    else if (!strcmp(prefix, "ge"))
        buf_printf(w, "(%s >= $%d)", highcol, search_bind(s, STORE_V_INT(lo)));
    else
        buf_printf(w, "(%s <= $%d)", lowcol, search_bind(s, STORE_V_INT(hi)));
    return 0;
}

/* The exclusive upper bound of the strings starting with prefix: increment its last byte. */
static char *search_prefix_end(arena *a, const char *prefix)
{
    size_t n = strlen(prefix);
    char *end = arena_strndup(a, prefix, n);
    while (n > 0 && (unsigned char)end[n - 1] == 0xff) end[--n] = 0;
    if (n == 0) return NULL;
    end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
    return end;
}

/* How many index rows a value of def usually selects, in order: 1, an identifier, a system|code, a
 * reference or an exact string; 2, a date; 3, the start of a string; 4, a code without its system
 * (status=current, gender=female: codes of small sets), a system alone, or a code of an element with
 * an implicit code system (gender); 5, a date range, a negation, a substring. Ties go to the
 * parameter given first. */
static int search_value_rank(const fhir_param_def *def, const char *modifier, const char *v)
{
    switch (def->kind) {
    case FHIR_PARAM_TOKEN: {
        const char *bar = strchr(v, '|');
        if (def->targets) return 4;
        if (bar) return bar[1] && bar != v ? 1 : 4;
        return strstr(def->name, "identifier") ? 1 : 4;
    }
    case FHIR_PARAM_STRING:
        return modifier && !strcmp(modifier, "exact") ? 1 : modifier && !strcmp(modifier, "contains") ? 5 : 3;
    case FHIR_PARAM_DATE: {
        const char *rest;
        return strcmp(search_date_prefix(v, &rest), "eq") ? 5 : 2;
    }
    default:
        return 1;
    }
}

static const char *const search_tables[] = {"", "fhir_index_token", "fhir_index_string", "fhir_index_date",
                                            "fhir_index_reference"};

/* search_param_values - append to w "(<cond> OR <cond> ...)": the index rows of parameter def that
 * match value (comma = OR), in the columns of its index table (unqualified: they name the innermost
 * index table of the SQL around them). name is the parameter as received, for error messages. *rank
 * (if not NULL) says how few rows such a condition usually selects, for the choice of the clause a
 * search starts from (see search_lead); *fixed (if not NULL) how many leading key columns
 * of the index (search_keys) a single value sets by equality. */
static int search_param_values(fhir_search *s, socle_buf *w, const fhir_param_def *def, const char *name,
                               const char *modifier, const char *value, int *rank, int *fixed, socle_err *err)
{
    char *values[64];
    int nv = search_split(s->a, value, values, 64);
    if (nv == 0 || (nv == 1 && !*values[0]))
        return socle_err_at(err, SOCLE_EINVAL, name, "search parameter %s has no value", name);
    if (s->nparams >= SEARCH_MAX_PARAMS - 6) return socle_err_set(err, SOCLE_EINVAL, "too many search values");
    int worst = 0, equal = 0;
    buf_putc(w, '(');
    for (int i = 0; i < nv; i++) {
        const char *v = values[i];
        int r = rank ? search_value_rank(def, modifier, v) : 0;
        if (r > worst) worst = r;
        if (i) buf_puts(w, " OR ");
        if (def->kind == FHIR_PARAM_TOKEN) {
            const char *bar = strchr(v, '|');
            if (bar && (strchr(bar + 1, '|') || (bar == v && !bar[1])))
                return socle_err_at(err, SOCLE_EINVAL, name, "search parameter %s: a token is [system]|code", name);
            if (!bar) {
                buf_printf(w, "code = $%d", search_bind_text(s, v));
                equal = 1;
            } else if (bar[1] == 0) {
                buf_printf(w, "system = $%d", search_bind(s, STORE_V_TEXT(arena_strndup(s->a, v, (size_t)(bar - v)))));
            } else {
                int ps = search_bind(s, STORE_V_TEXT(arena_strndup(s->a, v, (size_t)(bar - v))));
                buf_printf(w, "(code = $%d AND system = $%d)", search_bind_text(s, bar + 1), ps);
                equal = 2;
            }
        } else if (def->kind == FHIR_PARAM_STRING) {
            /* A name or an address, not a document: past this SQLite would refuse the pattern. */
            if (strlen(v) > 2048)
                return socle_err_at(err, SOCLE_EINVAL, name, "search parameter %s: a string of at most 2048 bytes", name);
            socle_buf f = SOCLE_BUF_INIT;
            text_fold(&f, v, strlen(v));
            const char *folded = arena_strdup(s->a, f.data ? f.data : "");
            buf_free(&f);
            if (modifier && !strcmp(modifier, "exact")) {
                /* The exact value folds to its norm: the index finds it by norm. */
                int pn = search_bind_text(s, folded);
                buf_printf(w, "(norm = $%d AND exact = $%d)", pn, search_bind_text(s, v));
                equal = 1;
            } else if (modifier && !strcmp(modifier, "contains")) {
                socle_buf like = SOCLE_BUF_INIT;
                buf_putc(&like, '%');
                for (const char *p = folded; *p; p++) {
                    if (*p == '%' || *p == '_' || *p == '\\') buf_putc(&like, '\\');
                    buf_putc(&like, *p);
                }
                buf_putc(&like, '%');
                buf_printf(w, "norm LIKE $%d ESCAPE '\\'", search_bind_text(s, like.data));
                buf_free(&like);
            } else {
                char *end = search_prefix_end(s->a, folded);
                int p1 = search_bind(s, STORE_V_TEXT(folded));
                if (end)
                    buf_printf(w, "(norm >= $%d AND norm < $%d)", p1, search_bind(s, STORE_V_TEXT(end)));
                else
                    buf_printf(w, "norm >= $%d", p1);
            }
        } else if (def->kind == FHIR_PARAM_DATE) {
            int rc = search_date_cond(s, w, name, v, "low", "high", err);
            if (rc) return rc;
        } else {
            char ref_type[64], id[128];
            const char *target = modifier;
            if (fhir_reference_parse(v, ref_type, sizeof ref_type, id, sizeof id)) {
                buf_printf(w, "(target_id = $%d AND target_type = $%d)", search_bind_text(s, id),
                           search_bind_text(s, ref_type));
                equal = 2;
            } else if (strchr(v, '/')) {
                return socle_err_at(err, SOCLE_EINVAL, name, "search parameter %s: '%s' is not a reference", name, v);
            } else if (target) {
                buf_printf(w, "(target_id = $%d AND target_type = $%d)", search_bind_text(s, v),
                           search_bind_text(s, target));
                equal = 2;
            } else {
                buf_printf(w, "target_id = $%d", search_bind_text(s, v));
                equal = 1;
            }
        }
        if (s->nparams >= SEARCH_MAX_PARAMS - 4) return socle_err_set(err, SOCLE_EINVAL, "too many search values");
    }
    buf_putc(w, ')');
    if (rank) *rank = worst;
    if (fixed) *fixed = nv == 1 ? equal : 0;
    return 0;
}

static int search_is_target(const fhir_param_def *def, const char *type);

static int search_include_parse(fhir_search *s, const char *name, const char *value, int reverse, socle_err *err)
{
    char *copy = arena_strdup(s->a, value);
    char *parts[3] = {0};
    int n = 0;
    for (char *save = NULL, *p = strtok_r(copy, ":", &save); p && n < 3; p = strtok_r(NULL, ":", &save)) parts[n++] = p;
    const fhir_param_def *def = n >= 2 ? fhir_param_find(parts[0], parts[1]) : NULL;
    if (!def || def->kind != FHIR_PARAM_REFERENCE || (!reverse && strcmp(parts[0], s->type)))
        return socle_err_at(err, SOCLE_EINVAL, name, "%s=%s: expected %s:param with a declared reference parameter",
                            name, value, reverse ? "SourceType" : s->type);
    /* The target type names where the reference points: a declared target, and for _revinclude the
     * type searched (Practitioner?_revinclude=Consent:patient matches no Practitioner). */
    const char *target = n == 3 ? parts[2] : NULL, *points_to = reverse ? s->type : target;
    if (def->targets && ((reverse && target && strcmp(target, s->type)) || (points_to && !search_is_target(def, points_to))))
        return socle_err_at(err, SOCLE_EINVAL, name, "%s=%s: %s:%s does not point to %s", name, value, parts[0],
                            parts[1], points_to ? points_to : target);
    if (s->nincludes == 16) return socle_err_set(err, SOCLE_EINVAL, "too many _include/_revinclude");
    s->includes[s->nincludes++] = (search_include){parts[0], def->name, target, reverse};
    return 0;
}

/* 1 if type is one of the declared targets of a reference parameter. */
static int search_is_target(const fhir_param_def *def, const char *type)
{
    size_t n = strlen(type);
    for (const char *t = def->targets; t && *t;) {
        const char *bar = strchr(t, '|');
        size_t len = bar ? (size_t)(bar - t) : strlen(t);
        if (len == n && !strncmp(t, type, n)) return 1;
        t = bar ? bar + 1 : NULL;
    }
    return 0;
}

/* 1 if modifier (NULL: none) is supported on def: :exact and :contains on strings, :Type on references. */
static int search_modifier_ok(const fhir_param_def *def, const char *modifier)
{
    if (!modifier) return 1;
    if (def->kind == FHIR_PARAM_STRING) return !strcmp(modifier, "exact") || !strcmp(modifier, "contains");
    return def->kind == FHIR_PARAM_REFERENCE && search_is_target(def, modifier);
}

/* Split "name:modifier" into name (at most size - 1 bytes) and the modifier (NULL if none). */
static const char *search_name_split(const char *full, size_t full_len, char *name, size_t size)
{
    const char *colon = memchr(full, ':', full_len);
    size_t len = colon ? (size_t)(colon - full) : full_len;
    if (len >= size) len = size - 1;
    memcpy(name, full, len);
    name[len] = 0;
    return colon ? colon + 1 : NULL;
}

/* search_chain_clause - a chained parameter "ref[:Type].param[:modifier]=value" (one level) as a
 * clause: the resources whose reference parameter ref points at a resource of T matched by param=value,
 * with one T per target type of ref that declares param (just the :Type one when given). `_id` as the
 * chained parameter matches live resources of T by id. search_chain_sql writes its SQL. Sets *known to
 * 0 (and lists the parameter as ignored) when lenient mode ignores an unknown chain; structural errors
 * (two levels) are always 400. */
static int search_chain_clause(fhir_search *s, const char *full, const char *value, const fhir_search_options *opt,
                               int *known, socle_err *err)
{
    const char *dot = strchr(full, '.');
    if (strchr(dot + 1, '.'))
        return socle_err_at(err, SOCLE_EINVAL, full,
                            "search parameter '%.64s': only one level of chaining is supported", full);
    char ref_name[96], chained_name[96];
    const char *ref_modifier = search_name_split(full, (size_t)(dot - full), ref_name, sizeof ref_name);
    const char *chained_modifier = search_name_split(dot + 1, strlen(dot + 1), chained_name, sizeof chained_name);
    if (ref_modifier) ref_modifier = arena_strndup(s->a, ref_modifier, (size_t)(dot - ref_modifier));
    const fhir_param_def *ref = fhir_param_find(s->type, ref_name);
    const char *problem = NULL;
    if (!ref || ref->kind != FHIR_PARAM_REFERENCE)
        problem = "chained parameter '%.64s': the part before '.' is not a reference parameter of %s";
    else if (ref_modifier && !search_is_target(ref, ref_modifier))
        problem = "chained parameter '%.64s': the type modifier is not a target of the reference parameter of %s";
    /* The target types on which the chain runs, and the chained parameter's definition on each. */
    const char *targets[16];
    const fhir_param_def *defs[16];
    int ntargets = 0, declared = 0;
    int is_id = !strcmp(chained_name, "_id");
    for (const char *t = ref_modifier ? ref_modifier : ref ? ref->targets : NULL; !problem && t && *t;) {
        const char *bar = ref_modifier ? NULL : strchr(t, '|');
        const char *target = bar ? arena_strndup(s->a, t, (size_t)(bar - t)) : t;
        t = bar ? bar + 1 : NULL;
        const fhir_param_def *def = is_id ? NULL : fhir_param_find(target, chained_name);
        if (!is_id && !def) continue;
        declared = 1;
        if (is_id ? chained_modifier != NULL : !search_modifier_ok(def, chained_modifier)) continue;
        if (ntargets == 16) break;
        targets[ntargets] = target;
        defs[ntargets++] = def;
    }
    if (!problem && !ntargets)
        problem = declared ? "chained parameter '%.64s': unsupported modifier on the chained parameter for %s"
                           : "chained parameter '%.64s': no target type of the reference declares the chained parameter"
                             " (searching %s)";
    if (problem) {
        *known = 0;
        if (!opt->lenient) return socle_err_at(err, SOCLE_EINVAL, full, problem, full, s->type);
        s->ignored[s->nignored++] = arena_strdup(s->a, full);
        return 0;
    }
    char *ids[64];
    int nids = is_id ? search_split(s->a, value, ids, 64) : 0;
    for (int k = 0; k < nids; k++)
        if (!id_fhir_valid(ids[k]))
            return socle_err_at(err, SOCLE_EINVAL, full, "search parameter %.64s: not a valid resource id", full);
    if (is_id && !nids) return socle_err_at(err, SOCLE_EINVAL, full, "search parameter %.64s has no value", full);
    if (s->nparams >= SEARCH_MAX_PARAMS - 4) return socle_err_set(err, SOCLE_EINVAL, "too many search values");
    search_chain *chain = arena_zalloc(s->a, sizeof *chain);
    chain->ref_param = search_bind_text(s, ref->name);
    for (int i = 0; i < ntargets; i++) {
        if (s->nparams >= SEARCH_MAX_PARAMS - 4 - nids)
            return socle_err_set(err, SOCLE_EINVAL, "too many search values");
        search_chain_target *t = &chain->targets[chain->ntargets++];
        t->type_param = search_bind_text(s, targets[i]);
        t->def = defs[i];
        socle_buf values = SOCLE_BUF_INIT;
        if (is_id) {
            for (int k = 0; k < nids; k++) buf_printf(&values, "%s$%d", k ? ", " : "", search_bind_text(s, ids[k]));
        } else {
            t->name_param = search_bind_text(s, defs[i]->name);
            int rc = search_param_values(s, &values, defs[i], full, chained_modifier, value, NULL, NULL, err);
            if (rc) {
                buf_free(&values);
                return rc;
            }
        }
        int ok = buf_ok(&values);
        t->values = ok ? arena_strdup(s->a, values.data) : NULL;
        buf_free(&values);
        if (!ok) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    }
    s->clauses[s->nclauses++] = (search_clause){.chain = chain, .rank = 6};
    return 0;
}

/* The key columns of each index table's value index after (type, param), in its order; the id follows. */
static const char *const search_keys[][2] = {
    {NULL, NULL}, {"code", "system"}, {"norm", NULL}, {"low", "high"}, {"target_id", "target_type"}};

static int search_nkeys(fhir_param_kind kind)
{
    return search_keys[kind][1] ? 2 : 1;
}

/* The clause a search starts from: the parameter whose value usually selects fewest rows
 * (search_value_rank; a chain ranks last), the first one on a tie; -1 when _id lists the candidates
 * or there is no clause. */
static int search_lead(const fhir_search *s)
{
    int lead = -1;
    for (int i = 0; !s->listed && i < s->nclauses; i++)
        if (lead < 0 || s->clauses[i].rank < s->clauses[lead].rank) lead = i;
    return lead;
}

/* A correlated check "is there a row": EXISTS (...) on SQLite; on PostgreSQL the scalar form
 * (SELECT 1 ... LIMIT 1) IS NOT NULL, which it runs for each candidate as written: an EXISTS it
 * turns into a join, and with a generic plan (no values known) it drove a search from the broadest
 * check, gender=female (88 ms instead of 0.08 at 35,000 patients). */
static void search_exists_open(socle_buf *w, int sqlite, int negate)
{
    buf_puts(w, sqlite ? (negate ? "NOT EXISTS (" : "EXISTS (") : "(");
}

static void search_exists_close(socle_buf *w, int sqlite, int negate)
{
    buf_puts(w, sqlite ? ")" : negate ? " LIMIT 1) IS NULL" : " LIMIT 1) IS NOT NULL");
}

/* search_chain_sql - append a chain's condition. As a check of the candidate row `outer`:
 *   EXISTS (SELECT 1 FROM fhir_index_reference c WHERE c.type = outer.type AND c.id = outer.id
 *           AND c.param = <ref> AND ((c.target_type = T AND EXISTS (<T's row of param=value for
 *           c.target_id>)) OR ...))
 * so that a candidate costs a few lookups, however many resources of T match; as the list of the
 * candidates (outer NULL):
 *   r.id IN (SELECT id FROM fhir_index_reference WHERE type = <type> AND param = <ref> AND
 *            ((target_type = T AND target_id IN (<ids of T matched by param=value>)) OR ...)) */
static void search_chain_sql(fhir_search *s, socle_buf *w, const search_chain *chain, const char *outer, int sqlite)
{
    if (outer) {
        search_exists_open(w, sqlite, 0);
        buf_printf(w, "SELECT 1 FROM fhir_index_reference c%s WHERE c.type = %s.type AND c.id = %s.id AND c.param = $%d AND (",
                   sqlite ? " INDEXED BY fhir_index_reference_row" : "", outer, outer, chain->ref_param);
    } else
        buf_printf(w, "r.id IN (SELECT id FROM fhir_index_reference WHERE type = $%d AND param = $%d AND (",
                   search_bind_text(s, s->type), chain->ref_param);
    for (int i = 0; i < chain->ntargets; i++) {
        const search_chain_target *t = &chain->targets[i];
        const char *table = t->def ? search_tables[t->def->kind] : NULL;
        buf_printf(w, "%s(%starget_type = $%d AND ", i ? " OR " : "", outer ? "c." : "", t->type_param);
        if (!t->def && outer) {
            buf_printf(w, "c.target_id IN (%s) AND ", t->values);
            search_exists_open(w, sqlite, 0);
            buf_printf(w, "SELECT 1 FROM fhir_resource z WHERE z.type = $%d AND z.id = c.target_id AND z.deleted = 0",
                       t->type_param);
            search_exists_close(w, sqlite, 0);
            buf_putc(w, ')');
        } else if (!t->def)
            buf_printf(w, "target_id IN (SELECT id FROM fhir_resource WHERE type = $%d AND deleted = 0 AND id IN (%s)))",
                       t->type_param, t->values);
        else if (outer) {
            search_exists_open(w, sqlite, 0);
            buf_printf(w, "SELECT 1 FROM %s z%s%s%s WHERE z.type = $%d AND z.id = c.target_id AND z.param = $%d AND %s",
                       table, sqlite ? " INDEXED BY " : "", sqlite ? table : "", sqlite ? "_row" : "", t->type_param,
                       t->name_param, t->values);
            search_exists_close(w, sqlite, 0);
            buf_putc(w, ')');
        } else
            buf_printf(w, "target_id IN (SELECT id FROM %s WHERE type = $%d AND param = $%d AND %s))", table,
                       t->type_param, t->name_param, t->values);
    }
    if (outer) {
        buf_putc(w, ')');
        search_exists_close(w, sqlite, 0);
    } else {
        buf_puts(w, "))");
    }
}

/* Append to w " AND <check>" for every clause but skip, each checked for the candidate row `outer`
 * through the (type, id) index of its index table (search_exists_open). SQLite is told which index
 * to take (its planner, without statistics, preferred the value index and scanned a whole range per
 * candidate). */
static void search_checks(fhir_search *s, socle_buf *w, int skip, const char *outer, int sqlite)
{
    for (int i = 0; i < s->nclauses; i++) {
        if (i == skip) continue;
        const search_clause *c = &s->clauses[i];
        buf_puts(w, " AND ");
        if (c->chain) {
            search_chain_sql(s, w, c->chain, outer, sqlite);
            continue;
        }
        const char *table = search_tables[c->def->kind];
        search_exists_open(w, sqlite, 0);
        buf_printf(w, "SELECT 1 FROM %s x%s%s%s WHERE x.type = %s.type AND x.id = %s.id AND x.param = $%d AND %s", table,
                   sqlite ? " INDEXED BY " : "", sqlite ? table : "", sqlite ? "_row" : "", outer, outer,
                   search_bind_text(s, c->def->name), c->values);
        search_exists_close(w, sqlite, 0);
    }
}

/* Append to w the conditions of a search that lists its candidates (with _sort, _summary=count, _id,
 * or only chains): the lead clause lists the candidate ids (r.id IN ...) and every other is checked
 * inside the list, so that a candidate that fails is dropped before its resource row is read. Listing
 * them all made the database collect every id each one matched: half the patients for gender=female
 * at each search. */
static void search_list_conditions(fhir_search *s, int lead, int sqlite, socle_buf *w)
{
    if (lead < 0) {
        search_checks(s, w, -1, "r", sqlite);
    } else if (s->clauses[lead].chain) {
        buf_puts(w, " AND ");
        search_chain_sql(s, w, s->clauses[lead].chain, NULL, sqlite);
        search_checks(s, w, lead, "r", sqlite);
    } else {
        const search_clause *c = &s->clauses[lead];
        int pt = search_bind_text(s, s->type), pp = search_bind_text(s, c->def->name);
        buf_printf(w, " AND r.id IN (SELECT l.id FROM %s l WHERE l.type = $%d AND l.param = $%d AND %s",
                   search_tables[c->def->kind], pt, pp, c->values);
        search_checks(s, w, lead, "l", sqlite);
        buf_putc(w, ')');
    }
}

/* Rows a walk in index order reads for a page of count: a resource matched by several rows of the
 * walk is skipped in C after its first (fhir_search_run), so a page may need more rows than count + 1. */
#define SEARCH_WALK_ROWS(count) (2 * (count) + 16)

/* search_index_order_sql - the query of a search without _sort whose lead is a parameter: it walks
 * the lead's value index in its order (key columns, then id) and stops once the page is full, so a
 * page costs the same for ten matches or a million (city=PARIS), where a list of every match had to
 * be built and sorted by id first. Results come in that order; the cursor is the last row's key
 * columns and id. A resource that several index rows match is kept at its first: fhir_search_run
 * skips the rows of a resource it has already taken, and after a cursor the query drops the
 * resources with a matching row before the cursor (already on an earlier page) - unless the value
 * fixes every key column (one row per resource). */
static int search_index_order_sql(fhir_search *s, int lead, int sqlite, const char *where_sql, socle_buf *sql,
                                  socle_err *err)
{
    const search_clause *c = &s->clauses[lead];
    const char *table = search_tables[c->def->kind];
    const char *const *k = search_keys[c->def->kind];
    int nk = search_nkeys(c->def->kind), is_int = c->def->kind == FHIR_PARAM_DATE, f = c->fixed;
    if (s->ncursor && s->ncursor != nk + 1) return socle_err_at(err, SOCLE_EINVAL, "_cursor", "_cursor is not valid");
    if (s->nparams + 2 * s->nclauses + 6 > SEARCH_MAX_PARAMS)
        return socle_err_set(err, SOCLE_EINVAL, "too many search values");
    buf_printf(sql, "SELECT r.id, r.body, r.patient, l.%s%s%s FROM %s l JOIN fhir_resource r ON r.type = l.type"
                    " AND r.id = l.id WHERE ",
               k[0], nk > 1 ? ", l." : "", nk > 1 ? k[1] : "", table);
    /* The key columns the value does not fix, then the id: "k, id" and the cursor's "$a, $b". */
    socle_buf lcols = SOCLE_BUF_INIT, ycols = SOCLE_BUF_INIT, bounds = SOCLE_BUF_INIT;
    int first = 0;
    if (s->ncursor) {
        for (int i = f; i < nk; i++) {
            int p = is_int ? search_bind(s, STORE_V_INT(strtoll(s->cursor[i], NULL, 10))) : search_bind_text(s, s->cursor[i]);
            if (i == f) first = p;
            buf_printf(&lcols, "l.%s, ", k[i]);
            buf_printf(&ycols, "y.%s, ", k[i]);
            buf_printf(&bounds, "$%d, ", p);
        }
        buf_puts(&lcols, "l.id");
        buf_puts(&ycols, "y.id");
        buf_printf(&bounds, "$%d", search_bind_text(s, s->cursor[nk]));
        /* Written before the value so that SQLite starts the index range at the cursor (it takes
         * the first bound it reads). */
        if (f == nk)
            buf_printf(sql, "l.id > %s AND ", bounds.data);
        else
            buf_printf(sql, "l.%s >= $%d AND (%s) > (%s) AND ", k[f], first, lcols.data, bounds.data);
    }
    int pt = search_bind_text(s, s->type), pp = search_bind_text(s, c->def->name);
    buf_printf(sql, "l.type = $%d AND l.param = $%d AND %s", pt, pp, c->values);
    if (s->ncursor && f < nk) {
        buf_puts(sql, " AND ");
        search_exists_open(sql, sqlite, 1);
        buf_printf(sql, "SELECT 1 FROM %s y%s%s%s WHERE y.type = l.type AND y.id = l.id AND y.param = l.param"
                        " AND (%s) <= (%s) AND %s",
                   table, sqlite ? " INDEXED BY " : "", sqlite ? table : "", sqlite ? "_row" : "", ycols.data,
                   bounds.data, c->values);
        search_exists_close(sql, sqlite, 1);
    }
    search_checks(s, sql, lead, "l", sqlite);
    buf_printf(sql, "%s AND r.deleted = 0 ORDER BY ", where_sql);
    for (int i = 0; i < nk; i++) buf_printf(sql, "l.%s, ", k[i]);
    buf_printf(sql, "l.id LIMIT %d", SEARCH_WALK_ROWS(s->count) + 1); /* one more: is there a next page */
    int ok = buf_ok(&lcols) && buf_ok(&ycols) && buf_ok(&bounds);
    buf_free(&lcols);
    buf_free(&ycols);
    buf_free(&bounds);
    return ok ? 0 : socle_err_set(err, SOCLE_ENOMEM, "out of memory");
}

static void search_self_add(fhir_search *s, const char *name, const char *value)
{
    if (s->self.len) buf_putc(&s->self, '&');
    text_url_encode(&s->self, name);
    buf_putc(&s->self, '=');
    text_url_encode(&s->self, value);
}

/* Read a _cursor (search_cursor_text): its parts into s->cursor. SOCLE_EINVAL when it is not one
 * this server wrote (with this key, for this query), or its parts are not UTF-8 text. No length
 * limit here: the request line's is the one (a cursor holds an index value, up to a few KB). */
static int search_cursor_parse(fhir_search *s, const char *value, const uint8_t *key, socle_err *err)
{
    size_t n = strlen(value), w = 0;
    uint8_t *bytes = arena_alloc(s->a, n + 1);
    int rc = 0;
    if (key) {
        uint8_t *sealed = arena_alloc(s->a, n + 1);
        size_t sealed_len;
        rc = crypto_b64url_decode(value, n, sealed, &sealed_len) ||
             crypto_open(key, s->self_sql, strlen(s->self_sql), sealed, sealed_len, bytes, &w);
    } else {
        static const char digits[] = "0123456789abcdef";
        for (size_t k = 0; !rc && k < n; k += 2) {
            const char *hi = value[k] ? strchr(digits, value[k]) : NULL;
            const char *lo = n % 2 || !value[k + 1] ? NULL : strchr(digits, value[k + 1]);
            rc = !hi || !lo;
            if (!rc) bytes[w++] = (uint8_t)((hi - digits) << 4 | (lo - digits));
        }
    }
    char *raw = (char *)bytes;
    raw[w] = 0;
    /* Key columns and id, each ended by a NUL byte (search_cursor_add). */
    s->ncursor = 0;
    for (size_t at = 0; !rc && at < w && s->ncursor < 4; at += strlen(raw + at) + 1) {
        rc = !text_utf8_valid(raw + at, strlen(raw + at));
        s->cursor[s->ncursor++] = raw + at;
    }
    if (rc || s->ncursor < 2 || w == 0 || raw[w - 1]) return socle_err_at(err, SOCLE_EINVAL, "_cursor", "_cursor is not valid");
    return 0;
}

int fhir_search_parse(const char *type, const fhir_search_param *params, int nparams, const fhir_search_options *opt,
                      arena *a, fhir_search **out, socle_err *err)
{
    fhir_search *s = arena_zalloc(a, sizeof *s);
    s->a = a;
    s->type = arena_strdup(a, type);
    s->count = opt->default_count ? opt->default_count : 20;
    s->cursor_key = opt->cursor_key;
    int max_count = opt->max_count ? opt->max_count : 1000;
    s->ignored = arena_zalloc(a, sizeof *s->ignored * (size_t)(nparams + 1));
    s->clauses = arena_zalloc(a, sizeof *s->clauses * (size_t)(nparams + 1));
    int rc = 0;
    for (int i = 0; i < nparams && !rc; i++) {
        const char *full = params[i].name, *value = params[i].value ? params[i].value : "";
        char name[96];
        const char *colon = strchr(full, ':');
        size_t len = colon ? (size_t)(colon - full) : strlen(full);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, full, len);
        name[len] = 0;
        const char *modifier = colon ? colon + 1 : NULL;
        int known = 1;
        if (!strcmp(name, "_format") || !strcmp(name, "_pretty")) continue;
        if (!strcmp(name, "_count") && !modifier) {
            char *end;
            errno = 0;
            long n = strtol(value, &end, 10);
            if (*end || end == value || n < 0 || errno)
                rc = socle_err_at(err, SOCLE_EINVAL, "_count", "_count must be a non-negative integer");
            s->count = n > max_count ? max_count : (int)n;
            continue;
        } else if (!strcmp(name, "_cursor") && !modifier) {
            s->cursor_text = arena_strdup(a, value); /* read by fhir_search_run: its seal names the query */
            continue;
        } else if (!strcmp(name, "_summary") && !modifier) {
            if (strcmp(value, "count"))
                rc = socle_err_at(err, SOCLE_EINVAL, "_summary", "only _summary=count is supported");
            s->summary_count = 1;
        } else if (!strcmp(name, "_sort") && !modifier) {
            const char *key = value[0] == '-' ? value + 1 : value;
            const fhir_param_def *def = fhir_param_find(type, key);
            s->descending = value[0] == '-';
            if (!strcmp(key, "_id") || !strcmp(key, "_lastUpdated")) {
                s->sort_param = arena_strdup(a, key);
            } else if (def && (def->kind == FHIR_PARAM_DATE || def->kind == FHIR_PARAM_STRING)) {
                s->sort_param = def->name;
                s->sort_kind = def->kind;
            } else {
                rc = socle_err_at(err, SOCLE_EINVAL, "_sort", "_sort on '%.64s' is not supported for %s", key, type);
            }
        } else if ((!strcmp(name, "_include") || !strcmp(name, "_revinclude")) && !modifier) {
            rc = search_include_parse(s, name, value, name[1] == 'r', err);
        } else if (!strcmp(name, "_id") && !modifier) {
            char *values[64];
            int nv = search_split(a, value, values, 64);
            for (int k = 0; k < nv && !rc; k++)
                if (!id_fhir_valid(values[k])) rc = socle_err_at(err, SOCLE_EINVAL, "_id", "_id: not a valid resource id");
            if (!rc && s->nparams + nv > SEARCH_MAX_PARAMS - 6)
                rc = socle_err_set(err, SOCLE_EINVAL, "too many search values");
            if (rc) break;
            s->listed = 1;
            buf_puts(&s->where, " AND r.id IN (");
            for (int k = 0; k < nv; k++) buf_printf(&s->where, "%s$%d", k ? ", " : "", search_bind_text(s, values[k]));
            buf_puts(&s->where, nv ? ")" : "NULL)");
        } else if (!strcmp(name, "_lastUpdated") && !modifier) {
            buf_puts(&s->where, " AND ");
            rc = search_date_cond(s, &s->where, name, value, "r.last_updated", "r.last_updated", err);
        } else if (strchr(full, '.')) {
            rc = search_chain_clause(s, full, value, opt, &known, err);
        } else {
            const fhir_param_def *def = fhir_param_find(type, name);
            if (!def || !search_modifier_ok(def, modifier)) {
                known = 0;
                if (!opt->lenient)
                    rc = socle_err_at(err, SOCLE_EINVAL, full, def ? "unsupported modifier in '%.64s' for %s"
                                                                   : "unknown search parameter '%.64s' for %s",
                                      full, type);
                else
                    s->ignored[s->nignored++] = arena_strdup(a, full);
            } else {
                socle_buf values = SOCLE_BUF_INIT;
                int rank = 0, fixed = 0;
                rc = search_param_values(s, &values, def, full, modifier, value, &rank, &fixed, err);
                if (!rc && !buf_ok(&values)) rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
                if (!rc)
                    s->clauses[s->nclauses++] =
                        (search_clause){.def = def, .values = arena_strdup(a, values.data), .rank = rank, .fixed = fixed};
                buf_free(&values);
            }
        }
        if (!rc && known) search_self_add(s, full, value);
    }
    if (!rc && !buf_ok(&s->where)) rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    if (!rc) {
        s->where_sql = arena_strdup(a, s->where.data ? s->where.data : "");
        s->self_sql = arena_strdup(a, s->self.data ? s->self.data : "");
    }
    buf_free(&s->where);
    buf_free(&s->self);
    if (rc) return rc;
    *out = s;
    return 0;
}

/* The sort key expression and whether it is an integer. */
static const char *search_sort_expr(fhir_search *s, int *pkey_param, int *is_int)
{
    *is_int = 0;
    *pkey_param = 0;
    if (!s->sort_param || !strcmp(s->sort_param, "_id")) return "r.id";
    if (!strcmp(s->sort_param, "_lastUpdated")) {
        *is_int = 1;
        return "r.last_updated";
    }
    int pp = search_bind_text(s, s->sort_param);
    *pkey_param = pp;
    if (s->sort_kind == FHIR_PARAM_DATE) {
        *is_int = 1;
        int top = search_bind(s, STORE_V_INT(INT64_MAX));
        return arena_printf(s->a,
                            "COALESCE((SELECT MIN(low) FROM fhir_index_date d WHERE d.type = r.type AND d.id = r.id"
                            " AND d.param = $%d), $%d)",
                            pp, top);
    }
    int top = search_bind_text(s, SEARCH_TOP_STRING);
    return arena_printf(s->a,
                        "COALESCE((SELECT MIN(norm) FROM fhir_index_string x WHERE x.type = r.type AND x.id = r.id"
                        " AND x.param = $%d), $%d)",
                        pp, top);
}

/* 1 if the first n hits hold type/id. */
static int search_has_hit(const fhir_search_hit *hits, size_t n, const char *type, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(hits[i].id, id) && !strcmp(hits[i].type, type)) return 1;
    return 0;
}

static int search_add_hit(arena *a, fhir_search_hit *hits, size_t *n, store_rows *r, const char *type, int included)
{
    size_t len, blen, plen;
    const char *id = store_rows_text(r, 0, &len);
    if (search_has_hit(hits, *n, type, id)) return 0;
    fhir_search_hit *h = &hits[(*n)++];
    h->type = type;
    h->id = arena_strndup(a, id, len);
    const char *body = store_rows_text(r, 1, &blen);
    h->body = arena_strndup(a, body ? body : "", blen);
    h->body_len = blen;
    const char *patient = store_rows_text(r, 2, &plen);
    h->patient_id = patient ? arena_strndup(a, patient, plen) : NULL;
    h->included = included;
    return 1;
}

static int search_includes(store_conn *c, fhir_search *s, arena *a, fhir_search_hit **hits, size_t *n, size_t matches,
                           socle_err *err)
{
    if (!s->nincludes || matches == 0) return 0;
    size_t cap = *n + (size_t)s->nincludes * 1000;
    fhir_search_hit *all = arena_zalloc(a, sizeof *all * cap);
    memcpy(all, *hits, sizeof *all * *n);
    for (int k = 0; k < s->nincludes; k++) {
        search_include *inc = &s->includes[k];
        store_value p[1100];
        int np = 0;
        p[np++] = STORE_V_TEXT(inc->source_type);
        p[np++] = STORE_V_TEXT(inc->param);
        if (inc->reverse || inc->target_type)
            p[np++] = STORE_V_TEXT(inc->reverse ? (inc->target_type ? inc->target_type : s->type) : inc->target_type);
        socle_buf sql = SOCLE_BUF_INIT;
        if (inc->reverse)
            buf_puts(&sql, "SELECT r.id, r.body, r.patient, r.type FROM fhir_index_reference x JOIN fhir_resource r"
                           " ON r.type = x.type AND r.id = x.id WHERE x.type = $1 AND x.param = $2"
                           " AND x.target_type = $3 AND r.deleted = 0 AND x.target_id IN (");
        else
            buf_printf(&sql, "SELECT r.id, r.body, r.patient, r.type FROM fhir_index_reference x JOIN fhir_resource r"
                             " ON r.type = x.target_type AND r.id = x.target_id WHERE x.type = $1 AND x.param = $2"
                             " AND %s AND r.deleted = 0 AND x.id IN (",
                       inc->target_type ? "x.target_type = $3" : "1 = 1");
        for (size_t i = 0; i < matches && np < 1090; i++) {
            p[np++] = STORE_V_TEXT((*hits)[i].id);
            buf_printf(&sql, "%s$%d", i ? ", " : "", np);
        }
        buf_puts(&sql, ") LIMIT 1000");
        store_rows *r;
        int rc = store_query(c, sql.data, p, np, &r, err);
        buf_free(&sql);
        if (rc) return rc;
        while ((rc = store_rows_next(r, err)) == 1 && *n < cap) {
            size_t tlen;
            const char *t = store_rows_text(r, 3, &tlen);
            search_add_hit(a, all, n, r, arena_strndup(a, t, tlen), 1);
        }
        store_rows_free(r);
        if (rc < 0) return rc;
    }
    *hits = all;
    return 0;
}

/* Append key (its length n) and a NUL byte to a cursor being built. */
static void search_cursor_add(socle_buf *raw, const char *key, size_t n)
{
    buf_append(raw, key ? key : "", key ? n : 0);
    buf_putc(raw, 0);
}

/* Append the cursor raw (search_cursor_add) to q as the _cursor value: sealed under the caller's
 * key for this query (its canonical form: the cursor opens for no other) then base64url, or plain
 * hex without a key. 0 or SOCLE_EINTERNAL. */
static int search_cursor_text(const fhir_search *s, const socle_buf *raw, socle_buf *q)
{
    if (!s->cursor_key) {
        for (size_t i = 0; i < raw->len; i++) buf_printf(q, "%02x", (unsigned char)raw->data[i]);
        return 0;
    }
    size_t n = raw->len + CRYPTO_SEAL_OVERHEAD;
    uint8_t *sealed = malloc(n);
    char *text = malloc(4 * (n / 3 + 1) + 1);
    int rc = sealed && text ? crypto_seal(s->cursor_key, s->self_sql, strlen(s->self_sql), raw->data, raw->len, sealed)
                            : SOCLE_ENOMEM;
    if (!rc) buf_append(q, text, crypto_b64url_encode(sealed, n, text));
    free(sealed);
    free(text);
    return rc;
}

int fhir_search_run(store_conn *c, const fhir_search *plan, arena *a, fhir_search_page *out, socle_err *err)
{
    fhir_search *s = (fhir_search *)plan;
    memset(out, 0, sizeof *out);
    out->total = -1;
    out->ignored = s->ignored;
    out->nignored = s->nignored;
    int sqlite = store_conn_engine(c) == STORE_SQLITE, rc = 0;
    if (s->cursor_text && !s->ncursor && (rc = search_cursor_parse(s, s->cursor_text, s->cursor_key, err))) return rc;
    int lead = search_lead(s);
    int index_order = lead >= 0 && s->clauses[lead].def && !s->sort_param && !s->summary_count;
    int nkeys = index_order ? search_nkeys(s->clauses[lead].def->kind) : 1;
    socle_buf sql = SOCLE_BUF_INIT;
    int pkey = 0, is_int = 0;
    const char *key = NULL;
    if (index_order) {
        rc = search_index_order_sql(s, lead, sqlite, s->where_sql, &sql, err);
    } else {
        /* Two values per clause, and up to six more below (type, sort, cursor). */
        if (s->nparams + 2 * s->nclauses > SEARCH_MAX_PARAMS - 6) {
            buf_free(&sql);
            return socle_err_set(err, SOCLE_EINVAL, "too many search values");
        }
        socle_buf where = SOCLE_BUF_INIT;
        buf_puts(&where, s->where_sql);
        search_list_conditions(s, lead, sqlite, &where);
        int pt = search_bind_text(s, s->type);
        if (s->summary_count) {
            buf_printf(&sql, "SELECT COUNT(*) FROM fhir_resource r WHERE r.type = $%d AND r.deleted = 0%s", pt,
                       where.data ? where.data : "");
            rc = !buf_ok(&where) || !buf_ok(&sql) ? socle_err_set(err, SOCLE_ENOMEM, "out of memory")
                                                  : store_query_int(c, sql.data, s->params, s->nparams, &out->total, err);
            out->self_query = s->self_sql;
            buf_free(&where);
            buf_free(&sql);
            return rc;
        }
        key = search_sort_expr(s, &pkey, &is_int);
        buf_printf(&sql, "SELECT r.id, r.body, r.patient, %s FROM fhir_resource r WHERE r.type = $%d AND r.deleted = 0%s",
                   key, pt, where.data ? where.data : "");
        if (!buf_ok(&where)) rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
        buf_free(&where);
        if (s->ncursor && s->ncursor != 2) rc = socle_err_at(err, SOCLE_EINVAL, "_cursor", "_cursor is not valid");
        const char *cmp = s->descending ? "<" : ">";
        if (!rc && s->ncursor) {
            int pid = search_bind_text(s, s->cursor[1]);
            if (!strcmp(key, "r.id")) {
                buf_printf(&sql, " AND r.id %s $%d", cmp, pid);
            } else {
                int pk = is_int ? search_bind(s, STORE_V_INT(strtoll(s->cursor[0], NULL, 10))) : search_bind_text(s, s->cursor[0]);
                buf_printf(&sql, " AND (%s %s $%d OR (%s = $%d AND r.id %s $%d))", key, cmp, pk, key, pk, cmp, pid);
            }
        }
        const char *dir = s->descending ? " DESC" : "";
        if (!strcmp(key, "r.id"))
            buf_printf(&sql, " ORDER BY r.id%s", dir);
        else
            buf_printf(&sql, " ORDER BY %s%s, r.id%s", key, dir, dir);
        buf_printf(&sql, " LIMIT %d", s->count + 1);
    }
    store_rows *r = NULL;
    if (!rc) rc = buf_ok(&sql) ? store_query(c, sql.data, s->params, s->nparams, &r, err)
                               : socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    buf_free(&sql);
    if (rc) return rc;
    fhir_search_hit *hits = arena_zalloc(a, sizeof *hits * (size_t)(s->count + 1));
    size_t n = 0;
    socle_buf last = SOCLE_BUF_INIT; /* the cursor after the last row read: its key columns and id */
    int more = 0, rows = 0;
    while ((rc = store_rows_next(r, err)) == 1) {
        /* A walk that read all its rows, some of them skipped, stops short of a full page. */
        if (index_order && ++rows > SEARCH_WALK_ROWS(s->count)) {
            more = 1;
            break;
        }
        /* In index order a resource's later rows are skipped (search_index_order_sql). */
        if (n == (size_t)s->count && !search_has_hit(hits, n, s->type, store_rows_text(r, 0, NULL))) {
            more = 1;
            break;
        }
        if (n < (size_t)s->count) search_add_hit(a, hits, &n, r, s->type, 0);
        buf_reset(&last);
        for (int i = 0; i < nkeys; i++) {
            size_t klen;
            const char *k = store_rows_text(r, 3 + i, &klen);
            search_cursor_add(&last, k, klen);
        }
        size_t idlen;
        const char *id = store_rows_text(r, 0, &idlen);
        search_cursor_add(&last, id, idlen);
    }
    store_rows_free(r);
    size_t matches = n;
    if (rc >= 0) rc = search_includes(c, s, a, &hits, &n, matches, err);
    if (rc < 0 || !buf_ok(&last)) {
        buf_free(&last);
        return rc < 0 ? rc : socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    }
    out->hits = hits;
    out->nhits = n;
    socle_buf q = SOCLE_BUF_INIT;
    buf_puts(&q, s->self_sql);
    buf_printf(&q, "%s_count=%d", q.len ? "&" : "", s->count);
    out->self_query = arena_strdup(a, q.data);
    if (more && matches) {
        buf_puts(&q, "&_cursor=");
        size_t at = q.len;
        rc = search_cursor_text(s, &last, &q);
        out->next_query = arena_strdup(a, q.data);
        out->next_cursor = out->next_query + at;
    }
    buf_free(&last);
    buf_free(&q);
    return rc ? socle_err_set(err, rc, "search: cannot seal the cursor") : 0;
}
