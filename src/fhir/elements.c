/* elements.c - element-level validation of FHIR R4 resources (see elements.h for the contract).
 *
 * One recursive walk over the jansson tree, driven by the generated table of elements_r4.c:
 * each object is checked against its definition (binary search of the key among the
 * definition's sorted element names), each value against its element's kind. The path of the
 * value being checked is a chain of stack frames, turned into text only when there is a fault,
 * so a valid resource costs no allocation at all. Messages name the path and the rule, never the
 * value (it may be health data). */
#include "fhir/elements.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/ids.h"
#include "crypto/crypto.h"
#include "base/timeutil.h"

#define FHIR_ELEMENTS_MAX_DEPTH 128

/* One step of the path of the value being checked: ".key" (or the root type name), or "[index]". */
typedef struct elem_path {
    const struct elem_path *up;
    const char *key; /* NULL for an array index step */
    size_t index;
} elem_path;

static const char *const elem_kind_names[FHIR_EK_COUNT] = {
    [FHIR_EK_COMPLEX] = "complex",
    [FHIR_EK_RESOURCE] = "Resource",
    [FHIR_EK_STRING] = "string",
    [FHIR_EK_MARKDOWN] = "markdown",
    [FHIR_EK_CODE] = "code",
    [FHIR_EK_ID] = "id",
    [FHIR_EK_URI] = "uri",
    [FHIR_EK_URL] = "url",
    [FHIR_EK_CANONICAL] = "canonical",
    [FHIR_EK_OID] = "oid",
    [FHIR_EK_UUID] = "uuid",
    [FHIR_EK_BASE64BINARY] = "base64Binary",
    [FHIR_EK_XHTML] = "xhtml",
    [FHIR_EK_BOOLEAN] = "boolean",
    [FHIR_EK_INTEGER] = "integer",
    [FHIR_EK_POSITIVEINT] = "positiveInt",
    [FHIR_EK_UNSIGNEDINT] = "unsignedInt",
    [FHIR_EK_DECIMAL] = "decimal",
    [FHIR_EK_DATE] = "date",
    [FHIR_EK_DATETIME] = "dateTime",
    [FHIR_EK_INSTANT] = "instant",
    [FHIR_EK_TIME] = "time",
};

const char *fhir_element_kind_name(int kind)
{
    return kind >= 0 && kind < FHIR_EK_COUNT ? elem_kind_names[kind] : "?";
}

static const char *elem_str(uint16_t off)
{
    return fhir_r4_strings + off;
}

int fhir_elements_definition(const char *name)
{
    size_t lo = 0, hi = fhir_r4_ndefs;
    while (name && lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, elem_str(fhir_r4_defs[mid].name));
        if (c == 0) return (int)mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

static const fhir_element_info *elem_find(const fhir_definition *d, const char *name)
{
    size_t lo = d->first, hi = (size_t)d->first + d->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, elem_str(fhir_r4_elements[mid].name));
        if (c == 0) return &fhir_r4_elements[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* --- error reporting --- */

static void elem_path_append(char *out, size_t n, size_t *len, const char *s)
{
    size_t k = strlen(s);
    if (*len + k >= n) k = *len + 1 < n ? n - 1 - *len : 0;
    memcpy(out + *len, s, k);
    *len += k;
    out[*len] = 0;
}

static void elem_path_render(const elem_path *p, char *out, size_t n, size_t *len)
{
    if (p->up) elem_path_render(p->up, out, n, len);
    if (p->key) {
        if (p->up) elem_path_append(out, n, len, ".");
        elem_path_append(out, n, len, p->key);
    } else {
        char step[32];
        snprintf(step, sizeof step, "[%zu]", p->index);
        elem_path_append(out, n, len, step);
    }
}

/* elem_fail - SOCLE_EUNPROCESSABLE at path (plus an optional last step `key`), message
 * "<path>: <rule>". */
static int elem_fail(socle_err *err, const elem_path *path, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int elem_fail(socle_err *err, const elem_path *path, const char *key, const char *fmt, ...)
{
    char where[256], rule[320];
    size_t len = 0;
    where[0] = 0;
    elem_path_render(path, where, sizeof where, &len);
    if (key) {
        elem_path_append(where, sizeof where, &len, ".");
        elem_path_append(where, sizeof where, &len, key);
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rule, sizeof rule, fmt, ap);
    va_end(ap);
    return socle_err_at(err, SOCLE_EUNPROCESSABLE, where, "%s: %s", where, rule);
}

/* --- primitive lexical rules --- */

/* Bytes of the whitespace character at p (what a JavaScript regex's \s matches, as the R4 JSON
 * schema's patterns are written for), or 0. */
static size_t elem_space(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c == ' ' || (c >= 0x09 && c <= 0x0d)) return 1;
    if (c < 0xc2) return 0;
    if (c == 0xc2) return n >= 2 && p[1] == 0xa0 ? 2 : 0; /* U+00A0 */
    if (n < 3) return 0;
    if (c == 0xe1) return p[1] == 0x9a && p[2] == 0x80 ? 3 : 0; /* U+1680 */
    if (c == 0xe2 && p[1] == 0x80)                              /* U+2000-200A, 2028, 2029, 202F */
        return (p[2] >= 0x80 && p[2] <= 0x8a) || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf ? 3 : 0;
    if (c == 0xe2) return p[1] == 0x81 && p[2] == 0x9f ? 3 : 0; /* U+205F */
    if (c == 0xe3) return p[1] == 0x80 && p[2] == 0x80 ? 3 : 0; /* U+3000 */
    if (c == 0xef) return p[1] == 0xbb && p[2] == 0xbf ? 3 : 0; /* U+FEFF */
    return 0;
}

/* string, markdown: [ \r\n\t\S]+, and (R4 string) no character below U+0020 but tab, CR, LF. */
static int elem_valid_string(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned c = s[i];
        if (c >= 0x20 && c < 0x80) continue;
        if (c < 0x20) {
            if (c != '\t' && c != '\n' && c != '\r') return 0;
        } else if (elem_space(s + i, n - i)) {
            return 0;
        }
    }
    return 1;
}

/* code: [^\s]+(\s[^\s]+)* - no leading, trailing or repeated whitespace; no control character. */
static int elem_valid_code(const unsigned char *s, size_t n)
{
    int prev_space = 1; /* refuses leading whitespace */
    for (size_t i = 0; i < n;) {
        size_t w = elem_space(s + i, n - i);
        if (w) {
            if (prev_space) return 0;
            prev_space = 1;
            i += w;
            continue;
        }
        if (s[i] < 0x20) return 0;
        prev_space = 0;
        i++;
    }
    return !prev_space;
}

/* uri, url, canonical: \S* - no whitespace, no control character. */
static int elem_valid_uri(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || (s[i] >= 0x80 && elem_space(s + i, n - i))) return 0;
    return 1;
}

static int elem_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* oid: urn:oid:[0-2](\.(0|[1-9][0-9]*))+ */
static int elem_valid_oid(const char *s, size_t n)
{
    if (n < 10 || strncmp(s, "urn:oid:", 8) || s[8] < '0' || s[8] > '2') return 0;
    size_t i = 9;
    int arcs = 0;
    while (i < n) {
        if (s[i] != '.' || i + 1 >= n || !elem_digit(s[i + 1])) return 0;
        i++;
        if (s[i] == '0' && i + 1 < n && elem_digit(s[i + 1])) return 0;
        while (i < n && elem_digit(s[i]))
            i++;
        arcs++;
    }
    return arcs > 0;
}

/* uuid: urn:uuid: and 8-4-4-4-12 lowercase hex digits. */
static int elem_valid_uuid(const char *s, size_t n)
{
    if (n != 45 || strncmp(s, "urn:uuid:", 9)) return 0;
    for (size_t i = 9; i < n; i++) {
        size_t k = i - 9;
        if (k == 8 || k == 13 || k == 18 || k == 23) {
            if (s[i] != '-') return 0;
        } else if (!elem_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f')) {
            return 0;
        }
    }
    return 1;
}

/* base64Binary: (\s*[0-9a-zA-Z+/=]{4}\s*)+ - whitespace only between groups of four; '=' only
 * as padding at the end. */
static int elem_valid_base64(const char *s, size_t n)
{
    size_t count = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!pad) { /* the long runs of the alphabet, at once */
            size_t run = crypto_b64_span(s + i, n - i);
            count += run;
            if ((i += run) == n) break;
        }
        char c = s[i];
        if (c == ' ' || (c >= 0x09 && c <= 0x0d)) {
            if (count % 4) return 0;
        } else if (c == '=') {
            if (++pad > 2) return 0;
            count++;
        } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || elem_digit(c) || c == '+' ||
                   c == '/') {
            if (pad) return 0;
            count++;
        } else {
            return 0;
        }
    }
    return count > 0 && count % 4 == 0;
}

/* time: ([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)? */
static int elem_valid_time(const char *s, size_t n)
{
    if (n < 8 || !elem_digit(s[0]) || !elem_digit(s[1]) || s[2] != ':' || !elem_digit(s[3]) ||
        !elem_digit(s[4]) || s[5] != ':' || !elem_digit(s[6]) || !elem_digit(s[7]))
        return 0;
    int h = (s[0] - '0') * 10 + s[1] - '0', m = (s[3] - '0') * 10 + s[4] - '0',
        sec = (s[6] - '0') * 10 + s[7] - '0';
    if (h > 23 || m > 59 || sec > 60) return 0;
    if (n == 8) return 1;
    if (s[8] != '.' || n == 9) return 0;
    for (size_t i = 9; i < n; i++)
        if (!elem_digit(s[i])) return 0;
    return 1;
}

/* The schema's zone is (0[0-9]|1[0-3]):[0-5][0-9] or 14:00; time_parse_fhir allows up to 14:59. */
static int elem_valid_zone(const char *s, size_t n)
{
    if (n < 6 || (s[n - 6] != '+' && s[n - 6] != '-') || s[n - 3] != ':') return 1;
    return !(s[n - 5] == '1' && s[n - 4] == '4' && (s[n - 2] != '0' || s[n - 1] != '0'));
}

static int elem_enum_has(const fhir_enumset *es, const char *s)
{
    size_t lo = es->first, hi = (size_t)es->first + es->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s, elem_str(fhir_r4_enum_values[mid]));
        if (c == 0) return 1;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

static int elem_fail_enum(socle_err *err, const elem_path *path, const fhir_enumset *es)
{
    char list[256];
    size_t len = 0;
    list[0] = 0;
    for (size_t i = 0; i < es->count && es->count <= 12; i++) {
        if (i) elem_path_append(list, sizeof list, &len, " | ");
        elem_path_append(list, sizeof list, &len, elem_str(fhir_r4_enum_values[es->first + i]));
    }
    if (es->count <= 12 && len + 1 < sizeof list)
        return elem_fail(err, path, NULL, "not a code R4 allows here (%s)", list);
    return elem_fail(err, path, NULL, "not one of the %u codes R4 allows here", (unsigned)es->count);
}

static int elem_check_primitive(const fhir_element_info *e, const json_t *v, const elem_path *path,
                                socle_err *err)
{
    const char *kname = elem_kind_names[e->kind];
    switch (e->kind) {
    case FHIR_EK_BOOLEAN:
        if (!json_is_boolean(v)) return elem_fail(err, path, NULL, "must be true or false (FHIR boolean)");
        return 0;
    case FHIR_EK_DECIMAL:
        if (!json_is_number(v)) return elem_fail(err, path, NULL, "must be a JSON number (FHIR decimal)");
        return 0;
    case FHIR_EK_INTEGER:
    case FHIR_EK_POSITIVEINT:
    case FHIR_EK_UNSIGNEDINT: {
        if (!json_is_integer(v)) return elem_fail(err, path, NULL, "must be a JSON integer (FHIR %s)", kname);
        json_int_t i = json_integer_value(v);
        json_int_t min = e->kind == FHIR_EK_INTEGER       ? -2147483647 - 1
                         : e->kind == FHIR_EK_POSITIVEINT ? 1
                                                          : 0;
        if (i < min || i > 2147483647)
            return elem_fail(err, path, NULL, "out of the range of FHIR %s (%lld..2147483647)", kname,
                             (long long)min);
        return 0;
    }
    default:
        break;
    }
    if (!json_is_string(v)) return elem_fail(err, path, NULL, "must be a JSON string (FHIR %s)", kname);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0) return elem_fail(err, path, NULL, "empty strings are not allowed");
    const unsigned char *u = (const unsigned char *)s;
    int64_t lo, hi;
    socle_err derr;
    switch (e->kind) {
    case FHIR_EK_XHTML: /* the schema says nothing of xhtml; XML holds no control characters */
        for (size_t i = 0; i < n; i++)
            if (u[i] < 0x20 && u[i] != '\t' && u[i] != '\n' && u[i] != '\r')
                return elem_fail(err, path, NULL, "FHIR xhtml may not hold control characters");
        break;
    case FHIR_EK_STRING:
    case FHIR_EK_MARKDOWN:
        if (!elem_valid_string(u, n))
            return elem_fail(
                err, path, NULL,
                "a FHIR %s may not hold control characters or whitespace other than space, tab, CR, LF",
                kname);
        break;
    case FHIR_EK_CODE:
        if (!elem_valid_code(u, n))
            return elem_fail(err, path, NULL,
                             "not a valid FHIR code (no leading, trailing or repeated whitespace)");
        break;
    case FHIR_EK_ID:
        if (!id_fhir_valid(s) || n > 64)
            return elem_fail(err, path, NULL, "not a valid FHIR id ([A-Za-z0-9-.]{1,64})");
        break;
    case FHIR_EK_URI:
    case FHIR_EK_URL:
    case FHIR_EK_CANONICAL:
        if (!elem_valid_uri(u, n))
            return elem_fail(err, path, NULL, "a FHIR %s may not contain whitespace", kname);
        break;
    case FHIR_EK_OID:
        if (!elem_valid_oid(s, n))
            return elem_fail(err, path, NULL, "not a valid FHIR oid (urn:oid:1.2.3...)");
        break;
    case FHIR_EK_UUID:
        if (!elem_valid_uuid(s, n))
            return elem_fail(err, path, NULL,
                             "not a valid FHIR uuid (urn:uuid: and lowercase 8-4-4-4-12 hex)");
        break;
    case FHIR_EK_BASE64BINARY:
        if (!elem_valid_base64(s, n))
            return elem_fail(err, path, NULL, "not valid base64 (FHIR base64Binary)");
        break;
    case FHIR_EK_DATE:
        if (!time_valid_fhir_date(s))
            return elem_fail(err, path, NULL, "not a valid FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)");
        break;
    case FHIR_EK_DATETIME:
        if (time_parse_fhir(s, &lo, &hi, &derr))
            return elem_fail(err, path, NULL, "FHIR dateTime: %s", derr.msg);
        if (!elem_valid_zone(s, n)) return elem_fail(err, path, NULL, "FHIR dateTime: bad time zone");
        break;
    case FHIR_EK_INSTANT:
        if (n <= 10 || s[10] != 'T')
            return elem_fail(err, path, NULL, "a FHIR instant needs a date, a time to the second and a zone");
        if (time_parse_fhir(s, &lo, &hi, &derr))
            return elem_fail(err, path, NULL, "FHIR instant: %s", derr.msg);
        if (!elem_valid_zone(s, n)) return elem_fail(err, path, NULL, "FHIR instant: bad time zone");
        break;
    case FHIR_EK_TIME:
        if (!elem_valid_time(s, n))
            return elem_fail(err, path, NULL, "not a valid FHIR time (hh:mm:ss[.fff])");
        break;
    default:
        return elem_fail(err, path, NULL, "unexpected element kind %d", e->kind);
    }
    if (e->enumset && !elem_enum_has(&fhir_r4_enumsets[e->enumset], s))
        return elem_fail_enum(err, path, &fhir_r4_enumsets[e->enumset]);
    return 0;
}

/* --- the walk --- */

static int elem_object(const fhir_definition *d, const json_t *obj, const elem_path *path, int depth,
                       socle_err *err);

static int elem_resource(const json_t *v, const elem_path *path, int depth, socle_err *err)
{
    if (!json_is_object(v)) return elem_fail(err, path, NULL, "must be a resource (a JSON object)");
    const char *rt = json_string_value(json_object_get(v, "resourceType"));
    if (!rt) return elem_fail(err, path, "resourceType", "a resource needs its resourceType");
    int di = fhir_elements_definition(rt);
    if (di < 0 || !(fhir_r4_defs[di].flags & FHIR_DF_RESOURCE))
        return elem_fail(err, path, "resourceType", "not a FHIR R4 resource type");
    /* dom-2: a contained resource holds no contained resources. (dom-4, no versionId in a
     * contained resource, is not enforced: the ANS PDSm examples carry one.) */
    int contained = !path->key && path->up && path->up->key && !strcmp(path->up->key, "contained");
    if (contained && json_object_get(v, "contained"))
        return elem_fail(err, path, "contained", "a contained resource cannot contain resources (dom-2)");
    return elem_object(&fhir_r4_defs[di], v, path, depth + 1, err);
}

/* One non-null, non-array value of element e. */
static int elem_item(const fhir_element_info *e, const json_t *v, const elem_path *path, int depth,
                     socle_err *err)
{
    if (e->kind == FHIR_EK_COMPLEX) {
        const fhir_definition *d = &fhir_r4_defs[e->def];
        if (!json_is_object(v))
            return elem_fail(err, path, NULL, "must be a JSON object (FHIR %s)", elem_str(d->name));
        return elem_object(d, v, path, depth + 1, err);
    }
    if (e->kind == FHIR_EK_RESOURCE) return elem_resource(v, path, depth, err);
    return elem_check_primitive(e, v, path, err);
}

/* 1 if `other` (the sibling array of a primitive array: "_name" for "name" and back) has a
 * non-null item at index i: a null item is then allowed. */
static int elem_paired(const json_t *other, size_t i)
{
    const json_t *o = json_is_array(other) ? json_array_get(other, i) : NULL;
    return o && !json_is_null(o);
}

/* Element e's value v, from key `key` of obj ("_name" when ext is set: the primitive's Element). */
static int elem_value(const fhir_definition *d, const fhir_element_info *e, const json_t *obj,
                      const char *key, int ext, const json_t *v, const elem_path *path, int depth,
                      socle_err *err)
{
    /* "_name" holds an Element (id, extension) where "name" holds the primitive. */
    const fhir_element_info element_info = {0, (uint16_t)fhir_r4_def_element, 0, FHIR_EK_COMPLEX, 0};
    const fhir_element_info *as = ext ? &element_info : e;
    if (json_is_null(v)) return elem_fail(err, path, NULL, "null is not allowed here");
    if (!(e->flags & FHIR_EF_ARRAY)) {
        if (json_is_array(v))
            return elem_fail(err, path, NULL, "must be a single value, not an array (FHIR R4 %s)",
                             elem_str(d->name));
        return elem_item(as, v, path, depth, err);
    }
    if (!json_is_array(v))
        return elem_fail(err, path, NULL, "must be an array (FHIR R4 %s)", elem_str(d->name));
    size_t n = json_array_size(v);
    if (n == 0) return elem_fail(err, path, NULL, "empty arrays are not allowed");
    /* The sibling of a primitive array: the same length, and a null on one side needs a value on
     * the other. */
    const json_t *other = NULL;
    if (e->flags & FHIR_EF_PRIMEXT) {
        char sib[80];
        if (ext)
            snprintf(sib, sizeof sib, "%s", key + 1);
        else
            snprintf(sib, sizeof sib, "_%s", key);
        other = json_object_get(obj, sib);
        if (ext && json_is_array(other) && json_array_size(other) != n)
            return elem_fail(err, path, NULL, "must have as many items as its primitive array");
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(v, i);
        elem_path step = {path, NULL, i};
        int rc;
        if (json_is_null(item))
            rc = elem_paired(other, i) ? 0 : elem_fail(err, &step, NULL, "null is not allowed here");
        else if (json_is_array(item))
            rc = elem_fail(err, &step, NULL, "arrays of arrays are not FHIR");
        else
            rc = elem_item(as, item, &step, depth, err);
        if (rc) return rc;
    }
    return 0;
}

/* Key names the path may show: [A-Za-z_][A-Za-z0-9_]{0,63} (anything else is refused unnamed). */
static int elem_valid_name(const char *key)
{
    size_t i = 0;
    for (; key[i]; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i && elem_digit(c))) ||
            i >= 64)
            return 0;
    }
    return i > 0;
}

/* 1 when s names a FHIR data type as it ends a choice element ("Boolean", "DateTime", "Quantity"). */
static int elem_is_type_suffix(const char *s)
{
    static const char *const primitives[] = {"Base64Binary", "Boolean", "Canonical", "Code", "Date", "DateTime",
                                             "Decimal", "Id", "Instant", "Integer", "Markdown", "Oid", "PositiveInt",
                                             "String", "Time", "UnsignedInt", "Uri", "Url", "Uuid", NULL};
    if (*s < 'A' || *s > 'Z') return 0;
    for (int i = 0; primitives[i]; i++)
        if (!strcmp(s, primitives[i])) return 1;
    int di = strchr(s, '_') ? -1 : fhir_elements_definition(s);
    return di >= 0 && !(fhir_r4_defs[di].flags & FHIR_DF_RESOURCE);
}

/* A choice element ([x]) appears once: "deceasedBoolean" and "deceasedDateTime" together are two
 * values for one element. Returns the second key found, or NULL. */
static const char *elem_second_choice(const json_t *obj)
{
    const char *a, *b;
    const json_t *va, *vb;
    json_object_foreach((json_t *)obj, a, va) {
        if (a[0] == '_') continue;
        int past = 0;
        json_object_foreach((json_t *)obj, b, vb) {
            if (b == a) {
                past = 1;
                continue;
            }
            if (!past || b[0] == '_') continue;
            size_t n = 0;
            while (a[n] && a[n] == b[n]) n++;
            /* back to the start of the type name both keys end with */
            while (n && !(a[n] >= 'A' && a[n] <= 'Z')) n--;
            if (n && elem_is_type_suffix(a + n) && elem_is_type_suffix(b + n)) return b;
        }
    }
    return NULL;
}

static int elem_object(const fhir_definition *d, const json_t *obj, const elem_path *path, int depth,
                       socle_err *err)
{
    if (depth > FHIR_ELEMENTS_MAX_DEPTH) return elem_fail(err, path, NULL, "nested too deeply");
    if (json_object_size(obj) == 0) return elem_fail(err, path, NULL, "empty objects are not allowed");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        if ((d->flags & FHIR_DF_RESOURCE) && !strcmp(key, "resourceType")) {
            if (!json_is_string(v) || strcmp(json_string_value(v), elem_str(d->name)))
                return elem_fail(err, path, key, "must be %s", elem_str(d->name));
            continue;
        }
        if (!elem_valid_name(key))
            return elem_fail(err, path, NULL, "holds an element whose name is not a FHIR element name");
        int ext = key[0] == '_';
        const fhir_element_info *e = elem_find(d, key + ext);
        if (!e || (ext && !(e->flags & FHIR_EF_PRIMEXT)))
            return elem_fail(err, path, key, "unknown element (not in FHIR R4 %s)", elem_str(d->name));
        elem_path step = {path, key, 0};
        int rc = elem_value(d, e, obj, key, ext, v, &step, depth, err);
        if (rc) return rc;
    }
    if (json_object_size(obj) > 1) {
        const char *second = elem_second_choice(obj);
        if (second)
            return elem_fail(err, path, second, "a choice element [x] takes one type only, and another is given");
    }
    /* ext-1: an extension has either a value or extensions, not both. */
    if (json_object_get(obj, "extension") && json_object_get(obj, "url") && !strcmp(elem_str(d->name), "Extension")) {
        const char *k;
        const json_t *kv;
        json_object_foreach((json_t *)obj, k, kv) {
            if (!strncmp(k, "value", 5) && k[5] >= 'A' && k[5] <= 'Z')
                return elem_fail(err, path, k, "an extension has a value or extensions, not both (ext-1)");
        }
    }
    /* ele-1: every element has a value or children; an id alone is neither. */
    if (!(d->flags & FHIR_DF_RESOURCE) && d != &fhir_r4_defs[fhir_r4_def_element] && json_object_size(obj) == 1 &&
        json_object_get(obj, "id"))
        return elem_fail(err, path, NULL, "must have a value or children, not only an id (ele-1)");
    if (d->nreq) {
        for (size_t i = d->first; i < (size_t)d->first + d->count; i++) {
            const fhir_element_info *e = &fhir_r4_elements[i];
            if ((e->flags & FHIR_EF_REQUIRED) && !json_object_get(obj, elem_str(e->name)))
                return elem_fail(err, path, elem_str(e->name), "required element missing (FHIR R4 %s)",
                                 elem_str(d->name));
        }
    }
    return 0;
}

int fhir_validate_elements(const char *type, const json_t *resource, socle_err *err)
{
    int di = fhir_elements_definition(type);
    if (di < 0 || !(fhir_r4_defs[di].flags & FHIR_DF_RESOURCE))
        return socle_err_set(err, SOCLE_EUNPROCESSABLE, "not a FHIR R4 resource type");
    if (!json_is_object(resource))
        return socle_err_set(err, SOCLE_EUNPROCESSABLE, "the body is not a FHIR resource (a JSON object)");
    elem_path root = {NULL, elem_str(fhir_r4_defs[di].name), 0};
    return elem_object(&fhir_r4_defs[di], resource, &root, 0, err);
}
