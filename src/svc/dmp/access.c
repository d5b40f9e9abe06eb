/* access.c - the DMP's access decision (dmp.md, "Access — who reads what"): one pure function
 * deciding whether a reader (a professional, the patient, a legal representative) sees a document,
 * from the record's state, the patient's controls, the reader's mode and the matrice
 * d'habilitation; and the coarser check of whether a reader may open the record at all.
 *
 * Order of precedence in dmp_access_decide:
 *   1. the record must be active;
 *   2. the patient reads everything but INVISIBLE_PATIENT documents; a legal representative also
 *      misses INVISIBLE_REPRESENTANTS_LEGAUX ones;
 *   3. a professional: the author always reads; then a block by the patient, MASQUE_PS (only the
 *      médecin traitant passes, in every mode), the matrix, and the access mode.
 *
 * Reasons name the rule and codes (profession, class), never health data. */
#include "svc/dmp/access.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Codes put in a reason are truncated so a hostile value cannot flood a log line. */
#define CODE_MAX 32

static int decide(int verdict, char *reason, size_t reason_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int decide(int verdict, char *reason, size_t reason_len, const char *fmt, ...)
{
    if (reason && reason_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, reason_len, fmt, ap);
        va_end(ap);
    }
    return verdict;
}

const char *dmp_mode_name(dmp_mode m)
{
    switch (m) {
    case DMP_MODE_NORMAL:
        return "normal";
    case DMP_MODE_BRIS_DE_GLACE:
        return "bris_de_glace";
    case DMP_MODE_CENTRE_15:
        return "centre_15";
    }
    return "unknown";
}

int dmp_mode_parse(const char *s, dmp_mode *out)
{
    static const dmp_mode modes[] = {DMP_MODE_NORMAL, DMP_MODE_BRIS_DE_GLACE, DMP_MODE_CENTRE_15};
    if (!s || !out) return -1;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(s, dmp_mode_name(modes[i])) == 0) {
            *out = modes[i];
            return 0;
        }
    }
    return -1;
}

const char *dmp_record_state_name(dmp_record_state s)
{
    switch (s) {
    case DMP_RECORD_NONE:
        return "none";
    case DMP_RECORD_ACTIVE:
        return "active";
    case DMP_RECORD_CLOSED:
        return "closed";
    case DMP_RECORD_OPPOSED:
        return "opposed";
    }
    return "unknown";
}

/* Rule 1: 1 when the record is active, else 0 with the reason. */
static int record_open(const dmp_record_facts *record, char *reason, size_t reason_len)
{
    switch (record->state) {
    case DMP_RECORD_ACTIVE:
        return 1;
    case DMP_RECORD_CLOSED:
        return decide(0, reason, reason_len, "the record is closed");
    case DMP_RECORD_OPPOSED:
        return decide(0, reason, reason_len, "the patient opposed the DMP");
    case DMP_RECORD_NONE:
        break;
    }
    return decide(0, reason, reason_len, "no record");
}

static int is_author(const dmp_reader *reader, const dmp_document_facts *doc)
{
    if (!reader->id || !reader->id[0] || !doc->author_ids) return 0;
    for (int i = 0; i < doc->nauthors; i++)
        if (doc->author_ids[i] && strcmp(doc->author_ids[i], reader->id) == 0) return 1;
    return 0;
}

static const char *code_or_dash(const char *s)
{
    return s && s[0] ? s : "-";
}

/* Rule 3e, shared with dmp_access_may_open_record: does the reader's standing (authorisation,
 * médecin traitant, or an emergency mode the patient did not oppose) let them in? An authorised
 * reader or the médecin traitant needs no emergency mode, so the patient's opposition to a mode
 * does not shut them out. */
static int mode_allows(const dmp_record_facts *record, const dmp_reader *reader, char *reason,
                       size_t reason_len)
{
    if (reader->medecin_traitant) return decide(1, reason, reason_len, "medecin traitant");
    if (reader->authorised) return decide(1, reason, reason_len, "authorised by the patient or care team");
    switch (reader->mode) {
    case DMP_MODE_NORMAL:
        return decide(0, reason, reason_len, "no access authorisation");
    case DMP_MODE_BRIS_DE_GLACE:
        if (record->opposes_bris_de_glace)
            return decide(0, reason, reason_len, "the patient opposed bris de glace");
        return decide(1, reason, reason_len, "bris de glace");
    case DMP_MODE_CENTRE_15:
        if (record->opposes_centre_15) return decide(0, reason, reason_len, "the patient opposed centre 15");
        return decide(1, reason, reason_len, "centre 15");
    }
    return decide(0, reason, reason_len, "unknown access mode");
}

int dmp_access_decide(const dmp_matrix *m, const dmp_record_facts *record, const dmp_reader *reader,
                      const dmp_document_facts *doc, char *reason, size_t reason_len)
{
    if (!record || !reader || !doc) return decide(0, reason, reason_len, "missing facts");
    if (!record_open(record, reason, reason_len)) return 0;

    switch (reader->kind) {
    case DMP_READER_PATIENT:
    case DMP_READER_LEGAL_REPRESENTATIVE:
        if (doc->invisible_patient) return decide(0, reason, reason_len, "not yet announced to the patient");
        if (reader->kind == DMP_READER_LEGAL_REPRESENTATIVE && doc->invisible_representatives)
            return decide(0, reason, reason_len, "hidden from legal representatives");
        return decide(1, reason, reason_len,
                      reader->kind == DMP_READER_PATIENT ? "patient" : "legal representative");
    case DMP_READER_PROFESSIONAL:
        break;
    default:
        return decide(0, reason, reason_len, "unknown reader");
    }

    if (is_author(reader, doc)) return decide(1, reason, reason_len, "author");
    if (reader->blocked) return decide(0, reason, reason_len, "blocked by the patient");
    if (doc->masked && !reader->medecin_traitant)
        return decide(0, reason, reason_len, "masked by the patient");
    if (!reader->profession || !reader->profession[0]) return decide(0, reason, reason_len, "no profession");
    if (!m || !doc->class_code ||
        !dmp_matrix_allows(m, reader->profession, reader->speciality, doc->class_code, doc->type_code))
        return decide(0, reason, reason_len, "profession %.*s may not read class %.*s", CODE_MAX,
                      reader->profession, CODE_MAX, code_or_dash(doc->class_code));
    return mode_allows(record, reader, reason, reason_len);
}

int dmp_access_may_open_record(const dmp_record_facts *record, const dmp_reader *reader, char *reason,
                               size_t reason_len)
{
    if (!record || !reader) return decide(0, reason, reason_len, "missing facts");
    if (!record_open(record, reason, reason_len)) return 0;
    switch (reader->kind) {
    case DMP_READER_PATIENT:
        return decide(1, reason, reason_len, "patient");
    case DMP_READER_LEGAL_REPRESENTATIVE:
        return decide(1, reason, reason_len, "legal representative");
    case DMP_READER_PROFESSIONAL:
        break;
    default:
        return decide(0, reason, reason_len, "unknown reader");
    }
    if (reader->blocked) return decide(0, reason, reason_len, "blocked by the patient");
    return mode_allows(record, reader, reason, reason_len);
}
