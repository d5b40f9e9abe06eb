/* extract.c - the directory extracts' reader (see extract.h): kind detection from the first line,
 * header-name column mapping, field splitting, and the Windows-1252 conversion of etalab's FINESS
 * file. Header names are compared in their folded form (text_fold) with any "(...)" qualifier and
 * surrounding spaces removed: "Code postal (coord. structure)" is "code postal". */
#include "svc/annuaire/extract.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/text.h"

typedef struct column_name {
    int field;
    const char *name;  /* as folded: lower case, no accents, apostrophes as spaces */
    int required;
} column_name;

static const column_name PS_COLUMNS[] = {
    {PS_ID_TYPE, "type d identifiant pp", 1},
    {PS_ID, "identifiant pp", 1},
    {PS_IDNPS, "identification nationale pp", 1},
    {PS_CIVEX_CODE, "code civilite d exercice", 0},
    {PS_CIV_CODE, "code civilite", 0},
    {PS_FAMILY, "nom d exercice", 1},
    {PS_GIVEN, "prenom d exercice", 1},
    {PS_PROF_CODE, "code profession", 1},
    {PS_PROF_LABEL, "libelle profession", 0},
    {PS_CAT_CODE, "code categorie professionnelle", 0},
    {PS_SF_TYPE_CODE, "code type savoir faire", 0},
    {PS_SF_CODE, "code savoir faire", 0},
    {PS_SF_LABEL, "libelle savoir faire", 0},
    {PS_MODE_CODE, "code mode exercice", 0},
    {PS_SIRET, "numero siret site", 0},
    {PS_SIREN, "numero siren site", 0},
    {PS_FINESS, "numero finess site", 0},
    {PS_FINESS_EJ, "numero finess etablissement juridique", 0},
    {PS_STRUCT_ID, "identifiant technique de la structure", 1},
    {PS_NAME, "raison sociale site", 0},
    {PS_ENSEIGNE, "enseigne commerciale site", 0},
    {PS_COMPL_DEST, "complement destinataire", 0},
    {PS_COMPL_GEO, "complement point geographique", 0},
    {PS_NUM_VOIE, "numero voie", 0},
    {PS_INDICE, "indice repetition voie", 0},
    {PS_TYPE_VOIE, "code type de voie", 0},
    {PS_TYPE_VOIE_LABEL, "libelle type de voie", 0},
    {PS_VOIE, "libelle voie", 0},
    {PS_MENTION, "mention distribution", 0},
    {PS_CEDEX, "bureau cedex", 0},
    {PS_POSTAL_CODE, "code postal", 0},
    {PS_COMMUNE_CODE, "code commune", 0},
    {PS_COMMUNE, "libelle commune", 0},
    {PS_COUNTRY_CODE, "code pays", 0},
    {PS_PHONE, "telephone", 0},
    {PS_PHONE2, "telephone 2", 0},
    {PS_FAX, "telecopie", 0},
    {PS_EMAIL, "adresse e mail", 0},
    {PS_DEPT_CODE, "code departement", 0},
    {PS_OLD_STRUCT_ID, "ancien identifiant de la structure", 0},
    {PS_AUTHORITY, "autorite d enregistrement", 0},
    {PS_SECTOR_CODE, "code secteur d activite", 0},
    {PS_SECTOR_LABEL, "libelle secteur d activite", 0},
    {PS_SECTION_CODE, "code section tableau pharmaciens", 0},
    {-1, NULL, 0},
};

static const column_name MSS_COLUMNS[] = {
    {MSS_TYPE, "type de bal", 1},
    {MSS_ADDRESS, "adresse bal", 1},
    {MSS_PP_ID_TYPE, "type identifiant pp", 0},
    {MSS_PP_ID, "identifiant pp", 0},
    {MSS_IDNPS, "identification nationale pp", 1},
    {MSS_STRUCT_ID_TYPE, "type identifiant structure", 0},
    {MSS_STRUCT_ID, "identification structure", 1},
    {MSS_SERVICE, "service de rattachement", 0},
    {MSS_DEMAT, "dematerialisation", 0},
    {-1, NULL, 0},
};

/* etalab cs1100507 `structureet` fields, in their published order (the banner form has no header). */
static const column_name FINESS_COLUMNS[] = {
    {FIN_SECTION, "section", 0},
    {FIN_FINESS, "nofinesset", 1},
    {FIN_FINESS_EJ, "nofinessej", 0},
    {FIN_NAME, "rs", 1},
    {FIN_LONG_NAME, "rslongue", 0},
    {FIN_COMPL_NAME, "complrs", 0},
    {FIN_COMPL_DIST, "compldistrib", 0},
    {FIN_NUM_VOIE, "numvoie", 0},
    {FIN_TYPE_VOIE, "typvoie", 0},
    {FIN_VOIE, "voie", 0},
    {FIN_COMP_VOIE, "compvoie", 0},
    {FIN_LIEU_DIT, "lieuditbp", 0},
    {FIN_COMMUNE, "commune", 0},
    {FIN_DEPT, "departement", 0},
    {FIN_DEPT_LABEL, "libdepartement", 0},
    {FIN_ACHEMINEMENT, "ligneacheminement", 0},
    {FIN_PHONE, "telephone", 0},
    {FIN_FAX, "telecopie", 0},
    {FIN_CATEGORY, "categetab", 0},
    {FIN_CATEGORY_LABEL, "libcategetab", 0},
    {FIN_AGR_CATEGORY, "categagretab", 0},
    {FIN_AGR_CATEGORY_LABEL, "libcategagretab", 0},
    {FIN_SIRET, "siret", 0},
    {FIN_APE, "codeape", 0},
    {-1, NULL, 0},
};

struct annuaire_extract {
    FILE *in;
    annuaire_extract_kind kind;
    char sep;
    int banner;             /* FINESS as etalab publishes it: fixed order, Windows-1252 */
    int ncolumns;           /* fields per line (a trailing separator adds one empty field) */
    int map[ANNUAIRE_EXTRACT_MAX_FIELDS];   /* field -> column index, -1 when absent */
    int nfields;
    char *line;
    size_t cap;
    socle_buf utf8;         /* the converted line (banner FINESS) */
    uint64_t lineno, bytes;
};

/* The folded header name: text_fold, the "(...)" qualifier cut, spaces trimmed. */
static void column_fold(socle_buf *out, const char *s, size_t n)
{
    buf_reset(out);
    const char *paren = memchr(s, '(', n);
    if (paren) n = (size_t)(paren - s);
    text_fold(out, s, n);
    buf_putc(out, 0);
    char *t = out->data;
    size_t len = strlen(t);
    while (len && t[len - 1] == ' ') t[--len] = 0;
    size_t lead = strspn(t, " ");
    if (lead) memmove(t, t + lead, len - lead + 1);
}

/* Windows-1252 bytes 0x80-0x9F as Unicode code points (0 for the five undefined ones). */
static const uint16_t CP1252_HIGH[32] = {
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
    0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
};

static void put_utf8(socle_buf *b, unsigned cp)
{
    if (cp < 0x80) {
        buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        buf_putc(b, (char)(0xC0 | (cp >> 6)));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        buf_putc(b, (char)(0xE0 | (cp >> 12)));
        buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    }
}

/* Convert a Windows-1252 line to UTF-8 into b; -1 when it holds an undefined byte. */
static int cp1252_to_utf8(socle_buf *b, const char *s, size_t n)
{
    buf_reset(b);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        unsigned cp = c >= 0x80 && c < 0xA0 ? CP1252_HIGH[c - 0x80] : c;
        if (!cp && c) return -1;
        put_utf8(b, cp);
    }
    buf_putc(b, 0);
    return buf_ok(b) ? 0 : -1;
}

/* Read one line without its end of line; 1, 0 at the end, SOCLE_EIO. */
static int read_line(annuaire_extract *x, size_t *len)
{
    ssize_t n = getline(&x->line, &x->cap, x->in);
    if (n < 0) return ferror(x->in) ? SOCLE_EIO : 0;
    x->bytes += (uint64_t)n;
    x->lineno++;
    while (n && (x->line[n - 1] == '\n' || x->line[n - 1] == '\r')) x->line[--n] = 0;
    *len = (size_t)n;
    return 1;
}

/* Split s in place at sep into at most max fields; the count (max + 1 when there are more). */
static int split(char *s, char sep, char **fields, int max)
{
    int n = 0;
    for (;;) {
        if (n == max) return max + 1;
        fields[n++] = s;
        char *e = strchr(s, sep);
        if (!e) return n;
        *e = 0;
        s = e + 1;
    }
}

static int map_header(annuaire_extract *x, const column_name *cols, char **names, int n, socle_err *err)
{
    socle_buf folded = SOCLE_BUF_INIT;
    for (int i = 0; i < ANNUAIRE_EXTRACT_MAX_FIELDS; i++) x->map[i] = -1;
    for (int c = 0; c < n; c++) {
        column_fold(&folded, names[c], strlen(names[c]));
        if (!buf_ok(&folded)) break;
        for (int k = 0; cols[k].name; k++)
            if (x->map[cols[k].field] < 0 && !strcmp(folded.data, cols[k].name)) {
                x->map[cols[k].field] = c;
                break;
            }
    }
    buf_free(&folded);
    int known = 0;
    for (int k = 0; cols[k].name; k++) known += x->map[cols[k].field] >= 0;
    if (!known) return socle_err_set(err, SOCLE_EINVAL, "unknown header: not a PS_LibreAcces, MSSanté or FINESS extract");
    socle_buf missing = SOCLE_BUF_INIT;
    for (int k = 0; cols[k].name; k++)
        if (cols[k].required && x->map[cols[k].field] < 0) buf_printf(&missing, "%s\"%s\"", missing.len ? ", " : "", cols[k].name);
    int rc = 0;
    if (missing.len)
        rc = socle_err_set(err, SOCLE_EINVAL, "%s header lacks the required column(s) %s",
                           annuaire_extract_kind_name(x->kind), missing.data);
    buf_free(&missing);
    return rc;
}

int annuaire_extract_open(FILE *in, annuaire_extract **out, socle_err *err)
{
    *out = NULL;
    annuaire_extract *x = calloc(1, sizeof *x);
    if (!x) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    x->in = in;
    size_t len;
    int rc = read_line(x, &len);
    if (rc <= 0) {
        annuaire_extract_close(x);
        return rc ? socle_err_set(err, SOCLE_EIO, "cannot read the file")
                  : socle_err_set(err, SOCLE_EINVAL, "the file is empty");
    }
    char *head = x->line;
    if (len >= 3 && !memcmp(head, "\xEF\xBB\xBF", 3)) head += 3, len -= 3; /* a UTF-8 byte order mark */
    char *names[ANNUAIRE_EXTRACT_MAX_FIELDS + 1];
    const column_name *cols = NULL;
    if (!strncmp(head, "finess;etalab", 13)) {
        x->kind = ANNUAIRE_EXTRACT_FINESS;
        x->sep = ';';
        x->banner = 1;
        for (int i = 0; i < ANNUAIRE_EXTRACT_MAX_FIELDS; i++) x->map[i] = -1;
        for (int k = 0; FINESS_COLUMNS[k].name; k++) x->map[FINESS_COLUMNS[k].field] = k;
        x->ncolumns = 32;
        x->nfields = FIN_NFIELDS;
        *out = x;
        return 0;
    }
    if (!text_utf8_valid(head, len)) {
        annuaire_extract_close(x);
        return socle_err_set(err, SOCLE_EINVAL, "the header line is not UTF-8");
    }
    x->sep = strchr(head, '|') ? '|' : ';';
    int n = split(head, x->sep, names, ANNUAIRE_EXTRACT_MAX_FIELDS);
    if (n > ANNUAIRE_EXTRACT_MAX_FIELDS) {
        annuaire_extract_close(x);
        return socle_err_set(err, SOCLE_EINVAL, "the header has more than %d columns", ANNUAIRE_EXTRACT_MAX_FIELDS);
    }
    socle_buf first = SOCLE_BUF_INIT;
    column_fold(&first, names[0], strlen(names[0]));
    if (buf_ok(&first) && x->sep == '|' && !strcmp(first.data, "type de bal")) {
        x->kind = ANNUAIRE_EXTRACT_MSS;
        cols = MSS_COLUMNS;
        x->nfields = MSS_NFIELDS;
    } else if (buf_ok(&first) && x->sep == '|') {
        x->kind = ANNUAIRE_EXTRACT_PS;
        cols = PS_COLUMNS;
        x->nfields = PS_NFIELDS;
    } else if (buf_ok(&first) && x->sep == ';') {
        x->kind = ANNUAIRE_EXTRACT_FINESS;
        cols = FINESS_COLUMNS;
        x->nfields = FIN_NFIELDS;
    }
    buf_free(&first);
    if (!cols) {
        annuaire_extract_close(x);
        return socle_err_set(err, SOCLE_EINVAL, "unknown header: not a PS_LibreAcces, MSSanté or FINESS extract");
    }
    x->ncolumns = n;
    rc = map_header(x, cols, names, n, err);
    if (rc) {
        annuaire_extract_close(x);
        return rc;
    }
    *out = x;
    return 0;
}

annuaire_extract_kind annuaire_extract_kind_of(const annuaire_extract *x)
{
    return x->kind;
}

const char *annuaire_extract_kind_name(annuaire_extract_kind kind)
{
    switch (kind) {
    case ANNUAIRE_EXTRACT_PS: return "PS_LibreAcces";
    case ANNUAIRE_EXTRACT_MSS: return "MSSanté";
    case ANNUAIRE_EXTRACT_FINESS: return "FINESS";
    default: return "extract";
    }
}

int annuaire_extract_next(annuaire_extract *x, annuaire_record *rec, socle_err *why)
{
    for (;;) {
        size_t len;
        int rc = read_line(x, &len);
        if (rc <= 0) return rc ? socle_err_set(why, SOCLE_EIO, "read error") : 0;
        rec->lineno = x->lineno;
        if (!len) continue;
        char *s = x->line;
        if (x->banner) {
            if (strncmp(s, "structureet;", 12)) continue; /* geolocalisation and other sections */
            if (!text_utf8_valid(s, len)) {
                if (cp1252_to_utf8(&x->utf8, s, len))
                    return socle_err_set(why, SOCLE_EUNPROCESSABLE, "neither UTF-8 nor Windows-1252 text");
                s = x->utf8.data;
            }
        } else if (!text_utf8_valid(s, len)) {
            return socle_err_set(why, SOCLE_EUNPROCESSABLE, "the line is not UTF-8");
        }
        char *cols[ANNUAIRE_EXTRACT_MAX_FIELDS + 1];
        int n = split(s, x->sep, cols, ANNUAIRE_EXTRACT_MAX_FIELDS);
        if (n != x->ncolumns && !(x->banner && n >= FIN_NFIELDS && n <= ANNUAIRE_EXTRACT_MAX_FIELDS))
            return socle_err_set(why, SOCLE_EUNPROCESSABLE, "%d fields where the header has %d", n, x->ncolumns);
        for (int f = 0; f < x->nfields; f++) {
            const char *v = x->map[f] >= 0 && x->map[f] < n ? cols[x->map[f]] : "";
            while (*v == ' ') v++;
            char *end = (char *)v + strlen(v);
            while (end > v && end[-1] == ' ') *--end = 0;
            rec->f[f] = v;
        }
        for (int f = x->nfields; f < ANNUAIRE_EXTRACT_MAX_FIELDS; f++) rec->f[f] = "";
        return 1;
    }
}

uint64_t annuaire_extract_bytes(const annuaire_extract *x)
{
    return x->bytes;
}

void annuaire_extract_close(annuaire_extract *x)
{
    if (!x) return;
    free(x->line);
    buf_free(&x->utf8);
    free(x);
}
