/* imap_fetch.c - the IMAP commands that work on messages of the selected folder (RFC 3501
 * §6.4): FETCH, SEARCH, STORE and COPY, and their UID forms; sequence sets; the message
 * attributes (ENVELOPE, BODYSTRUCTURE, BODY[section]<partial>) rendered by mime.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/timeutil.h"
#include "svc/mss/imap_internal.h"
#include "svc/mss/mime.h"

#define IMAP_STAR INT64_MIN
#define IMAP_SEARCH_DEPTH 32
#define IMAP_SEARCH_NEEDLE_MAX 256 /* bytes of a SEARCH string */
#define IMAP_SEARCH_KEYS_MAX 100   /* keys of one SEARCH: each may read every message once */

/* ---- sequence sets -------------------------------------------------------------------------- */

typedef struct imap_range {
    int64_t lo, hi; /* IMAP_STAR for '*' until resolved */
} imap_range;

typedef struct imap_set {
    imap_range *r;
    int n;
} imap_set;

/* imap_number - a number or '*' of a set. */
static int imap_number(const char **p, int64_t *out)
{
    if (**p == '*') {
        (*p)++;
        *out = IMAP_STAR;
        return 0;
    }
    if (!isdigit((unsigned char)**p) || **p == '0') return -1;
    int64_t v = 0;
    while (isdigit((unsigned char)**p)) {
        if (v > 0xffffffffLL) return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return 0;
}

/* imap_set_parse - "1:3,7,9:*" into set (arena). -1 when malformed. */
static int imap_set_parse(imap_session *s, const char *text, imap_set *set)
{
    int count = 1;
    for (const char *p = text; *p; p++) count += *p == ',';
    if (count > 10000) return -1;
    set->r = arena_alloc(s->a, (size_t)count * sizeof *set->r);
    set->n = 0;
    const char *p = text;
    for (;;) {
        imap_range r;
        if (imap_number(&p, &r.lo)) return -1;
        r.hi = r.lo;
        if (*p == ':') {
            p++;
            if (imap_number(&p, &r.hi)) return -1;
        }
        set->r[set->n++] = r;
        if (!*p) return 0;
        if (*p++ != ',') return -1;
    }
}

/* imap_set_has - is v in the set, '*' standing for star? */
static int imap_set_has(const imap_set *set, int64_t v, int64_t star)
{
    for (int i = 0; i < set->n; i++) {
        int64_t a = set->r[i].lo == IMAP_STAR ? star : set->r[i].lo;
        int64_t b = set->r[i].hi == IMAP_STAR ? star : set->r[i].hi;
        if (a > b) {
            int64_t t = a;
            a = b;
            b = t;
        }
        if (v >= a && v <= b) return 1;
    }
    return 0;
}

/* imap_selects - does the set (of sequence numbers, or UIDs when uid) take message i? */
static int imap_selects(const imap_session *s, const imap_set *set, size_t i, int uid)
{
    if (uid) return imap_set_has(set, s->msgs[i].uid, s->n ? s->msgs[s->n - 1].uid : 0);
    return imap_set_has(set, (int64_t)i + 1, (int64_t)s->n);
}

/* imap_uid_set - UIDs (in the order given) as a sequence set, runs of consecutive ones as "a:b". */
static void imap_uid_set(socle_buf *out, const int64_t *uids, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && uids[j + 1] == uids[j] + 1) j++;
        if (i) buf_putc(out, ',');
        if (j > i) buf_printf(out, "%lld:%lld", (long long)uids[i], (long long)uids[j]);
        else buf_printf(out, "%lld", (long long)uids[i]);
        i = j + 1;
    }
}

/* imap_set_valid - sequence numbers must exist (RFC 3501: BAD otherwise); UIDs need not. */
static int imap_set_valid(const imap_session *s, const imap_set *set, int uid)
{
    if (uid) return 1;
    for (int i = 0; i < set->n; i++)
        if ((set->r[i].lo != IMAP_STAR && set->r[i].lo > (int64_t)s->n) ||
            (set->r[i].hi != IMAP_STAR && set->r[i].hi > (int64_t)s->n))
            return 0;
    return 1;
}

void imap_internal_date(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    snprintf(out, n, "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
}

/* ---- message bodies ------------------------------------------------------------------------- */

/* imap_set_flags - store new flags of message i (inside the caller's transaction). */
static int imap_set_flags(imap_session *s, store_conn *c, size_t i, unsigned flags, socle_err *err)
{
    char text[128];
    imap_flags_text(flags, text, sizeof text);
    store_value p[] = {STORE_V_TEXT(text), STORE_V_INT(s->folder), STORE_V_INT(s->msgs[i].uid)};
    int rc = store_exec(c, "UPDATE mss_message SET flags = $1 WHERE folder_id = $2 AND uid = $3", p, 3, NULL, err);
    if (!rc) s->msgs[i].flags = flags;
    return rc;
}

/* ---- FETCH ---------------------------------------------------------------------------------- */

typedef enum {
    F_FLAGS,
    F_UID,
    F_INTERNALDATE,
    F_SIZE,
    F_ENVELOPE,
    F_BODYSTRUCTURE,
    F_BODY,
    F_SECTION,
    F_RFC822,
    F_RFC822_HEADER,
    F_RFC822_TEXT
} imap_item_kind;

typedef struct imap_item {
    imap_item_kind kind;
    const char *section; /* F_SECTION: the text between the brackets */
    int peek;
    int64_t offset, count; /* <offset.count>; offset -1 when none */
} imap_item;

#define IMAP_MAX_ITEMS 32

/* imap_fetch_item - parse one fetch attribute at k. */
static int imap_fetch_item(imap_session *s, imap_cursor *k, imap_item *it)
{
    const char *start = k->p;
    while (k->p < k->end && *k->p != ' ' && *k->p != '(' && *k->p != ')' && *k->p != '[') k->p++;
    size_t nl = (size_t)(k->p - start);
    char name[32];
    if (!nl || nl >= sizeof name) return -1;
    memcpy(name, start, nl);
    name[nl] = 0;
    memset(it, 0, sizeof *it);
    it->offset = -1;
    static const struct {
        const char *name;
        imap_item_kind kind;
    } simple[] = {{"FLAGS", F_FLAGS},
                  {"UID", F_UID},
                  {"INTERNALDATE", F_INTERNALDATE},
                  {"RFC822.SIZE", F_SIZE},
                  {"ENVELOPE", F_ENVELOPE},
                  {"BODYSTRUCTURE", F_BODYSTRUCTURE},
                  {"RFC822", F_RFC822},
                  {"RFC822.HEADER", F_RFC822_HEADER},
                  {"RFC822.TEXT", F_RFC822_TEXT}};
    int body = !strcasecmp(name, "BODY"), peek = !strcasecmp(name, "BODY.PEEK");
    if (!body && !peek) {
        for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
            if (!strcasecmp(name, simple[i].name)) {
                it->kind = simple[i].kind;
                return 0;
            }
        return -1;
    }
    if (k->p >= k->end || *k->p != '[') {
        if (peek) return -1;
        it->kind = F_BODY;
        return 0;
    }
    const char *close = memchr(k->p, ']', (size_t)(k->end - k->p));
    if (!close || close - k->p > 1000) return -1;
    it->kind = F_SECTION;
    it->peek = peek;
    it->section = arena_strndup(s->a, k->p + 1, (size_t)(close - k->p - 1));
    k->p = close + 1;
    if (k->p < k->end && *k->p == '<') {
        char *end;
        it->offset = strtoll(k->p + 1, &end, 10);
        if (*end != '.' || it->offset < 0) return -1;
        it->count = strtoll(end + 1, &end, 10);
        if (*end != '>' || it->count <= 0) return -1;
        k->p = end + 1;
    }
    return 0;
}

/* imap_fetch_items - the attribute list: a macro, one item, or a parenthesised list. */
static int imap_fetch_items(imap_session *s, imap_cursor *k, imap_item *items, int *n)
{
    *n = 0;
    if (k->p < k->end && *k->p == ' ') k->p++;
    static const imap_item_kind all[] = {F_FLAGS, F_INTERNALDATE, F_SIZE, F_ENVELOPE};
    static const struct {
        const char *name;
        int count;
    } macros[] = {{"ALL", 4}, {"FAST", 3}, {"FULL", 5}};
    for (size_t m = 0; m < 3; m++) {
        size_t l = strlen(macros[m].name);
        if ((size_t)(k->end - k->p) == l && !strncasecmp(k->p, macros[m].name, l)) {
            for (int i = 0; i < macros[m].count; i++) {
                memset(&items[i], 0, sizeof items[i]);
                items[i].offset = -1;
                items[i].kind = i < 4 ? all[i] : F_BODY;
            }
            *n = macros[m].count;
            k->p = k->end;
            return 0;
        }
    }
    int list = k->p < k->end && *k->p == '(';
    if (list) k->p++;
    for (;;) {
        if (*n == IMAP_MAX_ITEMS || imap_fetch_item(s, k, &items[*n])) return -1;
        (*n)++;
        if (!list) break;
        if (k->p < k->end && *k->p == ')') {
            k->p++;
            break;
        }
        if (k->p >= k->end || *k->p != ' ') return -1;
        k->p++;
    }
    return k->p == k->end ? 0 : -1;
}

/* imap_load_body - message i's bytes into a, holding a store connection only for the read (never
 * while writing to the client, which may be slow or stop reading). 0, SOCLE_ENOTFOUND when another
 * session expunged it, or a store error. */
static int imap_load_body(imap_session *s, size_t i, arena *a, const char **msg, size_t *len)
{
    socle_err err;
    store_conn *c;
    int rc = store_acquire(s->svc->app->store, &c, &err);
    if (rc) return rc;
    rc = mss_message_body(s->svc, c, s->folder, s->msgs[i].uid, a, msg, len, NULL, &err);
    store_release(s->svc->app->store, c);
    if (rc && rc != SOCLE_ENOTFOUND) log_msg(LOG_ERROR, "mss: reading a message: %s", err.msg);
    return rc;
}

/* imap_mark_seen - set \Seen on message i (a FETCH of its content without PEEK). */
static int imap_mark_seen(imap_session *s, size_t i)
{
    socle_err err;
    store_conn *c;
    int rc = store_acquire(s->svc->app->store, &c, &err);
    if (rc) return rc;
    rc = imap_set_flags(s, c, i, s->msgs[i].flags | IMAP_SEEN, &err);
    store_release(s->svc->app->store, c);
    return rc;
}

/* imap_fetch_send - "* n FETCH (...)" of message i, written as it is rendered: the text between
 * literals gathers in a small buffer, and each literal goes to the connection from the bytes of
 * its section, one section at a time (however many large items a FETCH names, it never holds more
 * than one of them). Every section spec was checked before. flags_too: FLAGS ends the list (\Seen
 * was just set). 0; 1 when nothing was written (out of memory: answer NO); -1 when the response
 * broke off (the session must end). */
static int imap_fetch_send(imap_session *s, size_t i, int uid, const imap_item *items, int nitems, int has_uid,
                           int flags_too, const char *msg, size_t len, const mime_part *root, arena *ma)
{
    int started = 0, failed = 0;
    socle_buf out, tmp;
    buf_init(&out);
    buf_init(&tmp);
    socle_err err;
    buf_printf(&out, "* %zu FETCH (", i + 1);
    if (uid && !has_uid) buf_printf(&out, "UID %lld ", (long long)s->msgs[i].uid);
    for (int j = 0; j < nitems && !failed; j++) {
        const imap_item *it = &items[j];
        if (j) buf_putc(&out, ' ');
        switch (it->kind) {
        case F_FLAGS: {
            char flags[128];
            imap_flags_text(s->msgs[i].flags, flags, sizeof flags);
            buf_printf(&out, "FLAGS (%s)", flags);
            break;
        }
        case F_UID:
            buf_printf(&out, "UID %lld", (long long)s->msgs[i].uid);
            break;
        case F_INTERNALDATE: {
            char date[40];
            imap_internal_date(s->msgs[i].internal_ms, date, sizeof date);
            buf_printf(&out, "INTERNALDATE \"%s\"", date);
            break;
        }
        case F_SIZE:
            buf_printf(&out, "RFC822.SIZE %lld", (long long)s->msgs[i].size);
            break;
        case F_ENVELOPE:
            buf_puts(&out, "ENVELOPE ");
            if (root) mime_envelope(msg, root, ma, &out);
            else buf_puts(&out, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
            break;
        case F_BODYSTRUCTURE:
        case F_BODY:
            buf_puts(&out, it->kind == F_BODY ? "BODY " : "BODYSTRUCTURE ");
            if (root) mime_bodystructure(msg, root, it->kind == F_BODYSTRUCTURE, ma, &out);
            else buf_printf(&out, "(\"text\" \"plain\" NIL NIL NIL \"7bit\" %zu 0)", len);
            break;
        case F_RFC822:
        case F_RFC822_HEADER:
        case F_RFC822_TEXT:
        case F_SECTION: {
            const char *spec = it->kind == F_SECTION         ? it->section
                               : it->kind == F_RFC822_HEADER ? "HEADER"
                               : it->kind == F_RFC822_TEXT   ? "TEXT"
                                                             : "";
            buf_reset(&tmp);
            if (root && mime_section(msg, len, root, spec, ma, &tmp, &err)) {
                failed = 1;
                break;
            }
            const char *data = tmp.data ? tmp.data : "";
            size_t dl = tmp.len;
            if (!root && !*spec) data = msg, dl = len;
            if (it->offset >= 0) {
                size_t off = (size_t)it->offset < dl ? (size_t)it->offset : dl;
                data += off;
                dl -= off;
                if ((size_t)it->count < dl) dl = (size_t)it->count;
            }
            if (it->kind == F_SECTION) {
                buf_printf(&out, "BODY[%s]", it->section);
                if (it->offset >= 0) buf_printf(&out, "<%lld>", (long long)it->offset);
                buf_putc(&out, ' ');
            } else {
                buf_printf(&out, "%s ", it->kind == F_RFC822          ? "RFC822"
                                        : it->kind == F_RFC822_HEADER ? "RFC822.HEADER"
                                                                      : "RFC822.TEXT");
            }
            buf_printf(&out, "{%zu}\r\n", dl);
            if (!buf_ok(&out) || !buf_ok(&tmp)) {
                failed = 1;
                break;
            }
            started = 1;
            lines_write(s->c, out.data, out.len);
            lines_write(s->c, data, dl);
            buf_reset(&out);
            break;
        }
        }
    }
    if (!failed && flags_too) {
        char flags[128];
        imap_flags_text(s->msgs[i].flags, flags, sizeof flags);
        buf_printf(&out, " FLAGS (%s)", flags);
    }
    buf_puts(&out, ")\r\n");
    if (!failed && !buf_ok(&out)) failed = 1;
    if (!failed) lines_write(s->c, out.data, out.len);
    buf_free(&out);
    buf_free(&tmp);
    return !failed ? 0 : started ? -1 : 1;
}

void imap_cmd_fetch(imap_session *s, imap_cursor *k, int uid)
{
    const char *settext = imap_atom_until(s, k, "");
    imap_set set;
    imap_item items[IMAP_MAX_ITEMS];
    int nitems;
    if (!settext || imap_set_parse(s, settext, &set) || imap_fetch_items(s, k, items, &nitems)) {
        imap_tagged(s, "BAD FETCH sequence-set items");
        return;
    }
    if (!imap_set_valid(s, &set, uid)) {
        imap_tagged(s, "BAD no such message");
        return;
    }
    int need_body = 0, sets_seen = 0, has_flags = 0, has_uid = 0;
    for (int i = 0; i < nitems; i++) {
        imap_item_kind kd = items[i].kind;
        socle_err err;
        /* A bad section is refused before anything is answered (nor \Seen set). */
        if (kd == F_SECTION && mime_section_check(items[i].section, s->a, &err)) {
            imap_tagged(s, "BAD bad section");
            return;
        }
        need_body |= kd >= F_ENVELOPE;
        sets_seen |= (kd == F_SECTION && !items[i].peek) || kd == F_RFC822 || kd == F_RFC822_TEXT;
        has_flags |= kd == F_FLAGS;
        has_uid |= kd == F_UID;
    }
    if (s->readonly) sets_seen = 0;
    int failed = 0;
    for (size_t i = 0; i < s->n && !failed; i++) {
        if (!imap_selects(s, &set, i, uid)) continue;
        arena *ma = arena_new(16384);
        if (!ma) {
            failed = 1;
            break;
        }
        const char *msg = NULL;
        size_t len = 0;
        mime_part *root = NULL;
        socle_err err;
        if (need_body) {
            int rc = imap_load_body(s, i, ma, &msg, &len);
            if (rc == SOCLE_ENOTFOUND) { /* expunged by another session: nothing to say about it */
                arena_free(ma);
                continue;
            }
            if (rc) failed = 1;
            else if (mime_parse(msg, len, NULL, ma, &root, &err)) root = NULL; /* shown as one text part */
        }
        /* \Seen once the content can be given; its FLAGS go with it. */
        int flags_too = 0;
        if (!failed && sets_seen && !(s->msgs[i].flags & IMAP_SEEN)) {
            if (imap_mark_seen(s, i)) failed = 1;
            else flags_too = !has_flags;
        }
        if (!failed) {
            int rc = imap_fetch_send(s, i, uid, items, nitems, has_uid, flags_too, msg, len, root, ma);
            if (rc < 0) s->over = 1;
            if (rc) failed = 1;
        }
        arena_free(ma);
    }
    if (s->over) return; /* the response broke off: the session ends without another word */
    if (failed) imap_tagged(s, "NO [UNAVAILABLE] temporary failure");
    else imap_tagged(s, "OK %sFETCH completed", uid ? "UID " : "");
}

/* ---- SEARCH --------------------------------------------------------------------------------- */

typedef enum {
    K_ALL,
    K_FLAG_SET,
    K_FLAG_CLEAR,
    K_HEADER,
    K_BODY,
    K_TEXT,
    K_BEFORE,
    K_ON,
    K_SINCE,
    K_LARGER,
    K_SMALLER,
    K_UID,
    K_SEQ,
    K_NOT,
    K_OR,
    K_AND,
    K_NONE
} imap_key_op;

typedef struct imap_key {
    imap_key_op op;
    unsigned flag;
    const char *field, *value;
    int64_t number;
    imap_set set;
    struct imap_key *a, *b; /* NOT: a; OR: a b; AND: a list through b (next) */
} imap_key;

/* imap_search_date - "1-Feb-1994" into days since the epoch; -1 when malformed. */
static int64_t imap_search_date(const char *s)
{
    static const char *const months = "janfebmaraprmayjunjulaugsepoctnovdec";
    int day, year;
    char mon[4];
    if (!s || sscanf(s, "%2d-%3[A-Za-z]-%4d", &day, mon, &year) != 3) return -1;
    for (char *p = mon; *p; p++) *p = (char)tolower((unsigned char)*p);
    const char *m = strstr(months, mon);
    if (!m || (m - months) % 3 || day < 1 || day > 31 || year < 1900) return -1;
    struct tm tm = {.tm_mday = day, .tm_mon = (int)((m - months) / 3), .tm_year = year - 1900};
    return (int64_t)timegm(&tm) / 86400;
}

static imap_key *imap_search_key(imap_session *s, imap_cursor *k, int depth);

/* imap_search_value - the string a text key looks for, lower case (compared with lower-cased
 * text); NULL when missing or over IMAP_SEARCH_NEEDLE_MAX. */
static const char *imap_search_value(imap_session *s, imap_cursor *k)
{
    const char *v = imap_astring(s, k);
    if (!v || strlen(v) > IMAP_SEARCH_NEEDLE_MAX) return NULL;
    char *lower = arena_strdup(s->a, v);
    return lower ? mss_lower(lower) : NULL;
}

/* imap_key_count - the keys of a parsed search (lists, NOT, OR). */
static size_t imap_key_count(const imap_key *key)
{
    size_t n = 0;
    for (; key; key = key->b) {
        n++;
        if (key->a) n += imap_key_count(key->a);
        if (key->op == K_OR) n += imap_key_count((const imap_key *)key->field);
    }
    return n;
}

/* imap_search_list - keys until the end (or a ')' when inner), ANDed. */
static imap_key *imap_search_list(imap_session *s, imap_cursor *k, int depth, int inner)
{
    imap_key *all = arena_zalloc(s->a, sizeof *all), **tail = &all->a;
    all->op = K_AND;
    for (;;) {
        if (k->p < k->end && *k->p == ' ') k->p++;
        if (k->p >= k->end) return inner ? NULL : all;
        if (*k->p == ')') {
            if (!inner) return NULL;
            k->p++;
            return all;
        }
        imap_key *key = imap_search_key(s, k, depth + 1);
        if (!key) return NULL;
        *tail = key;
        tail = &key->b;
    }
}

static imap_key *imap_search_key(imap_session *s, imap_cursor *k, int depth)
{
    if (depth > IMAP_SEARCH_DEPTH) return NULL;
    if (k->p < k->end && *k->p == ' ') k->p++;
    if (k->p < k->end && *k->p == '(') {
        k->p++;
        imap_key *list = imap_search_list(s, k, depth, 1);
        if (!list) return NULL;
        imap_key *wrap = arena_zalloc(s->a, sizeof *wrap);
        *wrap = *list;
        return wrap;
    }
    const char *word = imap_atom_until(s, k, "()");
    if (!word) return NULL;
    imap_key *key = arena_zalloc(s->a, sizeof *key);
    static const struct {
        const char *name;
        imap_key_op op;
        unsigned flag;
    } flags[] = {{"ANSWERED", K_FLAG_SET, IMAP_ANSWERED},     {"DELETED", K_FLAG_SET, IMAP_DELETED},
                 {"DRAFT", K_FLAG_SET, IMAP_DRAFT},           {"FLAGGED", K_FLAG_SET, IMAP_FLAGGED},
                 {"SEEN", K_FLAG_SET, IMAP_SEEN},             {"UNANSWERED", K_FLAG_CLEAR, IMAP_ANSWERED},
                 {"UNDELETED", K_FLAG_CLEAR, IMAP_DELETED},   {"UNDRAFT", K_FLAG_CLEAR, IMAP_DRAFT},
                 {"UNFLAGGED", K_FLAG_CLEAR, IMAP_FLAGGED},   {"UNSEEN", K_FLAG_CLEAR, IMAP_SEEN},
                 {"NEW", K_FLAG_CLEAR, IMAP_SEEN},            {"OLD", K_ALL, 0},
                 {"ALL", K_ALL, 0},                           {"RECENT", K_NONE, 0}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strcasecmp(word, flags[i].name)) {
            key->op = flags[i].op;
            key->flag = flags[i].flag;
            return key;
        }
    static const char *const headers[] = {"FROM", "TO", "CC", "BCC", "SUBJECT"};
    for (size_t i = 0; i < 5; i++)
        if (!strcasecmp(word, headers[i])) {
            key->op = K_HEADER;
            key->field = headers[i];
            key->value = imap_search_value(s, k);
            return key->value ? key : NULL;
        }
    if (!strcasecmp(word, "HEADER")) {
        key->op = K_HEADER;
        key->field = imap_astring(s, k);
        key->value = key->field ? imap_search_value(s, k) : NULL;
        return key->value ? key : NULL;
    }
    if (!strcasecmp(word, "BODY") || !strcasecmp(word, "TEXT")) {
        key->op = !strcasecmp(word, "BODY") ? K_BODY : K_TEXT;
        key->value = imap_search_value(s, k);
        return key->value ? key : NULL;
    }
    static const struct {
        const char *name;
        imap_key_op op;
    } dates[] = {{"BEFORE", K_BEFORE},     {"ON", K_ON},         {"SINCE", K_SINCE},
                 {"SENTBEFORE", K_BEFORE}, {"SENTON", K_ON},     {"SENTSINCE", K_SINCE}};
    for (size_t i = 0; i < 6; i++)
        if (!strcasecmp(word, dates[i].name)) {
            key->op = dates[i].op;
            key->number = imap_search_date(imap_astring(s, k));
            return key->number < 0 ? NULL : key;
        }
    if (!strcasecmp(word, "LARGER") || !strcasecmp(word, "SMALLER")) {
        const char *n = imap_atom_until(s, k, "()");
        key->op = !strcasecmp(word, "LARGER") ? K_LARGER : K_SMALLER;
        if (!n || !isdigit((unsigned char)*n)) return NULL;
        key->number = strtoll(n, NULL, 10);
        return key;
    }
    if (!strcasecmp(word, "UID")) {
        const char *set = imap_atom_until(s, k, "()");
        key->op = K_UID;
        return set && !imap_set_parse(s, set, &key->set) ? key : NULL;
    }
    if (!strcasecmp(word, "NOT")) {
        key->op = K_NOT;
        key->a = imap_search_key(s, k, depth + 1);
        return key->a ? key : NULL;
    }
    if (!strcasecmp(word, "OR")) {
        key->op = K_OR;
        key->a = imap_search_key(s, k, depth + 1);
        imap_key *second = key->a ? imap_search_key(s, k, depth + 1) : NULL;
        if (!second) return NULL;
        /* b links AND lists; OR keeps its second operand in a wrapper list of one. */
        imap_key *wrap = arena_zalloc(s->a, sizeof *wrap);
        wrap->op = K_AND;
        wrap->a = second;
        key->b = NULL;
        key->field = (const char *)wrap;
        return key;
    }
    if (isdigit((unsigned char)*word) || *word == '*') {
        key->op = K_SEQ;
        return imap_set_parse(s, word, &key->set) ? NULL : key;
    }
    return NULL;
}

typedef struct imap_eval {
    imap_session *s;
    size_t i;
    const char *msg; /* loaded on demand */
    size_t len;
    mime_part *root;
    char *lower;     /* msg in lower case (ASCII), made on demand */
    int loaded;
} imap_eval;

/* imap_contains - does hay[0..n) hold needle (both in lower case)? memmem: linear, whatever the
 * text (a byte-by-byte comparison at every position was O(n*m)). */
static int imap_contains(const char *hay, size_t n, const char *needle)
{
    return memmem(hay, n, needle, strlen(needle)) != NULL;
}

static int imap_eval_load(imap_eval *e)
{
    if (!e->loaded) {
        e->loaded = 1;
        socle_err err;
        if (imap_load_body(e->s, e->i, e->s->a, &e->msg, &e->len)) e->msg = NULL;
        if (e->msg && mime_parse(e->msg, e->len, NULL, e->s->a, &e->root, &err)) e->root = NULL;
    }
    return e->msg && e->root;
}

/* imap_eval_lower - the message in lower case (once per message: NUL bytes and all). */
static const char *imap_eval_lower(imap_eval *e)
{
    if (!e->lower && imap_eval_load(e) && (e->lower = arena_alloc(e->s->a, e->len + 1)))
        for (size_t j = 0; j <= e->len; j++) e->lower[j] = (char)tolower((unsigned char)e->msg[j]);
    return e->lower;
}

static int imap_eval_key(imap_eval *e, const imap_key *key)
{
    const imap_message *m = &e->s->msgs[e->i];
    int64_t day = m->internal_ms / 86400000;
    switch (key->op) {
    case K_ALL:
        return 1;
    case K_NONE:
        return 0;
    case K_FLAG_SET:
        return (m->flags & key->flag) != 0;
    case K_FLAG_CLEAR:
        return (m->flags & key->flag) == 0;
    case K_BEFORE:
        return day < key->number;
    case K_ON:
        return day == key->number;
    case K_SINCE:
        return day >= key->number;
    case K_LARGER:
        return m->size > key->number;
    case K_SMALLER:
        return m->size < key->number;
    case K_UID:
        return imap_set_has(&key->set, m->uid, e->s->n ? e->s->msgs[e->s->n - 1].uid : 0);
    case K_SEQ:
        return imap_set_has(&key->set, (int64_t)e->i + 1, (int64_t)e->s->n);
    case K_NOT:
        return !imap_eval_key(e, key->a);
    case K_OR:
        return imap_eval_key(e, key->a) || imap_eval_key(e, (const imap_key *)key->field);
    case K_AND:
        for (const imap_key *x = key->a; x; x = x->b)
            if (!imap_eval_key(e, x)) return 0;
        return 1;
    case K_HEADER: {
        if (!imap_eval_load(e)) return 0;
        const char *v = mime_header(e->msg, e->root, key->field, e->s->a);
        char *lower = v ? arena_strdup(e->s->a, v) : NULL;
        return lower && imap_contains(mss_lower(lower), strlen(lower), key->value);
    }
    case K_BODY:
        if (!imap_eval_lower(e)) return 0;
        return imap_contains(e->lower + e->root->body_offset, e->root->body_length, key->value);
    case K_TEXT:
        if (!imap_eval_lower(e)) return 0;
        return imap_contains(e->lower, e->len, key->value);
    }
    return 0;
}

void imap_cmd_search(imap_session *s, imap_cursor *k, int uid)
{
    if (k->p < k->end && *k->p == ' ') k->p++;
    if ((size_t)(k->end - k->p) > 8 && !strncasecmp(k->p, "CHARSET ", 8)) {
        k->p += 8;
        const char *cs = imap_astring(s, k);
        if (!cs || (strcasecmp(cs, "UTF-8") && strcasecmp(cs, "US-ASCII"))) {
            imap_tagged(s, "NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset");
            return;
        }
    }
    imap_key *key = imap_search_list(s, k, 0, 0);
    if (!key || !key->a) {
        imap_tagged(s, "BAD malformed search");
        return;
    }
    if (imap_key_count(key->a) > IMAP_SEARCH_KEYS_MAX) {
        imap_tagged(s, "NO [LIMIT] at most %d search keys", IMAP_SEARCH_KEYS_MAX);
        return;
    }
    /* Bodies are read one by one (a store connection only for each read); the answer is sent once
     * complete. */
    socle_buf out;
    buf_init(&out);
    buf_puts(&out, "* SEARCH");
    arena *command_arena = s->a;
    for (size_t i = 0; i < s->n; i++) {
        arena *ma = arena_new(8192);
        if (!ma) break;
        s->a = ma;
        imap_eval e = {.s = s, .i = i};
        if (imap_eval_key(&e, key)) buf_printf(&out, " %lld", uid ? (long long)s->msgs[i].uid : (long long)(i + 1));
        s->a = command_arena;
        arena_free(ma);
    }
    buf_puts(&out, "\r\n");
    if (buf_ok(&out)) lines_write(s->c, out.data, out.len);
    buf_free(&out);
    imap_tagged(s, "OK %sSEARCH completed", uid ? "UID " : "");
}

/* ---- STORE and COPY ------------------------------------------------------------------------- */

void imap_cmd_store(imap_session *s, imap_cursor *k, int uid)
{
    const char *settext = imap_atom_until(s, k, "");
    const char *what = imap_atom_until(s, k, "(");
    imap_set set;
    if (!settext || !what || imap_set_parse(s, settext, &set)) {
        imap_tagged(s, "BAD STORE sequence-set [+|-]FLAGS[.SILENT] (flags)");
        return;
    }
    int mode = *what == '+' ? 1 : *what == '-' ? -1 : 0;
    const char *name = what + (mode != 0);
    int silent = !strcasecmp(name, "FLAGS.SILENT");
    if (!silent && strcasecmp(name, "FLAGS")) {
        imap_tagged(s, "BAD STORE FLAGS, +FLAGS or -FLAGS");
        return;
    }
    if (k->p < k->end && *k->p == ' ') k->p++;
    int list = k->p < k->end && *k->p == '(';
    if (list) k->p++;
    unsigned bits = 0;
    const char *flag;
    while ((flag = imap_atom_until(s, k, "()"))) bits |= imap_flag_bit(flag);
    if (list && (k->p >= k->end || *k->p++ != ')')) {
        imap_tagged(s, "BAD bad flag list");
        return;
    }
    if (!imap_set_valid(s, &set, uid)) {
        imap_tagged(s, "BAD no such message");
        return;
    }
    if (s->readonly) {
        imap_tagged(s, "NO [READ-ONLY] folder opened with EXAMINE");
        return;
    }
    /* The change applies to the flags as stored now (another session may have changed them since
     * this one's view), read under the row's lock. */
    socle_err err;
    store_conn *c = NULL;
    unsigned *before = calloc(s->n ? s->n : 1, sizeof *before);
    int rc = before ? store_acquire(s->svc->app->store, &c, &err) : SOCLE_ENOMEM;
    const char *read_sql = c && store_conn_engine(c) == STORE_POSTGRES
                               ? "SELECT flags FROM mss_message WHERE folder_id = $1 AND uid = $2 FOR UPDATE"
                               : "SELECT flags FROM mss_message WHERE folder_id = $1 AND uid = $2";
    size_t reached = 0; /* the messages whose flags before[] holds */
    if (!rc) rc = store_tx_begin(c, &err);
    for (size_t i = 0; !rc && i < s->n; i++) {
        before[i] = s->msgs[i].flags;
        reached = i + 1;
        if (!imap_selects(s, &set, i, uid)) continue;
        store_value p[] = {STORE_V_INT(s->folder), STORE_V_INT(s->msgs[i].uid)};
        store_rows *r = NULL;
        rc = store_query(c, read_sql, p, 2, &r, &err);
        if (rc) break;
        int found = store_rows_next(r, &err) == 1;
        if (found) s->msgs[i].flags = imap_flags_parse(store_rows_text(r, 0, NULL));
        store_rows_free(r);
        if (!found) continue; /* expunged meanwhile */
        unsigned f = mode > 0 ? s->msgs[i].flags | bits : mode < 0 ? s->msgs[i].flags & ~bits : bits;
        if (f != s->msgs[i].flags) rc = imap_set_flags(s, c, i, f, &err);
    }
    if (!rc) rc = store_tx_commit(c, &err);
    if (c) {
        store_tx_rollback(c);
        store_release(s->svc->app->store, c);
    }
    if (rc) {
        /* Nothing was committed: the view goes back to what it was. */
        for (size_t i = 0; i < reached; i++) s->msgs[i].flags = before[i];
        free(before);
        imap_tagged(s, "NO [UNAVAILABLE] temporary failure");
        return;
    }
    free(before);
    for (size_t i = 0; !silent && i < s->n; i++) {
        if (!imap_selects(s, &set, i, uid)) continue;
        char flags[128];
        imap_flags_text(s->msgs[i].flags, flags, sizeof flags);
        if (uid) lines_printf(s->c, "* %zu FETCH (UID %lld FLAGS (%s))\r\n", i + 1, (long long)s->msgs[i].uid, flags);
        else lines_printf(s->c, "* %zu FETCH (FLAGS (%s))\r\n", i + 1, flags);
    }
    mss_changed(s->svc, s->mailbox.address);
    imap_tagged(s, "OK %sSTORE completed", uid ? "UID " : "");
}

void imap_cmd_copy(imap_session *s, imap_cursor *k, int uid, int move)
{
    const char *verb = move ? "MOVE" : "COPY";
    const char *settext = imap_atom_until(s, k, "");
    const char *folder = imap_astring(s, k);
    imap_set set;
    if (!settext || !folder || imap_set_parse(s, settext, &set)) {
        imap_tagged(s, "BAD %s sequence-set folder", verb);
        return;
    }
    if (move && s->readonly) {
        imap_tagged(s, "NO [READ-ONLY] folder opened with EXAMINE");
        return;
    }
    if (!strcasecmp(folder, "INBOX")) folder = "INBOX";
    if (!imap_set_valid(s, &set, uid)) {
        imap_tagged(s, "BAD no such message");
        return;
    }
    socle_err err;
    store_conn *c;
    int64_t target;
    int rc = store_acquire(s->svc->app->store, &c, &err);
    if (rc) {
        imap_tagged(s, "NO [UNAVAILABLE] temporary failure");
        return;
    }
    rc = mss_folder_id(c, s->mailbox.address, folder, 0, &target, &err);
    if (rc == SOCLE_ENOTFOUND) {
        store_release(s->svc->app->store, c);
        imap_tagged(s, "NO [TRYCREATE] no such folder");
        return;
    }
    if (!rc) rc = store_tx_begin(c, &err);
    arena *command_arena = s->a;
    /* RFC 4315 COPYUID: the UIDs copied and the UIDs they got, in order. */
    int64_t *from = arena_alloc(command_arena, (s->n ? s->n : 1) * sizeof *from);
    int64_t *to = arena_alloc(command_arena, (s->n ? s->n : 1) * sizeof *to);
    size_t ncopied = 0;
    if (!from || !to) rc = SOCLE_ENOMEM;
    for (size_t i = 0; !rc && i < s->n; i++) {
        if (!imap_selects(s, &set, i, uid)) continue;
        arena *ma = arena_new(4096);
        s->a = ma;
        size_t len;
        const char *msg = NULL;
        int64_t body = 0;
        char flags[128];
        imap_flags_text(s->msgs[i].flags, flags, sizeof flags);
        /* COPY shares the stored body; a message from before shared bodies gets one now. */
        rc = ma ? mss_message_body(s->svc, c, s->folder, s->msgs[i].uid, ma, &msg, &len, &body, &err)
                : SOCLE_ENOMEM;
        if (rc == SOCLE_ENOTFOUND) { /* expunged by another session meanwhile */
            rc = 0;
            s->a = command_arena;
            arena_free(ma);
            continue;
        }
        if (!rc && body) {
            int held = mss_body_hold(c, body, &err); /* an EXPUNGE elsewhere may be freeing it */
            if (held < 0) rc = held;
            else if (!held) body = 0;
        }
        if (!rc && !body) rc = mss_body_store(c, msg, len, NULL, &body, &err);
        int64_t new_uid = 0;
        if (!rc) rc = mss_message_append(c, target, body, len, flags, s->msgs[i].internal_ms, &new_uid, &err);
        if (!rc) {
            from[ncopied] = s->msgs[i].uid;
            to[ncopied++] = new_uid;
        }
        if (!rc && move) { /* RFC 6851: the source leaves in the same transaction; the body stays, shared */
            store_value p[] = {STORE_V_INT(s->folder), STORE_V_INT(s->msgs[i].uid)};
            rc = store_exec(c, "DELETE FROM mss_message WHERE folder_id = $1 AND uid = $2", p, 2, NULL, &err);
        }
        s->a = command_arena;
        arena_free(ma);
    }
    store_value t[] = {STORE_V_INT(target)};
    int64_t validity = 0;
    if (!rc) rc = store_query_int(c, "SELECT uidvalidity FROM mss_folder WHERE id = $1", t, 1, &validity, &err);
    if (!rc) rc = store_tx_commit(c, &err);
    store_tx_rollback(c);
    store_release(s->svc->app->store, c);
    if (rc) {
        imap_tagged(s, "NO [UNAVAILABLE] temporary failure");
        return;
    }
    mss_changed(s->svc, s->mailbox.address);
    socle_buf code; /* "[COPYUID validity from to] " */
    buf_init(&code);
    if (ncopied) {
        buf_printf(&code, "[COPYUID %lld ", (long long)validity);
        imap_uid_set(&code, from, ncopied);
        buf_putc(&code, ' ');
        imap_uid_set(&code, to, ncopied);
        buf_puts(&code, "] ");
    }
    int with_code = ncopied && buf_ok(&code);
    const char *tag = s->tag[0] ? s->tag : "*";
    if (move) {
        /* RFC 6851 section 4.3: COPYUID in an untagged OK, then the EXPUNGEs, then the tagged OK. */
        if (with_code) lines_printf(s->c, "* OK %.*smoved\r\n", (int)code.len, code.data);
        imap_refresh(s, 1);
        imap_tagged(s, "OK %sMOVE completed", uid ? "UID " : "");
    } else {
        lines_printf(s->c, "%s OK %.*s%sCOPY completed\r\n", tag, with_code ? (int)code.len : 0,
                     with_code ? code.data : "", uid ? "UID " : "");
    }
    buf_free(&code);
}

void imap_cmd_uid_expunge(imap_session *s, imap_cursor *k)
{
    const char *settext = imap_atom_until(s, k, "");
    imap_set set;
    if (!settext || imap_set_parse(s, settext, &set)) {
        imap_tagged(s, "BAD UID EXPUNGE sequence-set");
        return;
    }
    int64_t *uids = arena_alloc(s->a, (s->n ? s->n : 1) * sizeof *uids);
    if (!uids) {
        imap_tagged(s, "NO [UNAVAILABLE] temporary failure");
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (imap_selects(s, &set, i, 1)) uids[n++] = s->msgs[i].uid;
    imap_expunge_uids(s, uids, n);
}

/* ---- parsing without a session (fuzzing) ----------------------------------------------------- */

int imap_parse_arguments(const char *text, size_t len)
{
    imap_session s;
    memset(&s, 0, sizeof s);
    s.a = arena_new(4096);
    if (!s.a) return -1;
    int ok = 0;
    /* As FETCH: a sequence set, then attributes. */
    imap_cursor k = {text, text + len};
    imap_set set;
    imap_item items[IMAP_MAX_ITEMS];
    int nitems;
    const char *settext = imap_atom_until(&s, &k, "");
    if (settext && !imap_set_parse(&s, settext, &set) && !imap_fetch_items(&s, &k, items, &nitems)) {
        ok |= 1;
        (void)imap_set_has(&set, 1, 10);
    }
    /* As SEARCH. */
    k = (imap_cursor){text, text + len};
    if (imap_search_list(&s, &k, 0, 0)) ok |= 2;
    /* As a list of strings (LOGIN, SELECT, LIST, STATUS, APPEND arguments). */
    k = (imap_cursor){text, text + len};
    for (int i = 0; i < 64 && imap_astring(&s, &k); i++) ok |= 4;
    arena_free(s.a);
    return ok;
}
