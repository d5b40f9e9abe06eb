/* smtp.c - the SMTP server sessions (RFC 5321) of the MSSanté operator, in its two roles:
 * relay between operators (mutual TLS, trust space) and submission for the operator's users
 * (AUTH OAUTHBEARER / XOAUTH2 / EXTERNAL / PLAIN when allowed).
 *
 * Extensions: STARTTLS (RFC 3207, required before any mail transaction), PIPELINING (replies
 * are flushed only when no more input is buffered), SIZE, 8BITMIME, ENHANCEDSTATUSCODES, DSN
 * (RET, ENVID, NOTIFY, ORCPT accepted and kept), AUTH (RFC 4954, RFC 7628).
 * DATA is read to its end whatever happens, so that the session stays in step; the message is
 * refused as a whole (bare LF, over SIZE, over-long line, malformed MIME or XDM) or stored for
 * every recipient before 250 is sent. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/ids.h"
#include "crypto/crypto.h"
#include "crypto/pki.h"
#include "svc/mss/mss_internal.h"

#define SMTP_LINE_MAX 16384      /* commands (AUTH carries tokens) */
#define SMTP_DATA_LINE_MAX 65536 /* message lines; RFC 5321 says 1000, real mail is sloppier */
#define SMTP_MAX_ERRORS 10

typedef struct smtp_session {
    mss_service *svc;
    lines_conn *c;
    int submission;
    int ehlo;
    int authenticated;
    int in_mail;
    int errors;
    mss_sender sender;
    mss_envelope env;
    char line[SMTP_LINE_MAX];
} smtp_session;

/* smtp_reply - one reply line; sent at once unless the client pipelined more commands. */
static int smtp_reply(smtp_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int smtp_reply(smtp_session *s, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    lines_printf(s->c, "%s\r\n", buf);
    return lines_pending(s->c) ? 0 : lines_flush(s->c);
}

/* smtp_reset - forget the mail transaction (RSET, HELO, after DATA). */
static void smtp_reset(smtp_session *s)
{
    s->in_mail = 0;
    /* The per-recipient slots are written whole by each RCPT: only the counts and scalars. */
    s->env.nrcpt = 0;
    s->env.from[0] = s->env.envid[0] = s->env.ret[0] = 0;
    s->sender.from[0] = 0;
}

/* smtp_verb - does the command line start with verb (case-insensitive) followed by end or space? */
static int smtp_verb(const char *line, const char *verb)
{
    size_t n = strlen(verb);
    return !strncasecmp(line, verb, n) && (line[n] == 0 || line[n] == ' ');
}

/* smtp_path - the address of "FROM:<a@b> ..." / "TO:<a@b> ..." after the keyword; *rest gets the
 * parameters. -1 when malformed. */
static int smtp_path(const char *args, const char *keyword, char *out, size_t n, const char **rest)
{
    size_t kl = strlen(keyword);
    if (strncasecmp(args, keyword, kl)) return -1;
    const char *p = args + kl;
    while (*p == ' ') p++;
    if (*p != '<') return -1;
    const char *end = strchr(p, '>');
    if (!end || (size_t)(end - p - 1) >= n) return -1;
    size_t l = (size_t)(end - p - 1);
    memcpy(out, p + 1, l);
    out[l] = 0;
    /* A source route "@a,@b:user@d" is obsolete; keep the mailbox. */
    if (out[0] == '@') {
        char *colon = strchr(out, ':');
        if (!colon) return -1;
        memmove(out, colon + 1, strlen(colon));
    }
    *rest = end + 1;
    return 0;
}

/* smtp_param - the value of ESMTP parameter name in rest (copied into out), or NULL. */
static const char *smtp_param(const char *rest, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (const char *p = rest; p && *p;) {
        while (*p == ' ') p++;
        if (!strncasecmp(p, name, nl) && (p[nl] == '=' || p[nl] == ' ' || !p[nl])) {
            const char *v = p[nl] == '=' ? p + nl + 1 : p + nl;
            size_t l = strcspn(v, " ");
            if (l >= n) l = n - 1;
            memcpy(out, v, l);
            out[l] = 0;
            return out;
        }
        p = strchr(p, ' ');
    }
    return NULL;
}

/* smtp_xtext - is v xtext (RFC 3461 §4): printable ASCII but '=' and '+' other than "+XX"? */
static int smtp_xtext(const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p < 33 || *p > 126 || *p == '=') return 0;
        if (*p == '+' && !(isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]))) return 0;
    }
    return 1;
}

/* smtp_notify_valid - NEVER, or a comma-separated list of SUCCESS, FAILURE, DELAY (RFC 3461 §4.1). */
static int smtp_notify_valid(const char *v)
{
    if (!strcasecmp(v, "NEVER")) return 1;
    char copy[64], *save;
    snprintf(copy, sizeof copy, "%s", v);
    int n = 0;
    for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save), n++)
        if (strcasecmp(w, "SUCCESS") && strcasecmp(w, "FAILURE") && strcasecmp(w, "DELAY")) return 0;
    return n > 0 && v[strlen(v) - 1] != ',';
}

static void smtp_ehlo(smtp_session *s, const char *args, int extended)
{
    snprintf(s->sender.helo, sizeof s->sender.helo, "%s", args && *args ? args : "unknown");
    smtp_reset(s);
    s->ehlo = 1;
    if (!extended) {
        smtp_reply(s, "250 %s", s->svc->domain);
        return;
    }
    lines_printf(s->c, "250-%s greets %.100s\r\n", s->svc->domain, s->sender.helo);
    lines_printf(s->c, "250-PIPELINING\r\n250-SIZE %zu\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n",
                 s->svc->max_message);
    if (!lines_is_tls(s->c)) lines_printf(s->c, "250-STARTTLS\r\n");
    else if (s->submission && !s->authenticated)
        lines_printf(s->c, "250-AUTH OAUTHBEARER XOAUTH2 EXTERNAL%s\r\n", s->svc->allow_password ? " PLAIN" : "");
    smtp_reply(s, "250 HELP");
}

/* smtp_read_response - the client's next SASL line, base64-decoded into out (NUL-terminated).
 * -1 cancelled or malformed (reply sent), -2 connection gone. */
static long smtp_read_response(smtp_session *s, const char *initial, char *out, size_t n)
{
    const char *b64 = initial;
    if (!b64) {
        smtp_reply(s, "334 ");
        long l = lines_read_line(s->c, s->line, sizeof s->line, NULL);
        if (l < 0 && l != LINES_TOO_LONG) return -2;
        if (l == LINES_TOO_LONG) {
            smtp_reply(s, "500 5.5.6 authentication exchange line too long");
            return -1;
        }
        b64 = s->line;
    }
    if (!strcmp(b64, "*")) {
        smtp_reply(s, "501 5.7.0 authentication cancelled");
        return -1;
    }
    if (!strcmp(b64, "=")) b64 = "";
    size_t len = 0, bl = strlen(b64);
    if (bl / 4 * 3 + 3 > n || crypto_b64_decode(b64, bl, (uint8_t *)out, &len)) {
        smtp_reply(s, "501 5.5.2 cannot decode the base64 response");
        return -1;
    }
    out[len] = 0;
    return (long)len;
}

static void smtp_auth(smtp_session *s, const char *args)
{
    if (!s->submission) {
        smtp_reply(s, "502 5.5.1 AUTH is for the submission port");
        return;
    }
    if (!lines_is_tls(s->c)) {
        smtp_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
        return;
    }
    if (s->authenticated || s->in_mail) {
        smtp_reply(s, "503 5.5.1 already authenticated or in a mail transaction");
        return;
    }
    char mech[32];
    size_t ml = strcspn(args, " ");
    if (!ml || ml >= sizeof mech) {
        smtp_reply(s, "501 5.5.4 AUTH needs a mechanism");
        return;
    }
    memcpy(mech, args, ml);
    mech[ml] = 0;
    const char *initial = args[ml] == ' ' ? args + ml + 1 : NULL;
    char *resp = malloc(SMTP_LINE_MAX);
    if (!resp) return;
    socle_err err;
    int rc = -1;
    const char *remote = lines_remote_addr(s->c);
    if (!strcasecmp(mech, "OAUTHBEARER") || !strcasecmp(mech, "XOAUTH2")) {
        int x = !strcasecmp(mech, "XOAUTH2");
        long l = smtp_read_response(s, initial, resp, SMTP_LINE_MAX);
        const char *user, *token;
        if (l >= 0) {
            if (mss_sasl_oauth(resp, (size_t)l, x, &user, &token)) {
                smtp_reply(s, "501 5.5.2 malformed %s response", mech);
            } else {
                rc = mss_authenticate_token(s->svc, user, token, remote, &s->sender.who, &s->sender.mailbox, &err);
                if (rc && rc != SOCLE_EUNAUTHORIZED) {
                    smtp_reply(s, "454 4.7.0 temporary authentication failure");
                } else if (rc) {
                    /* RFC 7628 §3.2.2: an error challenge, then the client's dummy response. */
                    static const char status[] = "{\"status\":\"invalid_token\",\"schemes\":\"bearer\",\"scope\":\"\"}";
                    char enc[128];
                    crypto_b64_encode((const uint8_t *)status, sizeof status - 1, enc);
                    smtp_reply(s, "334 %s", enc);
                    (void)lines_read_line(s->c, s->line, sizeof s->line, NULL);
                    smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
                }
            }
        }
    } else if (!strcasecmp(mech, "EXTERNAL")) {
        long l = smtp_read_response(s, initial, resp, SMTP_LINE_MAX);
        if (l >= 0) {
            rc = mss_authenticate_certificate(s->svc, s->c, l ? resp : NULL, &s->sender.who, &s->sender.mailbox, &err);
            if (rc && rc != SOCLE_EUNAUTHORIZED) smtp_reply(s, "454 4.7.0 temporary authentication failure");
            else if (rc) smtp_reply(s, "535 5.7.8 no client certificate of a mailbox of this operator");
        }
    } else if (!strcasecmp(mech, "PLAIN") && s->svc->allow_password) {
        long l = smtp_read_response(s, initial, resp, SMTP_LINE_MAX);
        if (l >= 0) {
            /* authzid NUL authcid NUL password */
            const char *authz = resp, *user = memchr(resp, 0, (size_t)l), *pass = NULL;
            if (user) user++, pass = memchr(user, 0, (size_t)l - (size_t)(user - resp));
            if (pass) pass++;
            if (!user || !pass || (*authz && strcasecmp(authz, user))) {
                smtp_reply(s, "501 5.5.2 malformed PLAIN response");
            } else {
                rc = mss_authenticate_password(s->svc, user, pass, remote, &s->sender.who, &s->sender.mailbox, &err);
                if (rc && rc != SOCLE_EUNAUTHORIZED) smtp_reply(s, "454 4.7.0 temporary authentication failure");
                else if (rc) smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
            }
        }
    } else {
        smtp_reply(s, "504 5.5.4 mechanism not supported");
    }
    if (resp) memset(resp, 0, SMTP_LINE_MAX);
    free(resp);
    memset(s->line, 0, sizeof s->line); /* the token or password must not linger */
    if (rc == 0) {
        s->authenticated = 1;
        smtp_reply(s, "235 2.7.0 Authentication successful");
    } else {
        s->errors++;
    }
}

/* smtp_relay_peer - relay role: the connected operator, from its verified certificate. 0, or a
 * reply was sent. */
static int smtp_relay_peer(smtp_session *s)
{
    if (s->sender.peer[0]) return 0;
    size_t len;
    const unsigned char *der = lines_peer_cert_der(s->c, &len);
    pki_client_kind kind;
    char id[MSS_ADDRESS_MAX];
    socle_err err;
    if (!der || pki_cert_identity(der, len, &kind, id, sizeof id, &err) || kind != PKI_CLIENT_OPERATOR) {
        mss_audit(s->svc, NULL, "relay", "denied", NULL, lines_remote_addr(s->c), "no operator certificate");
        smtp_reply(s, "530 5.7.0 a client certificate of an operator of the MSSanté trust space is required");
        return -1;
    }
    mss_lower(id);
    if (!mss_trust_has(s->svc->trust, id)) {
        mss_audit(s->svc, NULL, "relay", "denied", NULL, lines_remote_addr(s->c), "operator outside the trust space");
        smtp_reply(s, "550 5.7.1 operator %s is not in the MSSanté trust space", id);
        return -1;
    }
    snprintf(s->sender.peer, sizeof s->sender.peer, "%s", id);
    return 0;
}

static void smtp_mail(smtp_session *s, const char *args)
{
    if (s->in_mail) {
        smtp_reply(s, "503 5.5.1 nested MAIL command");
        return;
    }
    /* The login is checked again at each message: an expired token or a closed mailbox sends no more. */
    const char *lapsed = s->submission && s->authenticated
                             ? mss_login_lapsed(s->svc, &s->sender.who, &s->sender.mailbox, lines_remote_addr(s->c), 1)
                             : NULL;
    if (lapsed) s->authenticated = 0;
    if (s->submission && !s->authenticated) {
        smtp_reply(s, "530 5.7.0 Authentication required%s%s", lapsed ? ": " : "", lapsed ? lapsed : "");
        return;
    }
    if (!s->submission && smtp_relay_peer(s)) return;
    char from[MSS_ADDRESS_MAX], local[80], domain[260], val[128];
    const char *rest;
    if (smtp_path(args, "FROM:", from, sizeof from, &rest)) {
        smtp_reply(s, "501 5.5.4 syntax: MAIL FROM:<address>");
        return;
    }
    if (from[0] && mss_split_address(from, local, sizeof local, domain, sizeof domain)) {
        smtp_reply(s, "553 5.1.7 bad sender address syntax");
        return;
    }
    mss_lower(from);
    if (smtp_param(rest, "SIZE", val, sizeof val) && strtoull(val, NULL, 10) > s->svc->max_message) {
        smtp_reply(s, "552 5.3.4 message size exceeds the limit of %zu bytes", s->svc->max_message);
        return;
    }
    if (smtp_param(rest, "BODY", val, sizeof val) && strcasecmp(val, "7BIT") && strcasecmp(val, "8BITMIME")) {
        smtp_reply(s, "555 5.5.4 BODY must be 7BIT or 8BITMIME");
        return;
    }
    if (s->submission) {
        if (strcmp(from, s->sender.mailbox.address)) {
            mss_audit(s->svc, &s->sender.who, "send", "denied", s->sender.mailbox.address, lines_remote_addr(s->c),
                      "sender address is not the authenticated mailbox");
            smtp_reply(s, "553 5.7.1 you may only send as %s", s->sender.mailbox.address);
            return;
        }
    } else if (from[0] && mss_domain_kind(s->svc, domain)) {
        mss_audit(s->svc, NULL, "relay", "denied", NULL, lines_remote_addr(s->c), "peer sending as this operator");
        smtp_reply(s, "550 5.7.1 %s is a domain of this operator: another operator cannot send for it", domain);
        return;
    } else if (from[0] && !mss_trust_has(s->svc->trust, domain)) {
        mss_audit(s->svc, NULL, "relay", "denied", NULL, lines_remote_addr(s->c), "sender domain outside the trust space");
        smtp_reply(s, "550 5.7.1 sender domain %s is not in the MSSanté trust space", domain);
        return;
    }
    smtp_reset(s);
    snprintf(s->sender.from, sizeof s->sender.from, "%s", from);
    snprintf(s->env.from, sizeof s->env.from, "%s", from);
    if (smtp_param(rest, "ENVID", val, sizeof val)) {
        if (!smtp_xtext(val) || strlen(val) > 100) {
            smtp_reply(s, "501 5.5.4 ENVID must be xtext (RFC 3461)");
            return;
        }
        snprintf(s->env.envid, sizeof s->env.envid, "%s", val);
    }
    if (smtp_param(rest, "RET", val, sizeof val) && strcasecmp(val, "FULL") && strcasecmp(val, "HDRS")) {
        smtp_reply(s, "501 5.5.4 RET must be FULL or HDRS");
        return;
    }
    if (smtp_param(rest, "RET", val, sizeof val)) snprintf(s->env.ret, sizeof s->env.ret, "%s", val);
    s->in_mail = 1;
    smtp_reply(s, "250 2.1.0 sender ok");
}

static void smtp_rcpt(smtp_session *s, const char *args)
{
    if (!s->in_mail) {
        smtp_reply(s, "503 5.5.1 MAIL first");
        return;
    }
    if (s->env.nrcpt >= MSS_MAX_RECIPIENTS) {
        smtp_reply(s, "452 4.5.3 too many recipients");
        return;
    }
    char to[MSS_ADDRESS_MAX], val[64], reply[300];
    const char *rest;
    if (smtp_path(args, "TO:", to, sizeof to, &rest)) {
        smtp_reply(s, "501 5.5.4 syntax: RCPT TO:<address>");
        return;
    }
    mss_lower(to);
    store_conn *c;
    socle_err err;
    if (store_acquire(s->svc->app->store, &c, &err)) {
        smtp_reply(s, "451 4.3.0 temporary failure, try again");
        return;
    }
    mss_postmaster(s->svc, c, to, sizeof to);
    int rc = mss_check_recipient(s->svc, c, &s->sender, to, reply, sizeof reply);
    store_release(s->svc->app->store, c);
    if (rc) {
        smtp_reply(s, "%s", reply);
        return;
    }
    for (int i = 0; i < s->env.nrcpt; i++)
        if (!strcmp(s->env.rcpt[i], to)) {
            smtp_reply(s, "250 2.1.5 recipient ok (duplicate)");
            return;
        }
    snprintf(s->env.rcpt[s->env.nrcpt], sizeof s->env.rcpt[0], "%s", to);
    s->env.notify[s->env.nrcpt][0] = 0;
    if (smtp_param(rest, "NOTIFY", val, sizeof val)) {
        if (!smtp_notify_valid(val)) {
            smtp_reply(s, "501 5.5.4 NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY");
            return;
        }
        snprintf(s->env.notify[s->env.nrcpt], sizeof s->env.notify[0], "%s", val);
    }
    char orcpt[MSS_ORCPT_MAX + 8];
    if (smtp_param(rest, "ORCPT", orcpt, sizeof orcpt)) {
        /* RFC 3461 section 4.2: addr-type ";" xtext, kept as received to pass on and report. */
        const char *semi = strchr(orcpt, ';');
        size_t tl = semi ? (size_t)(semi - orcpt) : 0;
        int ok = semi && tl > 0 && semi[1] && strlen(orcpt) <= 500 && smtp_xtext(semi + 1);
        for (size_t i = 0; ok && i < tl; i++) ok = isalnum((unsigned char)orcpt[i]) || orcpt[i] == '-';
        if (!ok) {
            smtp_reply(s, "501 5.5.4 ORCPT must be addr-type;xtext of at most 500 characters (RFC 3461)");
            return;
        }
        snprintf(s->env.orcpt[s->env.nrcpt], sizeof s->env.orcpt[0], "%s", orcpt);
    } else {
        s->env.orcpt[s->env.nrcpt][0] = 0;
    }
    s->env.nrcpt++;
    smtp_reply(s, "250 2.1.5 recipient ok");
}

/* smtp_received - the trace header this operator prepends (RFC 5321 §4.4). */
static void smtp_received(smtp_session *s, const char *id, socle_buf *out)
{
    char date[64];
    mss_date(date, sizeof date);
    char helo[101];
    size_t i = 0;
    for (const char *p = s->sender.helo; *p && i < sizeof helo - 1; p++)
        helo[i++] = (*p > ' ' && *p < 127 && *p != '(' && *p != ')' && *p != ';') ? *p : '_';
    helo[i] = 0;
    buf_printf(out, "Received: from %s (%s)\r\n\tby %s (socle) with %s id %s;\r\n\t%s\r\n", helo, lines_remote_addr(s->c),
               s->svc->domain, s->submission ? "ESMTPSA" : "ESMTPS", id, date);
}

static void smtp_data(smtp_session *s)
{
    if (!s->in_mail) {
        smtp_reply(s, "503 5.5.1 MAIL first");
        return;
    }
    if (!s->env.nrcpt) {
        smtp_reply(s, "554 5.5.1 no valid recipients");
        return;
    }
    smtp_reply(s, "354 end data with <CR><LF>.<CR><LF>");
    lines_flush(s->c);
    char id[40];
    id_uuid(id);
    socle_buf msg;
    buf_init(&msg);
    smtp_received(s, id, &msg);
    char *line = malloc(SMTP_DATA_LINE_MAX);
    const char *refusal = NULL;
    int flags;
    for (;;) {
        long l = line ? lines_read_line(s->c, line, SMTP_DATA_LINE_MAX, &flags) : LINES_EOF;
        if (l == LINES_EOF || l == LINES_TIMEOUT) {
            free(line);
            buf_free(&msg);
            s->errors = SMTP_MAX_ERRORS; /* the session is over */
            return;
        }
        if (l == LINES_TOO_LONG) {
            if (!refusal) refusal = "554 5.6.0 a line of the message is longer than 64 KiB";
            continue;
        }
        if (flags & LINES_BARE_LF) {
            /* Never a terminator (SMTP smuggling); refuse the message once it ends. */
            if (!refusal) refusal = "550 5.6.0 bare LF in the message refused (RFC 5321 section 2.3.8)";
            continue;
        }
        if (l == 1 && line[0] == '.') break;
        if (memchr(line, '\r', (size_t)l)) {
            /* A CR not followed by LF: another server could read it as a line end (smuggling). */
            if (!refusal) refusal = "550 5.6.0 bare CR in the message refused (RFC 5321 section 2.3.8)";
            continue;
        }
        const char *p = line[0] == '.' ? line + 1 : line;
        size_t pl = line[0] == '.' ? (size_t)l - 1 : (size_t)l;
        if (refusal) continue;
        if (msg.len + pl + 2 > s->svc->max_message + 4096) {
            refusal = "552 5.3.4 message size exceeds the limit";
            continue;
        }
        buf_append(&msg, p, pl);
        buf_append(&msg, "\r\n", 2);
    }
    free(line);
    char reply[400];
    if (!refusal && !buf_ok(&msg)) refusal = "452 4.3.1 insufficient system storage";
    if (refusal) {
        snprintf(reply, sizeof reply, "%s", refusal);
    } else if (mss_deliver(s->svc, &s->sender, &s->env, msg.data, msg.len, reply, sizeof reply) == 0) {
        snprintf(reply, sizeof reply, "250 2.0.0 ok: queued as %s", id);
    }
    buf_free(&msg);
    smtp_reset(s);
    smtp_reply(s, "%s", reply);
}

/* smtp_run - the command loop of both roles. */
static void smtp_run(lines_conn *c, mss_service *svc, int submission)
{
    smtp_session *s = calloc(1, sizeof *s);
    if (!s) return;
    s->svc = svc;
    s->c = c;
    s->submission = submission;
    snprintf(s->sender.remote, sizeof s->sender.remote, "%s", lines_remote_addr(c));
    s->sender.submission = submission;
    smtp_reply(s, "220 %s ESMTP socle MSSanté", svc->domain);
    while (s->errors < SMTP_MAX_ERRORS) {
        long l = lines_read_line(c, s->line, sizeof s->line, NULL);
        if (l == LINES_EOF) break;
        if (l == LINES_TIMEOUT) {
            smtp_reply(s, "421 4.4.2 %s timeout, closing", svc->domain);
            break;
        }
        if (l == LINES_TOO_LONG) {
            s->errors++;
            smtp_reply(s, "500 5.5.2 line too long");
            continue;
        }
        if ((size_t)l != strlen(s->line) || memchr(s->line, '\r', (size_t)l)) {
            s->errors++;
            smtp_reply(s, "500 5.5.2 NUL or bare CR in command");
            continue;
        }
        char *line = s->line;
        const char *args = line + strcspn(line, " ");
        while (*args == ' ') args++;
        int tls = lines_is_tls(c);
        if (smtp_verb(line, "EHLO") || smtp_verb(line, "HELO")) {
            smtp_ehlo(s, args, toupper((unsigned char)line[0]) == 'E');
        } else if (smtp_verb(line, "STARTTLS")) {
            if (tls) {
                smtp_reply(s, "503 5.5.1 TLS already active");
            } else if (*args) {
                smtp_reply(s, "501 5.5.4 STARTTLS takes no parameters");
            } else {
                socle_err err;
                smtp_reply(s, "220 2.0.0 ready to start TLS");
                if (lines_starttls(c, &err)) break;
                s->ehlo = 0;
                smtp_reset(s);
            }
        } else if (smtp_verb(line, "QUIT")) {
            smtp_reply(s, "221 2.0.0 %s closing connection", svc->domain);
            break;
        } else if (smtp_verb(line, "NOOP")) {
            smtp_reply(s, "250 2.0.0 ok");
        } else if (smtp_verb(line, "RSET")) {
            smtp_reset(s);
            smtp_reply(s, "250 2.0.0 ok");
        } else if (smtp_verb(line, "HELP")) {
            smtp_reply(s, "214 2.0.0 see RFC 5321; this is an MSSanté operator");
        } else if (smtp_verb(line, "VRFY") || smtp_verb(line, "EXPN")) {
            smtp_reply(s, "252 2.5.0 cannot verify, but will try delivery");
        } else if (!smtp_verb(line, "MAIL") && !smtp_verb(line, "RCPT") && !smtp_verb(line, "DATA") &&
                   !smtp_verb(line, "AUTH")) {
            s->errors++;
            smtp_reply(s, "500 5.5.2 command unrecognized");
        } else if (!tls) {
            s->errors++;
            smtp_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
        } else if (!s->ehlo) {
            smtp_reply(s, "503 5.5.1 EHLO first");
        } else if (smtp_verb(line, "AUTH")) {
            smtp_auth(s, args);
        } else if (smtp_verb(line, "MAIL")) {
            smtp_mail(s, args);
        } else if (smtp_verb(line, "RCPT")) {
            smtp_rcpt(s, args);
        } else {
            if (*args) smtp_reply(s, "501 5.5.4 DATA takes no parameters");
            else smtp_data(s);
        }
    }
    if (s->errors >= SMTP_MAX_ERRORS && !lines_stopping(c)) smtp_reply(s, "421 4.7.0 too many errors, closing");
    lines_flush(c);
    memset(s, 0, sizeof *s);
    free(s);
}

void mss_smtp_session(lines_conn *c, void *ctx)
{
    smtp_run(c, ctx, 0);
}

void mss_submission_session(lines_conn *c, void *ctx)
{
    smtp_run(c, ctx, 1);
}
