/* relay.c - the outbound relay to the other operators of the trust space: a worker thread takes
 * the due entries of the queue (mss_queue), speaks SMTP to the recipient's operator (route from
 * mss_routes, else the domain on port 25) with STARTTLS required, the peer's certificate checked
 * against the trust-space CA and the recipient's domain, and our operator certificate presented.
 * A 2xx removes the entry; a 4xx or a network failure retries after the next wait of
 * mss_retry_s; a 5xx or the last attempt returns a DSN to the sender. Several nodes on one
 * database share the queue: an entry is claimed by moving its next_ms, which only one wins. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/timeutil.h"
#include "svc/mss/mss_internal.h"

#define RELAY_BATCH 16
#define RELAY_CLAIM_MS 600000 /* an entry being sent is invisible to other workers for this long */

typedef struct relay_entry {
    int64_t id, next_ms;
    int64_t body; /* the stored body it points at (0: the entry holds its own copy) */
    int attempts;
    char sender[MSS_ADDRESS_MAX], recipient[MSS_ADDRESS_MAX], domain[MSS_ADDRESS_MAX];
    char envid[101], notify[32], orcpt[MSS_ORCPT_MAX], ret[8];
} relay_entry;

/* relay_route - host and port for domain: an mss_routes entry, else the domain on port 25. */
static void relay_route(const mss_service *svc, const char *domain, char *host, size_t n, int *port)
{
    snprintf(host, n, "%s", domain);
    *port = 25;
    size_t dl = strlen(domain);
    for (const char *p = svc->routes; p && *p;) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq && (size_t)(eq - p) == dl && !strncasecmp(p, domain, dl)) {
            const char *hp = eq + 1;
            size_t hl = len - (size_t)(hp - p);
            const char *colon = memrchr(hp, ':', hl);
            size_t hostlen = colon ? (size_t)(colon - hp) : hl;
            if (hostlen < n) {
                memcpy(host, hp, hostlen);
                host[hostlen] = 0;
            }
            if (colon) *port = atoi(colon + 1);
            return;
        }
        p = end ? end + 1 : NULL;
    }
}

/* relay_reply - read a (multi-line) reply; its code, the last line in text. *dsn (may be NULL)
 * is set when a line of it is the DSN extension (an EHLO reply, RFC 3461). */
static int relay_reply(lines_conn *c, char *text, size_t n, int *dsn)
{
    for (int lines = 0; lines < 100; lines++) {
        long l = lines_read_line(c, text, n, NULL);
        if (l < 3) return l == LINES_TOO_LONG ? 500 : 0;
        if (dsn && l >= 7 && !strncasecmp(text + 4, "DSN", 3) && (text[7] == 0 || text[7] == ' ')) *dsn = 1;
        if (l == 3 || text[3] != '-') return atoi(text); /* "250" alone is a complete reply */
    }
    return 0;
}

/* relay_command - send a command, read the reply; the code (0: connection lost). */
static int relay_command(lines_conn *c, char *text, size_t n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int relay_command(lines_conn *c, char *text, size_t n, const char *fmt, ...)
{
    char cmd[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (lines_printf(c, "%s\r\n", cmd) || lines_flush(c)) return 0;
    return relay_reply(c, text, n, NULL);
}

/* relay_ehlo - EHLO; its code, and whether the peer speaks DSN. */
static int relay_ehlo(mss_service *svc, lines_conn *c, char *text, size_t n, int *dsn)
{
    *dsn = 0;
    if (lines_printf(c, "EHLO %s\r\n", svc->domain) || lines_flush(c)) return 0;
    return relay_reply(c, text, n, dsn);
}

/* relay_send - one SMTP transaction. 2xx: 0; 4xx or network: 1; 5xx: 2. text gets why; *dsn
 * whether the peer took the DSN parameters (RFC 3461 section 4: passed on when it speaks DSN). */
static int relay_send(mss_service *svc, const relay_entry *e, const char *msg, size_t len, char *text, size_t n,
                      int *dsn)
{
    *dsn = 0;
    /* Defence in depth: what SMTP and the HTTP API accept has CRLF line ends only; anything else
     * could smuggle a second message past the peer (RFC 5321 section 2.3.8). Never sent. */
    long bare = mss_bare_line_end(msg, len);
    if (bare >= 0) {
        snprintf(text, n, "not sent: the message holds a bare CR or LF (byte %ld)", bare);
        return 2;
    }
    char host[MSS_ADDRESS_MAX];
    int port;
    relay_route(svc, e->domain, host, sizeof host, &port);
    lines_conn *c;
    socle_err err;
    if (lines_connect(host, port, svc->client_tls, 60, &c, &err)) {
        snprintf(text, n, "%s", err.msg);
        return 1;
    }
    lines_set_server_name(c, e->domain);
    int code = relay_reply(c, text, n, NULL), rc = 1;
    if (code != 220) goto done;
    code = relay_ehlo(svc, c, text, n, dsn);
    if (code != 250) goto done;
    code = relay_command(c, text, n, "STARTTLS");
    if (code != 220) {
        snprintf(text, n, "the peer offers no STARTTLS: refusing to send in clear");
        goto done;
    }
    if (lines_starttls(c, &err)) {
        snprintf(text, n, "%s", err.msg);
        goto done;
    }
    size_t cl;
    if (!lines_peer_cert_der(c, &cl) || !lines_peer_name_matches(c, e->domain)) {
        snprintf(text, n, "the certificate of %s is not a trust-space certificate for %s", host, e->domain);
        goto done;
    }
    code = relay_ehlo(svc, c, text, n, dsn);
    if (code != 250) goto done;
    char params[200] = "", rparams[MSS_ORCPT_MAX + 64] = "";
    if (*dsn) {
        int k = 0;
        if (e->envid[0]) k += snprintf(params + k, sizeof params - (size_t)k, " ENVID=%s", e->envid);
        if (e->ret[0]) snprintf(params + k, sizeof params - (size_t)k, " RET=%s", e->ret);
        k = 0;
        if (e->notify[0]) k += snprintf(rparams + k, sizeof rparams - (size_t)k, " NOTIFY=%s", e->notify);
        if (e->orcpt[0]) snprintf(rparams + k, sizeof rparams - (size_t)k, " ORCPT=%s", e->orcpt);
    }
    code = relay_command(c, text, n, "MAIL FROM:<%s>%s", e->sender, params);
    if (code != 250) goto done;
    code = relay_command(c, text, n, "RCPT TO:<%s>%s", e->recipient, rparams);
    if (code != 250 && code != 251) goto done;
    code = relay_command(c, text, n, "DATA");
    if (code != 354) goto done;
    /* The message, dot-stuffed (RFC 5321 §4.5.2), ending with CRLF . CRLF. */
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(msg + i, '\n', len - i);
        size_t l = nl ? (size_t)(nl - (msg + i)) + 1 : len - i;
        if (msg[i] == '.') lines_write(c, ".", 1);
        lines_write(c, msg + i, l);
        if (!nl) lines_write(c, "\r\n", 2);
        i += l;
    }
    code = relay_command(c, text, n, ".");
    if (code == 250) {
        rc = 0;
        relay_command(c, text, n, "QUIT");
    }
done:
    if (rc && code >= 500 && code < 600) rc = 2;
    if (rc && code) {
        char bye[512];
        relay_command(c, bye, sizeof bye, "QUIT");
    }
    lines_close(c);
    return rc;
}

/* relay_dequeue - remove the entry, and its body when nothing else holds it (in c's transaction). */
static int relay_dequeue(store_conn *c, const relay_entry *e, socle_err *err)
{
    store_value p[] = {STORE_V_INT(e->id)};
    int rc = store_exec(c, "DELETE FROM mss_queue WHERE id = $1", p, 1, NULL, err);
    if (!rc && e->body) rc = mss_body_release(c, e->body, err);
    return rc;
}

/* relay_finish - remove the entry and, on failure, return a DSN to its sender; also a "relayed"
 * one when the sender asked for success notices and the peer takes no DSN (RFC 3461 5.2.2). */
static void relay_finish(mss_service *svc, const relay_entry *e, const char *msg, size_t len, int failed,
                         const char *why, int peer_dsn)
{
    /* RFC 3461: a failure DSN unless the sender asked for none, or for other notices only. */
    int notify = failed && e->sender[0] && (!e->notify[0] || strcasestr(e->notify, "FAILURE"));
    int relayed = !failed && !peer_dsn && e->sender[0] && strcasestr(e->notify, "SUCCESS");
    socle_buf dsn;
    buf_init(&dsn);
    if (notify)
        /* RFC 3464 2.3.3: "failed" is a permanent status; out of retries is 5.4.7 (RFC 3463). */
        mss_dsn(svc, e->sender, e->recipient, e->orcpt, "failed", failed == 2 ? "5.0.0" : "5.4.7", why, msg, len,
                e->envid, &dsn);
    else if (relayed)
        mss_dsn(svc, e->sender, e->recipient, e->orcpt, "relayed", "2.0.0", NULL, msg, len, e->envid, &dsn);
    notify |= relayed;
    /* The entry leaves the queue in the same transaction as its DSN arrives: neither is lost. */
    socle_err err;
    store_conn *c;
    int ours = 0, rc = store_acquire(svc->app->store, &c, &err);
    if (rc) {
        buf_free(&dsn);
        return; /* still claimed: tried again when the claim expires */
    }
    rc = store_tx_begin(c, &err);
    if (!rc) rc = relay_dequeue(c, e, &err);
    if (!rc && notify && buf_ok(&dsn)) {
        socle_err why_not;
        if (mss_generated_write(svc, c, e->sender, dsn.data, dsn.len, &ours, &why_not)) {
            /* An undeliverable DSN (sender gone, domain out of the trust space) is dropped, logged. */
            log_msg(LOG_WARN, "mss: DSN not delivered: %s", why_not.msg);
            notify = 0;
            store_tx_rollback(c);
            rc = store_tx_begin(c, &err);
            if (!rc) rc = relay_dequeue(c, e, &err);
        }
    }
    if (!rc) rc = store_tx_commit(c, &err);
    store_tx_rollback(c);
    store_release(svc->app->store, c);
    buf_free(&dsn);
    if (!rc && e->body) mss_segments_reclaim(svc->segments, svc->app->store);
    if (!rc && notify) {
        if (ours) mss_changed(svc, e->sender);
        else mss_notify(svc);
    }
    log_line l;
    log_begin(&l, failed ? LOG_WARN : LOG_INFO, failed ? "mss relay failed" : "mss relayed");
    log_str(&l, "domain", e->domain);
    log_int(&l, "attempts", e->attempts + 1);
    log_end(&l);
}

/* relay_one - claim, send, and settle one entry. */
static void relay_one(mss_service *svc, relay_entry *e)
{
    socle_err err;
    store_conn *c;
    if (store_acquire(svc->app->store, &c, &err)) return;
    int64_t now = time_now_ms(), changes = 0;
    store_value claim[] = {STORE_V_INT(now + RELAY_CLAIM_MS), STORE_V_INT(e->id), STORE_V_INT(e->next_ms)};
    int rc = store_exec(c, "UPDATE mss_queue SET next_ms = $1 WHERE id = $2 AND next_ms = $3", claim, 3, &changes, &err);
    const char *msg = NULL;
    size_t len = 0;
    arena *a = !rc && changes == 1 ? arena_new(0) : NULL;
    if (a && mss_queue_body(svc, c, e->id, a, &msg, &len, &e->body, &err)) {
        if (err.code != SOCLE_ENOTFOUND) log_msg(LOG_ERROR, "mss: reading a queued message: %s", err.msg);
        msg = NULL;
    }
    store_release(svc->app->store, c);
    if (!msg) {
        arena_free(a);
        return;
    }
    char why[600] = "";
    int peer_dsn = 0;
    int result = relay_send(svc, e, msg, len, why, sizeof why, &peer_dsn);
    if (result == 0 || result == 2 || e->attempts + 1 > svc->nretry) {
        relay_finish(svc, e, msg, len, result, why, peer_dsn);
    } else if (!store_acquire(svc->app->store, &c, &err)) {
        store_value p[] = {STORE_V_INT(time_now_ms() + (int64_t)svc->retry_s[e->attempts] * 1000), STORE_V_TEXT(why),
                           STORE_V_INT(e->id)};
        store_exec(c, "UPDATE mss_queue SET attempts = attempts + 1, next_ms = $1, last_error = $2 WHERE id = $3", p, 3,
                   NULL, &err);
        store_release(svc->app->store, c);
        log_line l;
        log_begin(&l, LOG_INFO, "mss relay deferred");
        log_str(&l, "domain", e->domain);
        log_int(&l, "attempts", e->attempts + 1);
        log_end(&l);
    }
    arena_free(a);
}

/* relay_due - the entries due now (at most RELAY_BATCH); returns their count, and *next_ms the
 * time of the next one after them (INT64_MAX when none). */
static int relay_due(mss_service *svc, relay_entry *out, int64_t *next_ms)
{
    socle_err err;
    store_conn *c;
    *next_ms = INT64_MAX;
    if (store_acquire(svc->app->store, &c, &err)) return 0;
    int64_t now = time_now_ms();
    store_value p[] = {STORE_V_INT(now)};
    store_rows *r = NULL;
    int n = 0;
    if (!store_query(c,
                     "SELECT id, next_ms, attempts, sender, recipient, domain, envid, notify, orcpt, ret FROM mss_queue"
                     " WHERE next_ms <= $1 ORDER BY next_ms LIMIT 16",
                     p, 1, &r, &err)) {
        while (n < RELAY_BATCH && store_rows_next(r, &err) == 1) {
            relay_entry *e = &out[n++];
            e->id = store_rows_int(r, 0);
            e->next_ms = store_rows_int(r, 1);
            e->attempts = (int)store_rows_int(r, 2);
            snprintf(e->sender, sizeof e->sender, "%s", store_rows_text(r, 3, NULL));
            snprintf(e->recipient, sizeof e->recipient, "%s", store_rows_text(r, 4, NULL));
            snprintf(e->domain, sizeof e->domain, "%s", store_rows_text(r, 5, NULL));
            snprintf(e->envid, sizeof e->envid, "%s", store_rows_text(r, 6, NULL));
            snprintf(e->notify, sizeof e->notify, "%s", store_rows_text(r, 7, NULL));
            snprintf(e->orcpt, sizeof e->orcpt, "%s", store_rows_text(r, 8, NULL));
            snprintf(e->ret, sizeof e->ret, "%s", store_rows_text(r, 9, NULL));
        }
        store_rows_free(r);
    }
    int64_t next;
    if (!n && !store_query_int(c, "SELECT MIN(next_ms) FROM mss_queue", NULL, 0, &next, &err) && next > 0)
        *next_ms = next;
    store_release(svc->app->store, c);
    return n;
}

static void *relay_main(void *arg)
{
    mss_service *svc = arg;
    relay_entry *batch = calloc(RELAY_BATCH, sizeof *batch);
    while (batch) {
        pthread_mutex_lock(&svc->mu);
        int stop = svc->stopping;
        uint64_t seen = svc->generation;
        pthread_mutex_unlock(&svc->mu);
        if (stop) break;
        int64_t next;
        int n = relay_due(svc, batch, &next);
        for (int i = 0; i < n && !__atomic_load_n(&svc->stopping, __ATOMIC_ACQUIRE); i++) relay_one(svc, &batch[i]);
        if (n) continue;
        /* Sleep until the next entry is due, a delivery queues one, or we stop (at most a minute,
         * so entries queued by other nodes are seen). */
        int64_t wait = next == INT64_MAX ? 60000 : next - time_now_ms();
        if (wait > 60000) wait = 60000;
        if (wait <= 0) continue;
        struct timespec ts = time_deadline(CLOCK_REALTIME, wait);
        pthread_mutex_lock(&svc->mu);
        while (!svc->stopping && svc->generation == seen)
            if (pthread_cond_timedwait(&svc->wake, &svc->mu, &ts)) break;
        pthread_mutex_unlock(&svc->mu);
    }
    free(batch);
    return NULL;
}

int mss_relay_start(mss_service *svc, socle_err *err)
{
    if (pthread_create(&svc->relay_thread, NULL, relay_main, svc))
        return socle_err_set(err, SOCLE_EINTERNAL, "cannot start the relay worker");
    svc->relay_started = 1;
    return 0;
}

void mss_relay_stop(mss_service *svc)
{
    if (!svc->relay_started) return;
    pthread_mutex_lock(&svc->mu);
    svc->stopping = 1;
    pthread_cond_broadcast(&svc->wake);
    pthread_mutex_unlock(&svc->mu);
    pthread_join(svc->relay_thread, NULL);
    svc->relay_started = 0;
}
