/* imap.c - the IMAP4rev1 server session (RFC 3501) of the MSSanté operator: the command reader
 * (literals, LITERAL+ of RFC 7888), the connection states, authentication (STARTTLS first;
 * AUTHENTICATE OAUTHBEARER / XOAUTH2 / EXTERNAL / PLAIN and LOGIN only over TLS, the last two
 * only when passwords are allowed), folders (LIST, LSUB, CREATE, DELETE, SUBSCRIBE, STATUS,
 * SELECT, EXAMINE, CLOSE, UNSELECT, EXPUNGE, APPEND), IDLE (RFC 2177), and the view of the
 * selected folder that turns database changes into EXISTS / EXPUNGE / FETCH responses.
 * FETCH, SEARCH, STORE and COPY are in imap_fetch.c. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/timeutil.h"
#include "crypto/crypto.h"
#include "svc/mss/imap_internal.h"
#include "svc/mss/mime.h"

#define IMAP_LINE_MAX 65536
#define IMAP_COMMAND_MAX (1 << 20)      /* a command other than APPEND, literals included */
#define IMAP_PREAUTH_LITERAL_MAX 16384  /* before login */
#define IMAP_MAX_BAD 20
#define IMAP_MAX_AUTH_FAILURES 3

static const char *const imap_standard_folders[] = {"INBOX", "Sent", "Trash"};

void imap_tagged(imap_session *s, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    lines_printf(s->c, "%s %s\r\n", s->tag[0] ? s->tag : "*", buf);
}

/* ---- flags ---------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    unsigned bit;
} imap_flag_names[] = {{"\\Seen", IMAP_SEEN},
                       {"\\Answered", IMAP_ANSWERED},
                       {"\\Flagged", IMAP_FLAGGED},
                       {"\\Deleted", IMAP_DELETED},
                       {"\\Draft", IMAP_DRAFT}};

unsigned imap_flag_bit(const char *name)
{
    for (size_t i = 0; i < sizeof imap_flag_names / sizeof imap_flag_names[0]; i++)
        if (!strcasecmp(name, imap_flag_names[i].name)) return imap_flag_names[i].bit;
    return 0;
}

void imap_flags_text(unsigned flags, char *out, size_t n)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < sizeof imap_flag_names / sizeof imap_flag_names[0]; i++)
        if (flags & imap_flag_names[i].bit)
            used += (size_t)snprintf(out + used, used < n ? n - used : 0, "%s%s", used ? " " : "", imap_flag_names[i].name);
}

/* imap_flags_parse - the bits of a stored "\\Seen \\Flagged" text. */
unsigned imap_flags_parse(const char *text)
{
    unsigned bits = 0;
    char word[32];
    while (text && *text) {
        size_t l = strcspn(text, " ");
        if (l && l < sizeof word) {
            memcpy(word, text, l);
            word[l] = 0;
            bits |= imap_flag_bit(word);
        }
        text += l;
        while (*text == ' ') text++;
    }
    return bits;
}

/* ---- the tokenizer -------------------------------------------------------------------------- */

/* imap_literal - at "{n}" or "{n+}": the n bytes inlined after it. */
static const char *imap_literal(imap_session *s, imap_cursor *k)
{
    const char *p = k->p + 1;
    size_t n = 0;
    while (p < k->end && isdigit((unsigned char)*p) && n < IMAP_COMMAND_MAX * 64) n = n * 10 + (size_t)(*p++ - '0');
    if (p < k->end && *p == '+') p++;
    if (p >= k->end || *p != '}' || (size_t)(k->end - p - 1) < n) return NULL;
    p++;
    char *out = arena_strndup(s->a, p, n);
    k->p = p + n;
    return out;
}

const char *imap_astring(imap_session *s, imap_cursor *k)
{
    if (k->p < k->end && *k->p == ' ') k->p++;
    if (k->p >= k->end) return NULL;
    if (*k->p == '{') return imap_literal(s, k);
    if (*k->p == '"') {
        char *out = arena_alloc(s->a, (size_t)(k->end - k->p));
        size_t n = 0;
        for (const char *p = k->p + 1; p < k->end; p++) {
            if (*p == '\\' && p + 1 < k->end && (p[1] == '"' || p[1] == '\\')) out[n++] = *++p;
            else if (*p == '"') {
                out[n] = 0;
                k->p = p + 1;
                return out;
            } else out[n++] = *p;
        }
        return NULL;
    }
    return imap_atom_until(s, k, "()");
}

const char *imap_atom_until(imap_session *s, imap_cursor *k, const char *stop)
{
    if (k->p < k->end && *k->p == ' ') k->p++;
    const char *start = k->p;
    while (k->p < k->end && *k->p != ' ' && (unsigned char)*k->p > 31 && !strchr(stop, *k->p)) k->p++;
    if (k->p == start) return NULL;
    return arena_strndup(s->a, start, (size_t)(k->p - start));
}

/* ---- reading a command ---------------------------------------------------------------------- */

/* imap_append_cmd - add bytes to the command buffer. */
static int imap_append_cmd(imap_session *s, const char *data, size_t n)
{
    if (s->cmd_len + n + 1 > s->cmd_cap) {
        size_t cap = s->cmd_cap ? s->cmd_cap : 4096;
        while (cap < s->cmd_len + n + 1) cap *= 2;
        char *nc = realloc(s->cmd, cap);
        if (!nc) return -1;
        s->cmd = nc;
        s->cmd_cap = cap;
    }
    memcpy(s->cmd + s->cmd_len, data, n);
    s->cmd_len += n;
    s->cmd[s->cmd_len] = 0;
    return 0;
}

/* imap_read_command - the next command in s->cmd. 0; 1 refused (a BAD was sent); -1 the
 * connection is over (timeout: BYE sent). */
static int imap_read_command(imap_session *s, char *line)
{
    s->cmd_len = 0;
    if (imap_append_cmd(s, "", 0)) return -1;
    for (;;) {
        long l = lines_read_line(s->c, line, IMAP_LINE_MAX, NULL);
        if (l == LINES_TIMEOUT) {
            lines_printf(s->c, "* BYE autologout: idle for too long\r\n");
            return -1;
        }
        if (l == LINES_EOF) return -1;
        if (l == LINES_TOO_LONG) {
            lines_printf(s->c, "* BAD command line too long\r\n");
            return 1;
        }
        if ((size_t)l != strlen(line)) {
            lines_printf(s->c, "* BAD NUL in command\r\n");
            return 1;
        }
        if (imap_append_cmd(s, line, (size_t)l)) return -1;
        /* A literal announced at the end of the line? */
        if (l < 3 || line[l - 1] != '}') return 0;
        char *open = strrchr(line, '{');
        if (!open) return 0;
        char *end;
        unsigned long long n = strtoull(open + 1, &end, 10);
        int plus = *end == '+';
        if (end == open + 1 || (plus ? end + 1 : end) != line + l - 1) return 0;
        int is_append = 0;
        {
            const char *sp = strchr(s->cmd, ' ');
            is_append = sp && !strncasecmp(sp + 1, "APPEND ", 7);
        }
        unsigned long long limit = !s->authenticated ? IMAP_PREAUTH_LITERAL_MAX
                                   : is_append        ? s->svc->max_message
                                                      : IMAP_COMMAND_MAX;
        /* Before login a whole command (literals included) stays small. */
        unsigned long long total = !s->authenticated ? IMAP_PREAUTH_LITERAL_MAX : limit + IMAP_COMMAND_MAX;
        if (n > limit || s->cmd_len + n > total) {
            snprintf(s->tag, sizeof s->tag, "%.*s", (int)strcspn(s->cmd, " "), s->cmd);
            if (plus) {
                /* The client sends it anyway (LITERAL+): drop it to stay in step, within reason. */
                if (n > (unsigned long long)s->svc->max_message * 2) return -1;
                char sink[4096];
                while (n) {
                    size_t take = n > sizeof sink ? sizeof sink : (size_t)n;
                    if (lines_read_bytes(s->c, sink, take)) return -1;
                    n -= take;
                }
                (void)lines_read_line(s->c, line, IMAP_LINE_MAX, NULL);
            }
            lines_printf(s->c, "%s %s literal too big\r\n", s->tag[0] ? s->tag : "*",
                         is_append ? "NO [TOOBIG]" : "BAD");
            return 1;
        }
        if (!plus) {
            lines_printf(s->c, "+ ready for the literal\r\n");
            if (lines_flush(s->c)) return -1;
        }
        size_t at = s->cmd_len;
        if (imap_append_cmd(s, "", (size_t)0) || s->cmd_len + n + 1 > s->cmd_cap) {
            char *nc = realloc(s->cmd, s->cmd_len + (size_t)n + 1);
            if (!nc) return -1;
            s->cmd = nc;
            s->cmd_cap = s->cmd_len + (size_t)n + 1;
        }
        if (lines_read_bytes(s->c, s->cmd + at, (size_t)n)) return -1;
        s->cmd_len = at + (size_t)n;
        s->cmd[s->cmd_len] = 0;
    }
}

/* ---- the selected folder's view ------------------------------------------------------------- */

/* imap_load - the folder's messages from the store, ordered by UID, into *out. */
static int imap_load(imap_session *s, imap_message **out, size_t *count, int64_t *uidnext)
{
    socle_err err;
    store_conn *c;
    int rc = store_acquire(s->svc->app->store, &c, &err);
    if (rc) return rc;
    store_value p[] = {STORE_V_INT(s->folder)};
    store_rows *r = NULL;
    imap_message *list = NULL;
    size_t n = 0, cap = 0;
    rc = store_query_int(c, "SELECT uidnext FROM mss_folder WHERE id = $1", p, 1, uidnext, &err);
    if (!rc)
        rc = store_query(c, "SELECT uid, size, internal_ms, flags FROM mss_message WHERE folder_id = $1 ORDER BY uid", p, 1,
                         &r, &err);
    while (!rc && (rc = store_rows_next(r, &err)) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            imap_message *nl = realloc(list, cap * sizeof *nl);
            if (!nl) {
                rc = SOCLE_ENOMEM;
                break;
            }
            list = nl;
        }
        list[n++] = (imap_message){store_rows_int(r, 0), store_rows_int(r, 1), store_rows_int(r, 2),
                                   imap_flags_parse(store_rows_text(r, 3, NULL))};
        rc = 0;
    }
    if (r) store_rows_free(r);
    store_release(s->svc->app->store, c);
    if (rc < 0) {
        free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return 0;
}

int imap_refresh(imap_session *s, int report)
{
    if (!s->folder) return 0;
    s->generation = mss_change_count(s->svc, s->mailbox.address);
    imap_message *fresh;
    size_t n;
    int64_t uidnext;
    int rc = imap_load(s, &fresh, &n, &uidnext);
    if (rc) return rc;
    if (report) {
        /* Expunged: walk the old view from the end so every number sent is still valid. */
        size_t j = n;
        for (size_t i = s->n; i-- > 0;) {
            while (j > 0 && fresh[j - 1].uid > s->msgs[i].uid) j--;
            if (!(j > 0 && fresh[j - 1].uid == s->msgs[i].uid)) lines_printf(s->c, "* %zu EXPUNGE\r\n", i + 1);
        }
        /* Flags changed elsewhere, for messages still there. */
        size_t i = 0;
        for (size_t f = 0; f < n; f++) {
            while (i < s->n && s->msgs[i].uid < fresh[f].uid) i++;
            if (i < s->n && s->msgs[i].uid == fresh[f].uid && s->msgs[i].flags != fresh[f].flags) {
                char flags[128];
                imap_flags_text(fresh[f].flags, flags, sizeof flags);
                lines_printf(s->c, "* %zu FETCH (FLAGS (%s))\r\n", f + 1, flags);
            }
        }
        if (n != s->n || (n && s->msgs[s->n - 1].uid != fresh[n - 1].uid)) lines_printf(s->c, "* %zu EXISTS\r\n", n);
    }
    free(s->msgs);
    s->msgs = fresh;
    s->n = s->cap = n;
    s->uidnext = uidnext;
    return 0;
}

/* ---- commands ------------------------------------------------------------------------------- */

static void imap_capability(imap_session *s)
{
    int tls = lines_is_tls(s->c);
    lines_printf(s->c, "* CAPABILITY IMAP4rev1 LITERAL+ IDLE UNSELECT SASL-IR MOVE UIDPLUS%s%s%s\r\n",
                 tls ? "" : " STARTTLS LOGINDISABLED",
                 tls && !s->authenticated ? " AUTH=OAUTHBEARER AUTH=XOAUTH2 AUTH=EXTERNAL" : "",
                 tls && !s->authenticated && s->svc->allow_password ? " AUTH=PLAIN" : "");
}

/* imap_sasl_response - the client's base64 answer to a "+" (or the initial response). Decoded
 * into out (NUL-terminated); -1 cancelled or malformed (reply sent), -2 connection over. */
static long imap_sasl_response(imap_session *s, const char *initial, char *line, char *out, size_t n)
{
    const char *b64 = initial;
    if (!b64) {
        lines_printf(s->c, "+ \r\n");
        if (lines_flush(s->c)) return -2;
        long l = lines_read_line(s->c, line, IMAP_LINE_MAX, NULL);
        if (l < 0 && l != LINES_TOO_LONG) return -2;
        if (l == LINES_TOO_LONG) {
            imap_tagged(s, "BAD authentication line too long");
            return -1;
        }
        b64 = line;
    }
    if (!strcmp(b64, "*")) {
        imap_tagged(s, "BAD authentication cancelled");
        return -1;
    }
    if (!strcmp(b64, "=")) b64 = "";
    size_t len = 0, bl = strlen(b64);
    if (bl / 4 * 3 + 3 > n || crypto_b64_decode(b64, bl, (uint8_t *)out, &len)) {
        imap_tagged(s, "BAD cannot decode the base64 response");
        return -1;
    }
    out[len] = 0;
    return (long)len;
}

/* imap_auth_failed - the answer to a failed login: bad credentials count (the session ends after
 * IMAP_MAX_AUTH_FAILURES), a store failure is temporary. */
static void imap_auth_failed(imap_session *s, int rc)
{
    if (rc != SOCLE_EUNAUTHORIZED && rc != SOCLE_EINVAL) {
        imap_tagged(s, "NO [UNAVAILABLE] temporary failure, try again");
        return;
    }
    s->auth_failures++;
    imap_tagged(s, "NO [AUTHENTICATIONFAILED] authentication failed");
}

static void imap_authenticate(imap_session *s, imap_cursor *k, char *line)
{
    const char *mech = imap_atom_until(s, k, "");
    const char *initial = imap_atom_until(s, k, "");
    if (!mech) {
        imap_tagged(s, "BAD AUTHENTICATE needs a mechanism");
        return;
    }
    if (!lines_is_tls(s->c)) {
        imap_tagged(s, "NO [PRIVACYREQUIRED] STARTTLS first");
        return;
    }
    char *resp = malloc(IMAP_LINE_MAX);
    if (!resp) return;
    socle_err err;
    int rc = -1, answered = 0;
    const char *remote = lines_remote_addr(s->c);
    if (!strcasecmp(mech, "OAUTHBEARER") || !strcasecmp(mech, "XOAUTH2")) {
        long l = imap_sasl_response(s, initial, line, resp, IMAP_LINE_MAX);
        const char *user, *token;
        answered = l < 0;
        if (l >= 0 && mss_sasl_oauth(resp, (size_t)l, !strcasecmp(mech, "XOAUTH2"), &user, &token)) {
            imap_tagged(s, "BAD malformed %s response", mech);
            answered = 1;
        } else if (l >= 0) {
            rc = mss_authenticate_token(s->svc, user, token, remote, &s->who, &s->mailbox, &err);
            if (rc) {
                static const char status[] = "{\"status\":\"invalid_token\",\"schemes\":\"bearer\",\"scope\":\"\"}";
                char enc[128];
                crypto_b64_encode((const uint8_t *)status, sizeof status - 1, enc);
                lines_printf(s->c, "+ %s\r\n", enc);
                lines_flush(s->c);
                (void)lines_read_line(s->c, line, IMAP_LINE_MAX, NULL);
            }
        }
    } else if (!strcasecmp(mech, "EXTERNAL")) {
        long l = imap_sasl_response(s, initial, line, resp, IMAP_LINE_MAX);
        answered = l < 0;
        if (l >= 0) rc = mss_authenticate_certificate(s->svc, s->c, l ? resp : NULL, &s->who, &s->mailbox, &err);
    } else if (!strcasecmp(mech, "PLAIN") && s->svc->allow_password) {
        long l = imap_sasl_response(s, initial, line, resp, IMAP_LINE_MAX);
        answered = l < 0;
        if (l >= 0) {
            const char *authz = resp, *user = memchr(resp, 0, (size_t)l), *pass = NULL;
            if (user) user++, pass = memchr(user, 0, (size_t)l - (size_t)(user - resp));
            if (pass) pass++;
            if (user && pass && (!*authz || !strcasecmp(authz, user)))
                rc = mss_authenticate_password(s->svc, user, pass, remote, &s->who, &s->mailbox, &err);
        }
    } else {
        imap_tagged(s, "NO [CANNOT] mechanism not supported");
        answered = 1;
    }
    memset(resp, 0, IMAP_LINE_MAX);
    free(resp);
    memset(line, 0, 256);
    if (answered) return;
    if (rc) {
        imap_auth_failed(s, rc);
        return;
    }
    s->authenticated = 1;
    imap_capability(s);
    imap_tagged(s, "OK authenticated as %s", s->mailbox.address);
}

static void imap_login(imap_session *s, imap_cursor *k)
{
    const char *user = imap_astring(s, k), *pass = imap_astring(s, k);
    if (!user || !pass) {
        imap_tagged(s, "BAD LOGIN user password");
        return;
    }
    if (!lines_is_tls(s->c)) {
        imap_tagged(s, "NO [PRIVACYREQUIRED] STARTTLS first");
        return;
    }
    if (!s->svc->allow_password) {
        imap_tagged(s, "NO [CANNOT] passwords are not accepted here: use AUTHENTICATE OAUTHBEARER");
        return;
    }
    socle_err err;
    int rc = mss_authenticate_password(s->svc, user, pass, lines_remote_addr(s->c), &s->who, &s->mailbox, &err);
    if (rc) {
        imap_auth_failed(s, rc);
        return;
    }
    s->authenticated = 1;
    imap_tagged(s, "OK logged in");
}

/* imap_folder_name - the stored name of a folder argument (INBOX in any case is INBOX). NULL when
 * the name is not acceptable. */
static const char *imap_folder_name(imap_session *s, const char *name)
{
    if (!name || !*name || strlen(name) > 100) return NULL;
    if (!strcasecmp(name, "INBOX")) return "INBOX";
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 32 || (unsigned char)*p >= 127 || *p == '*' || *p == '%' || *p == '"' || *p == '\\')
            return NULL; /* what LIST could not send back as a plain quoted string */
    if (name[0] == '/' || name[strlen(name) - 1] == '/' || strstr(name, "//")) return NULL;
    return name;
}

/* imap_with_store - run fn(s, c, ctx) on a store connection; a store failure answers NO. */
static int imap_with_store(imap_session *s, int (*fn)(imap_session *, store_conn *, void *, socle_err *), void *ctx)
{
    socle_err err;
    store_conn *c;
    int rc = store_acquire(s->svc->app->store, &c, &err);
    if (!rc) {
        rc = fn(s, c, ctx, &err);
        store_tx_rollback(c);
        store_release(s->svc->app->store, c);
    }
    if (rc && rc != SOCLE_ENOTFOUND && rc != SOCLE_ECONFLICT) imap_tagged(s, "NO [UNAVAILABLE] temporary failure");
    return rc;
}

typedef struct imap_folder_info {
    const char *name;
    int64_t id, uidvalidity, uidnext, messages, unseen, first_unseen;
} imap_folder_info;

static int imap_folder_info_get(imap_session *s, store_conn *c, void *ctx, socle_err *err)
{
    imap_folder_info *f = ctx;
    store_value p[] = {STORE_V_TEXT(s->mailbox.address), STORE_V_TEXT(f->name)};
    store_rows *r = NULL;
    int rc = store_query(c, "SELECT id, uidvalidity, uidnext FROM mss_folder WHERE address = $1 AND name = $2", p, 2, &r,
                         err);
    if (rc) return rc;
    rc = store_rows_next(r, err);
    if (rc == 1) {
        f->id = store_rows_int(r, 0);
        f->uidvalidity = store_rows_int(r, 1);
        f->uidnext = store_rows_int(r, 2);
        rc = 0;
    } else if (rc == 0) {
        rc = SOCLE_ENOTFOUND;
    }
    store_rows_free(r);
    if (rc) return rc;
    store_value q[] = {STORE_V_INT(f->id)};
    rc = store_query_int(c, "SELECT COUNT(*) FROM mss_message WHERE folder_id = $1", q, 1, &f->messages, err);
    if (!rc)
        rc = store_query_int(c, "SELECT COUNT(*) FROM mss_message WHERE folder_id = $1 AND flags NOT LIKE '%\\Seen%'", q,
                             1, &f->unseen, err);
    return rc;
}

static void imap_select(imap_session *s, imap_cursor *k, int readonly)
{
    const char *name = imap_folder_name(s, imap_astring(s, k));
    free(s->msgs);
    s->msgs = NULL;
    s->n = s->cap = 0;
    s->folder = 0;
    if (!name) {
        imap_tagged(s, "BAD bad folder name");
        return;
    }
    imap_folder_info f = {.name = name};
    int rc = imap_with_store(s, imap_folder_info_get, &f);
    if (rc == SOCLE_ENOTFOUND) imap_tagged(s, "NO [NONEXISTENT] no such folder");
    if (rc) return;
    s->folder = f.id;
    snprintf(s->folder_name, sizeof s->folder_name, "%s", name);
    s->readonly = readonly;
    s->uidvalidity = f.uidvalidity;
    if (imap_refresh(s, 0)) {
        s->folder = 0;
        imap_tagged(s, "NO [UNAVAILABLE] temporary failure");
        return;
    }
    mss_audit(s->svc, &s->who, "read", "success", s->mailbox.address, lines_remote_addr(s->c), name);
    size_t first_unseen = 0;
    for (size_t i = 0; i < s->n && !first_unseen; i++)
        if (!(s->msgs[i].flags & IMAP_SEEN)) first_unseen = i + 1;
    lines_printf(s->c,
                 "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
                 "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)] flags kept\r\n"
                 "* %zu EXISTS\r\n* 0 RECENT\r\n",
                 s->n);
    if (first_unseen) lines_printf(s->c, "* OK [UNSEEN %zu] first unseen\r\n", first_unseen);
    lines_printf(s->c, "* OK [UIDVALIDITY %lld] UIDs valid\r\n* OK [UIDNEXT %lld] predicted next UID\r\n",
                 (long long)s->uidvalidity, (long long)s->uidnext);
    imap_tagged(s, "OK [%s] %s completed", readonly ? "READ-ONLY" : "READ-WRITE", readonly ? "EXAMINE" : "SELECT");
}

static void imap_status(imap_session *s, imap_cursor *k)
{
    const char *name = imap_folder_name(s, imap_astring(s, k));
    if (!name || k->p >= k->end || *++k->p != '(') {
        imap_tagged(s, "BAD STATUS folder (items)");
        return;
    }
    k->p++;
    imap_folder_info f = {.name = name};
    int rc = imap_with_store(s, imap_folder_info_get, &f);
    if (rc == SOCLE_ENOTFOUND) imap_tagged(s, "NO [NONEXISTENT] no such folder");
    if (rc) return;
    socle_buf out;
    buf_init(&out);
    const char *item;
    while ((item = imap_atom_until(s, k, "()"))) {
        if (!strcasecmp(item, "MESSAGES")) buf_printf(&out, "%sMESSAGES %lld", out.len ? " " : "", (long long)f.messages);
        else if (!strcasecmp(item, "RECENT")) buf_printf(&out, "%sRECENT 0", out.len ? " " : "");
        else if (!strcasecmp(item, "UIDNEXT")) buf_printf(&out, "%sUIDNEXT %lld", out.len ? " " : "", (long long)f.uidnext);
        else if (!strcasecmp(item, "UIDVALIDITY"))
            buf_printf(&out, "%sUIDVALIDITY %lld", out.len ? " " : "", (long long)f.uidvalidity);
        else if (!strcasecmp(item, "UNSEEN")) buf_printf(&out, "%sUNSEEN %lld", out.len ? " " : "", (long long)f.unseen);
        else {
            buf_free(&out);
            imap_tagged(s, "BAD unknown STATUS item %.40s", item);
            return;
        }
    }
    lines_printf(s->c, "* STATUS \"%s\" (%.*s)\r\n", name, (int)out.len, out.data ? out.data : "");
    buf_free(&out);
    imap_tagged(s, "OK STATUS completed");
}

/* imap_match - does name match a LIST pattern ('*' anything, '%' anything but '/')? */
static int imap_match(const char *pattern, const char *name)
{
    /* Dynamic programming over the name, one pattern character at a time: at[j] says whether the
     * pattern so far matches name[0..j). Linear in pattern × name whatever the wildcards (a
     * backtracking matcher is exponential on "*****b"). Names are at most 100 bytes. */
    size_t n = strlen(name);
    if (n > 100) return 0;
    unsigned char at[102] = {1};
    for (const char *p = pattern; *p; p++) {
        unsigned char next[102] = {0};
        for (size_t j = 0; j <= n; j++) {
            if (!at[j]) continue;
            if (*p == '*' || *p == '%') {
                for (size_t k = j; k <= n; k++) {
                    next[k] = 1;
                    if (k < n && *p == '%' && name[k] == '/') break;
                }
            } else if (j < n && name[j] == *p) {
                next[j + 1] = 1;
            }
        }
        memcpy(at, next, sizeof at);
    }
    return at[n];
}

typedef struct imap_list_ctx {
    const char *pattern;
    const char *verb;
} imap_list_ctx;

static int imap_list_run(imap_session *s, store_conn *c, void *ctx, socle_err *err)
{
    imap_list_ctx *l = ctx;
    store_value p[] = {STORE_V_TEXT(s->mailbox.address)};
    store_rows *r = NULL;
    int rc = store_query(c, "SELECT name FROM mss_folder WHERE address = $1 ORDER BY name", p, 1, &r, err);
    while (!rc && (rc = store_rows_next(r, err)) == 1) {
        const char *name = store_rows_text(r, 0, NULL);
        int match = imap_match(l->pattern, name) || (!strcmp(name, "INBOX") && !strcasecmp(l->pattern, "inbox"));
        if (match)
            lines_printf(s->c, "* %s (\\HasNoChildren%s) \"/\" \"%s\"\r\n", l->verb,
                         !strcmp(name, "Sent") ? " \\Sent" : !strcmp(name, "Trash") ? " \\Trash" : "", name);
        rc = 0;
    }
    if (r) store_rows_free(r);
    return rc < 0 ? rc : 0;
}

static void imap_list(imap_session *s, imap_cursor *k, const char *verb)
{
    const char *ref = imap_astring(s, k), *pattern = imap_astring(s, k);
    if (!ref || !pattern) {
        imap_tagged(s, "BAD %s reference pattern", verb);
        return;
    }
    if (!*pattern) {
        lines_printf(s->c, "* %s (\\Noselect) \"/\" \"\"\r\n", verb);
        imap_tagged(s, "OK %s completed", verb);
        return;
    }
    char full[300];
    snprintf(full, sizeof full, "%s%s", ref, pattern);
    imap_list_ctx l = {full, verb};
    if (!imap_with_store(s, imap_list_run, &l)) imap_tagged(s, "OK %s completed", verb);
}

static int imap_create_run(imap_session *s, store_conn *c, void *ctx, socle_err *err)
{
    int64_t id;
    int rc = mss_folder_id(c, s->mailbox.address, ctx, 0, &id, err);
    if (!rc) return SOCLE_ECONFLICT;
    return mss_folder_id(c, s->mailbox.address, ctx, 1, &id, err);
}

static int imap_delete_run(imap_session *s, store_conn *c, void *ctx, socle_err *err)
{
    int64_t id;
    int rc = mss_folder_id(c, s->mailbox.address, ctx, 0, &id, err);
    store_value p[] = {STORE_V_INT(id)};
    if (!rc) rc = store_tx_begin(c, err);
    if (!rc) rc = mss_messages_delete(c, id, 0, 0, err);
    if (!rc) rc = store_exec(c, "DELETE FROM mss_folder WHERE id = $1", p, 1, NULL, err);
    if (!rc) rc = store_tx_commit(c, err);
    return rc;
}

typedef struct imap_rename_ctx {
    const char *from, *to;
} imap_rename_ctx;

/* imap_rename_run - RFC 3501 section 6.3.5: the folder and the folders below it ("from/...")
 * take the new name; their messages, UIDs and UIDVALIDITY go with them. */
static int imap_rename_run(imap_session *s, store_conn *c, void *ctx, socle_err *err)
{
    const imap_rename_ctx *r = ctx;
    int64_t id;
    int rc = mss_folder_id(c, s->mailbox.address, r->from, 0, &id, err);
    if (rc) return rc;
    rc = mss_folder_id(c, s->mailbox.address, r->to, 0, &id, err);
    if (!rc) return SOCLE_ECONFLICT;
    if (rc != SOCLE_ENOTFOUND) return rc;
    store_value p[] = {STORE_V_TEXT(s->mailbox.address), STORE_V_TEXT(r->from), STORE_V_TEXT(r->to),
                       STORE_V_INT((int64_t)strlen(r->from))};
    rc = store_tx_begin(c, err);
    if (!rc)
        rc = store_exec(c,
                        "UPDATE mss_folder SET name = $3 || substr(name, $4 + 1) WHERE address = $1"
                        " AND (name = $2 OR substr(name, 1, $4 + 1) = $2 || '/')",
                        p, 4, NULL, err);
    if (!rc) rc = store_tx_commit(c, err);
    return rc;
}

static void imap_rename(imap_session *s, imap_cursor *k)
{
    const char *from = imap_folder_name(s, imap_astring(s, k));
    const char *to = from ? imap_folder_name(s, imap_astring(s, k)) : NULL;
    if (!from || !to) {
        imap_tagged(s, "BAD RENAME takes two folder names");
        return;
    }
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(from, imap_standard_folders[i]) || !strcmp(to, imap_standard_folders[i])) {
            imap_tagged(s, "NO [CANNOT] the standard folders keep their names");
            return;
        }
    size_t fl = strlen(from);
    if (!strncmp(to, from, fl) && to[fl] == '/') {
        imap_tagged(s, "NO [CANNOT] a folder cannot move below itself");
        return;
    }
    imap_rename_ctx r = {from, to};
    int rc = imap_with_store(s, imap_rename_run, &r);
    if (rc == SOCLE_ECONFLICT) imap_tagged(s, "NO [ALREADYEXISTS] folder exists");
    else if (rc == SOCLE_ENOTFOUND) imap_tagged(s, "NO [NONEXISTENT] no such folder");
    if (rc) return;
    if (s->folder && !strcmp(s->folder_name, from)) snprintf(s->folder_name, sizeof s->folder_name, "%s", to);
    imap_tagged(s, "OK RENAME completed");
}

static void imap_create_delete(imap_session *s, imap_cursor *k, int create)
{
    const char *name = imap_folder_name(s, imap_astring(s, k));
    if (!name) {
        imap_tagged(s, "BAD bad folder name");
        return;
    }
    for (size_t i = 0; !create && i < 3; i++)
        if (!strcmp(name, imap_standard_folders[i])) {
            imap_tagged(s, "NO [CANNOT] the standard folders stay");
            return;
        }
    if (!create && s->folder && !strcmp(name, s->folder_name)) {
        imap_tagged(s, "NO [INUSE] close the folder first");
        return;
    }
    int rc = imap_with_store(s, create ? imap_create_run : imap_delete_run, (void *)name);
    if (rc == SOCLE_ECONFLICT) imap_tagged(s, "NO [ALREADYEXISTS] folder exists");
    else if (rc == SOCLE_ENOTFOUND) imap_tagged(s, "NO [NONEXISTENT] no such folder");
    else if (!rc) imap_tagged(s, "OK %s completed", create ? "CREATE" : "DELETE");
    if (!rc && !create) mss_segments_reclaim(s->svc->segments, s->svc->app->store);
}

typedef struct imap_append_ctx {
    const char *folder;
    const char *msg;
    size_t len;
    unsigned flags;
    int64_t uid, uidvalidity;
} imap_append_ctx;

static int imap_append_run(imap_session *s, store_conn *c, void *ctx, socle_err *err)
{
    imap_append_ctx *ap = ctx;
    int64_t id;
    char flags[128];
    imap_flags_text(ap->flags, flags, sizeof flags);
    int64_t body;
    int rc = mss_folder_id(c, s->mailbox.address, ap->folder, 0, &id, err);
    if (!rc) rc = store_tx_begin(c, err);
    if (!rc) rc = mss_body_store(c, ap->msg, ap->len, NULL, &body, err);
    if (!rc) rc = mss_message_append(c, id, body, ap->len, flags, time_now_ms(), &ap->uid, err);
    store_value p[] = {STORE_V_INT(id)};
    if (!rc) rc = store_query_int(c, "SELECT uidvalidity FROM mss_folder WHERE id = $1", p, 1, &ap->uidvalidity, err);
    if (!rc) rc = store_tx_commit(c, err);
    return rc == SOCLE_ENOTFOUND ? SOCLE_ENOTFOUND : rc;
}

static void imap_append(imap_session *s, imap_cursor *k)
{
    imap_append_ctx ap = {.folder = imap_folder_name(s, imap_astring(s, k))};
    if (!ap.folder) {
        imap_tagged(s, "BAD APPEND folder [(flags)] [date] {size}");
        return;
    }
    if (k->p < k->end && *k->p == ' ') k->p++;
    if (k->p < k->end && *k->p == '(') {
        k->p++;
        const char *flag;
        while ((flag = imap_atom_until(s, k, "()"))) ap.flags |= imap_flag_bit(flag);
        if (k->p >= k->end || *k->p != ')') {
            imap_tagged(s, "BAD bad flag list");
            return;
        }
        k->p++;
    }
    if (k->p < k->end && *k->p == ' ') k->p++;
    if (k->p < k->end && *k->p == '"') (void)imap_astring(s, k); /* the date: we keep our own */
    if (k->p < k->end && *k->p == ' ') k->p++;
    if (k->p >= k->end || *k->p != '{') {
        imap_tagged(s, "BAD APPEND needs the message as a literal");
        return;
    }
    const char *start = k->p;
    const char *msg = imap_astring(s, k);
    if (!msg) {
        imap_tagged(s, "BAD bad literal");
        return;
    }
    const char *brace = strchr(start, '}');
    ap.msg = brace + 1;
    ap.len = (size_t)(k->p - ap.msg);
    arena *tmp = arena_new(8192);
    mime_part *root;
    socle_err err;
    int bad = !tmp || mime_parse(ap.msg, ap.len, NULL, tmp, &root, &err);
    arena_free(tmp);
    if (bad) {
        imap_tagged(s, "NO [PARSE] malformed message");
        return;
    }
    int rc = imap_with_store(s, imap_append_run, &ap);
    if (rc == SOCLE_ENOTFOUND) imap_tagged(s, "NO [TRYCREATE] no such folder");
    if (rc) return;
    mss_changed(s->svc, s->mailbox.address);
    imap_tagged(s, "OK [APPENDUID %lld %lld] APPEND completed", (long long)ap.uidvalidity, (long long)ap.uid);
}

/* imap_expunge_run - remove the \Deleted messages of the selected folder. */
typedef struct imap_expunge_ctx {
    const int64_t *uids; /* UID EXPUNGE (RFC 4315): only these */
    size_t n;
} imap_expunge_ctx;

static int imap_expunge_run(imap_session *s, store_conn *c, void *ctx, socle_err *err)
{
    const imap_expunge_ctx *x = ctx;
    int rc = store_tx_begin(c, err);
    if (!x && !rc) rc = mss_messages_delete(c, s->folder, 1, 0, err);
    for (size_t i = 0; x && !rc && i < x->n; i++) rc = mss_messages_delete(c, s->folder, 1, x->uids[i], err);
    if (!rc) rc = store_tx_commit(c, err);
    return rc;
}

/* imap_expunge_some - remove the \Deleted messages (only those of x when given); report: send the
 * EXPUNGE responses; verb: the tagged OK to send. 0, or non-zero when a NO was sent. */
static int imap_expunge_some(imap_session *s, int report, const char *verb, imap_expunge_ctx *x)
{
    if (s->readonly) {
        if (report) imap_tagged(s, "NO [READ-ONLY] folder opened with EXAMINE");
        return report;
    }
    int rc = imap_with_store(s, imap_expunge_run, x);
    if (rc == SOCLE_ENOTFOUND || rc == SOCLE_ECONFLICT) imap_tagged(s, "NO [UNAVAILABLE] temporary failure");
    if (rc) return rc;
    mss_segments_reclaim(s->svc->segments, s->svc->app->store);
    mss_audit(s->svc, &s->who, "delete", "success", s->mailbox.address, lines_remote_addr(s->c), "expunge");
    imap_refresh(s, report);
    if (verb) imap_tagged(s, "OK %s completed", verb);
    return 0;
}

static int imap_expunge(imap_session *s, int report, const char *verb)
{
    return imap_expunge_some(s, report, verb, NULL);
}

void imap_expunge_uids(imap_session *s, const int64_t *uids, size_t n)
{
    imap_expunge_ctx x = {uids, n};
    (void)imap_expunge_some(s, 1, "UID EXPUNGE", &x);
}

/* imap_end_if_lapsed - end the session with a BYE when its login no longer holds (mss_login_lapsed;
 * the mailbox is asked about with ask_store). 1 when it ended. */
static int imap_end_if_lapsed(imap_session *s, int ask_store)
{
    const char *why =
        s->authenticated ? mss_login_lapsed(s->svc, &s->who, &s->mailbox, lines_remote_addr(s->c), ask_store) : NULL;
    if (!why) return 0;
    lines_printf(s->c, "* BYE %s\r\n", why);
    s->over = 1;
    return 1;
}

/* imap_idle - RFC 2177: report changes until DONE. The login is checked again while idling (the
 * token's expiry every second, the mailbox with the poll), and the inactivity timer runs. */
static void imap_idle(imap_session *s, char *line)
{
    lines_printf(s->c, "+ idling\r\n");
    lines_flush(s->c);
    int64_t start = time_now_ms(), last = start;
    for (;;) {
        int r = lines_wait(s->c, 1000);
        if (r < 0) return;
        if (r > 0) {
            long l = lines_read_line(s->c, line, IMAP_LINE_MAX, NULL);
            if (l < 0 && l != LINES_TOO_LONG) return;
            if (l >= 0 && !strcasecmp(line, "DONE")) imap_tagged(s, "OK IDLE terminated");
            else imap_tagged(s, "BAD expected DONE");
            return;
        }
        int64_t now = time_now_ms();
        if (now - start >= (int64_t)s->svc->imap_timeout_s * 1000) {
            lines_printf(s->c, "* BYE autologout: idle for too long\r\n");
            s->over = 1;
            return;
        }
        int changed = mss_change_count(s->svc, s->mailbox.address) != s->generation;
        /* Other nodes' deliveries, and the mailbox's state, are seen by polling every half minute. */
        int poll = now - last > 30000;
        if (imap_end_if_lapsed(s, poll)) return;
        if (poll) last = now;
        if (s->folder && (changed || poll)) {
            imap_refresh(s, 1);
            if (lines_flush(s->c)) return;
        }
    }
}

/* imap_dispatch - one command. Returns 1 on LOGOUT. */
static int imap_dispatch(imap_session *s, char *line, int *bad)
{
    imap_cursor k = {s->cmd, s->cmd + s->cmd_len};
    const char *tag = imap_atom_until(s, &k, "(){%*\"\\+");
    snprintf(s->tag, sizeof s->tag, "%s", tag && strlen(tag) < sizeof s->tag ? tag : "*");
    const char *verb = tag ? imap_atom_until(s, &k, "") : NULL;
    if (!tag || !verb || (k.p < k.end && *k.p != ' ')) {
        (*bad)++;
        imap_tagged(s, "BAD malformed command");
        return 0;
    }
    if (imap_end_if_lapsed(s, 1)) return 1;
    int uid = 0;
    if (!strcasecmp(verb, "UID")) {
        uid = 1;
        verb = imap_atom_until(s, &k, "");
        if (!verb) {
            imap_tagged(s, "BAD UID needs a command");
            return 0;
        }
    }
#define IS(v) (!strcasecmp(verb, v))
    if (uid && !(IS("FETCH") || IS("SEARCH") || IS("STORE") || IS("COPY") || IS("MOVE") || IS("EXPUNGE"))) {
        imap_tagged(s, "BAD UID FETCH, SEARCH, STORE, COPY, MOVE or EXPUNGE");
    } else if (IS("CAPABILITY")) {
        imap_capability(s);
        imap_tagged(s, "OK CAPABILITY completed");
    } else if (IS("NOOP") || IS("CHECK")) {
        if (s->folder) imap_refresh(s, 1);
        imap_tagged(s, "OK %s completed", IS("NOOP") ? "NOOP" : "CHECK");
    } else if (IS("LOGOUT")) {
        lines_printf(s->c, "* BYE %s logging out\r\n", s->svc->domain);
        imap_tagged(s, "OK LOGOUT completed");
        return 1;
    } else if (!s->authenticated) {
        if (IS("STARTTLS")) {
            if (lines_is_tls(s->c)) {
                imap_tagged(s, "BAD TLS already active");
            } else {
                socle_err err;
                imap_tagged(s, "OK begin TLS negotiation now");
                if (lines_starttls(s->c, &err)) return 1;
            }
        } else if (IS("AUTHENTICATE")) {
            imap_authenticate(s, &k, line);
        } else if (IS("LOGIN")) {
            imap_login(s, &k);
        } else {
            (*bad)++;
            imap_tagged(s, "%s", lines_is_tls(s->c) || IS("STARTTLS") ? "BAD log in first" : "BAD STARTTLS, then log in");
        }
    } else if (IS("STARTTLS") || IS("AUTHENTICATE") || IS("LOGIN")) {
        imap_tagged(s, "BAD already authenticated");
    } else if (IS("SELECT") || IS("EXAMINE")) {
        imap_select(s, &k, IS("EXAMINE"));
    } else if (IS("CREATE") || IS("DELETE")) {
        imap_create_delete(s, &k, IS("CREATE"));
    } else if (IS("RENAME")) {
        imap_rename(s, &k);
    } else if (IS("SUBSCRIBE") || IS("UNSUBSCRIBE")) {
        imap_tagged(s, "OK %s completed (every folder is subscribed)", IS("SUBSCRIBE") ? "SUBSCRIBE" : "UNSUBSCRIBE");
    } else if (IS("LIST") || IS("LSUB")) {
        imap_list(s, &k, IS("LIST") ? "LIST" : "LSUB");
    } else if (IS("STATUS")) {
        imap_status(s, &k);
    } else if (IS("APPEND")) {
        imap_append(s, &k);
    } else if (IS("IDLE")) {
        imap_idle(s, line);
    } else if (!s->folder) {
        (*bad)++;
        imap_tagged(s, "BAD select a folder first");
    } else if (IS("CLOSE") || IS("UNSELECT")) {
        /* CLOSE expunges first: when that fails, its NO is the one answer and the folder stays. */
        if (IS("CLOSE") && !s->readonly && imap_expunge(s, 0, NULL)) return 0;
        s->folder = 0;
        free(s->msgs);
        s->msgs = NULL;
        s->n = s->cap = 0;
        imap_tagged(s, "OK %s completed", IS("CLOSE") ? "CLOSE" : "UNSELECT");
    } else if (IS("EXPUNGE")) {
        if (uid) imap_cmd_uid_expunge(s, &k);
        else imap_expunge(s, 1, "EXPUNGE");
    } else if (IS("FETCH")) {
        imap_cmd_fetch(s, &k, uid);
    } else if (IS("SEARCH")) {
        imap_cmd_search(s, &k, uid);
    } else if (IS("STORE")) {
        imap_cmd_store(s, &k, uid);
    } else if (IS("COPY") || IS("MOVE")) {
        imap_cmd_copy(s, &k, uid, IS("MOVE"));
    } else {
        (*bad)++;
        imap_tagged(s, "BAD unknown command");
    }
#undef IS
    return 0;
}

void mss_imap_session(lines_conn *c, void *ctx)
{
    imap_session *s = calloc(1, sizeof *s);
    char *line = malloc(IMAP_LINE_MAX);
    if (!s || !line) {
        free(s);
        free(line);
        return;
    }
    s->svc = ctx;
    s->c = c;
    lines_printf(c, "* OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE%s] %s IMAP4rev1 socle MSSanté ready\r\n",
                 lines_is_tls(c) ? "" : " STARTTLS LOGINDISABLED", s->svc->domain);
    lines_flush(c);
    int bad = 0;
    while (bad < IMAP_MAX_BAD) {
        if (s->auth_failures >= IMAP_MAX_AUTH_FAILURES) {
            lines_printf(c, "* BYE too many failed logins\r\n");
            break;
        }
        int r = imap_read_command(s, line);
        if (r < 0) break;
        if (r > 0) {
            bad++;
        } else {
            s->a = arena_new(16384);
            if (!s->a) break;
            int over = imap_dispatch(s, line, &bad);
            arena_free(s->a);
            s->a = NULL;
            if (over || s->over) break;
        }
        s->tag[0] = 0;
        if (!lines_pending(c) && lines_flush(c)) break;
    }
    if (bad >= IMAP_MAX_BAD) lines_printf(c, "* BYE too many bad commands\r\n");
    lines_flush(c);
    memset(&s->who, 0, sizeof s->who);
    free(s->msgs);
    free(s->cmd);
    free(s);
    free(line);
}
