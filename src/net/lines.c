/* lines.c - the line-protocol server for SMTP and IMAP: listeners, one thread per connection,
 * buffered line I/O with limits, STARTTLS / implicit TLS with OpenSSL, and the client side used
 * to relay. See lines.h for the contract. */
#include "net/lines.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/timeutil.h"

#define LINES_READ_BUFFER 16384
#define LINES_TLS_READ_AHEAD 65536
#define LINES_DISCARD_MAX (1 << 20) /* an over-long line longer than this ends the connection */
#define LINES_WRITE_DIRECT 65536    /* writes this large skip the buffer; the buffer is flushed at this size */
#if defined(__SANITIZE_ADDRESS__)
#define LINES_STACK (4u << 20)
#else
#define LINES_STACK (512u << 10)
#endif

struct lines_tls {
    SSL_CTX *ctx;
    int server;
};

struct lines_conn {
    int fd;
    SSL *ssl;
    lines_tls *tls;
    int client;                /* made by lines_connect */
    lines_server *server;      /* NULL for client connections */
    char rbuf[LINES_READ_BUFFER];
    size_t rpos, rlen;
    char *wbuf;
    size_t wlen, wcap;
    int broken;
    char remote[64];
    unsigned char *cert_der;
    size_t cert_len;
    int cert_done;
    char server_name[256]; /* client connections: SNI, "" for none */
    struct lines_conn *prev, *next;
};

struct lines_server {
    lines_options opt;
    char *listen, *name, *busy;
    lines_session_fn fn;
    void *ctx;
    int fd;
    int port;
    int wake[2];
    pthread_t acceptor;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    int nconns;
    int stopping;
    lines_conn *conns;
};

/* lines_server_stopping - read by every session thread while the stopping one writes it. */
static int lines_server_stopping(const lines_server *s)
{
    return __atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE);
}

/* ---- TLS contexts --------------------------------------------------------------------------- */

/* lines_verify_later - accept the handshake whatever the peer's certificate; the verdict is read
 * afterwards (SSL_get_verify_result), so a bad certificate is "no certificate", not a dropped
 * connection with an unhelpful alert. */
static int lines_verify_later(int ok, X509_STORE_CTX *x)
{
    (void)ok;
    (void)x;
    return 1;
}

int lines_tls_new(const char *cert, const char *key, const char *ca, int server, lines_tls **out, socle_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) return socle_err_set(err, SOCLE_ENOMEM, "TLS: cannot create a context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* Read ahead: one recv() takes whatever records have arrived, up to LINES_TLS_READ_AHEAD bytes,
     * instead of two per record (header, then body). lines_pending asks SSL_has_pending, which
     * counts those bytes too. */
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, LINES_TLS_READ_AHEAD);
    int ok = 1;
    const char *what = "";
    if (cert && key) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) ok = 0, what = cert;
        else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) ok = 0, what = key;
        else if (SSL_CTX_check_private_key(ctx) != 1) ok = 0, what = "key does not match the certificate";
    }
    if (ok && ca) {
        if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) ok = 0, what = ca;
        else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, lines_verify_later);
            if (server) {
                STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
                if (names) SSL_CTX_set_client_CA_list(ctx, names);
            }
        }
    }
    if (ok && server) SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"socle-lines", 11);
    if (!ok) {
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return socle_err_set(err, SOCLE_EINVAL, "TLS: cannot load %s", what);
    }
    lines_tls *t = calloc(1, sizeof *t);
    if (!t) {
        SSL_CTX_free(ctx);
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    }
    t->ctx = ctx;
    t->server = server;
    *out = t;
    return 0;
}

void lines_tls_free(lines_tls *t)
{
    if (!t) return;
    SSL_CTX_free(t->ctx);
    free(t);
}

/* ---- connections ---------------------------------------------------------------------------- */

/* lines_set_timeout - reads and writes of the socket give up after seconds s. */
static void lines_set_timeout(int fd, int s)
{
    struct timeval tv = {.tv_sec = s, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static lines_conn *lines_conn_new(int fd, lines_tls *tls)
{
    lines_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = fd;
    c->tls = tls;
    return c;
}

static void lines_conn_free(lines_conn *c)
{
    if (!c) return;
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->fd >= 0) close(c->fd);
    free(c->wbuf);
    free(c->cert_der);
    free(c);
}

/* lines_fill - read more input into the (empty) buffer. */
static int lines_fill(lines_conn *c)
{
    if (c->broken || (c->server && lines_server_stopping(c->server))) return LINES_EOF;
    c->rpos = c->rlen = 0;
    for (;;) {
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_read(c->ssl, c->rbuf, sizeof c->rbuf);
            if (r > 0) n = r;
            else {
                int e = SSL_get_error(c->ssl, r);
                if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_SYSCALL) && (errno == EAGAIN || errno == EWOULDBLOCK))
                    return LINES_TIMEOUT;
                c->broken = 1;
                ERR_clear_error();
                return LINES_EOF;
            }
        } else {
            n = recv(c->fd, c->rbuf, sizeof c->rbuf, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return LINES_TIMEOUT;
            if (n <= 0) {
                c->broken = 1;
                return LINES_EOF;
            }
        }
        c->rlen = (size_t)n;
        return 0;
    }
}

long lines_read_line(lines_conn *c, char *buf, size_t n, int *flags)
{
    size_t used = 0, seen = 0;
    int too_long = 0;
    if (flags) *flags = 0;
    for (;;) {
        if (c->rpos == c->rlen) {
            int r = lines_fill(c);
            if (r) return r;
        }
        char *start = c->rbuf + c->rpos;
        size_t avail = c->rlen - c->rpos;
        char *nl = memchr(start, '\n', avail);
        size_t take = nl ? (size_t)(nl - start) : avail;
        if (!too_long && used + take < n) {
            memcpy(buf + used, start, take);
            used += take;
        } else {
            too_long = 1;
        }
        seen += take;
        c->rpos += take + (nl ? 1 : 0);
        if (nl) break;
        if (seen > LINES_DISCARD_MAX) {
            c->broken = 1;
            return LINES_EOF;
        }
    }
    if (too_long) return LINES_TOO_LONG;
    if (used > 0 && buf[used - 1] == '\r') used--;
    else if (flags) *flags = LINES_BARE_LF;
    buf[used] = 0;
    return (long)used;
}

int lines_read_bytes(lines_conn *c, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        if (c->rpos == c->rlen) {
            int r = lines_fill(c);
            if (r) return r;
        }
        size_t take = c->rlen - c->rpos < n ? c->rlen - c->rpos : n;
        memcpy(p, c->rbuf + c->rpos, take);
        c->rpos += take;
        p += take;
        n -= take;
    }
    return 0;
}

int lines_pending(lines_conn *c)
{
    return c->rpos < c->rlen || (c->ssl && SSL_has_pending(c->ssl));
}

int lines_wait(lines_conn *c, int timeout_ms)
{
    if (c->broken || (c->server && lines_server_stopping(c->server))) return LINES_EOF;
    if (lines_pending(c)) return 1;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int r = poll(&p, 1, timeout_ms);
    if (c->server && lines_server_stopping(c->server)) return LINES_EOF;
    if (r < 0) return errno == EINTR ? 0 : LINES_EOF;
    if (r > 0 && (p.revents & (POLLERR | POLLNVAL))) return LINES_EOF;
    return r > 0;
}

/* lines_send - send p[0..n) now (TLS or not); a failure marks the connection broken. */
static int lines_send(lines_conn *c, const char *p, size_t n)
{
    size_t done = 0;
    while (!c->broken && done < n) {
        ssize_t w;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, p + done, (int)(n - done > 1 << 30 ? 1 << 30 : n - done));
            w = r > 0 ? r : -1;
        } else {
            w = send(c->fd, p + done, n - done, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;
        }
        if (w <= 0) c->broken = 1;
        else done += (size_t)w;
    }
    return c->broken ? LINES_EOF : 0;
}

int lines_write(lines_conn *c, const void *data, size_t n)
{
    if (c->broken) return LINES_EOF;
    if (n >= LINES_WRITE_DIRECT) {
        /* A large block (an IMAP literal) goes out from the caller's memory: the buffer never
         * grows to its size, and a session keeps no large buffer after it. */
        if (lines_flush(c)) return LINES_EOF;
        return lines_send(c, data, n);
    }
    if (c->wlen + n > c->wcap) {
        size_t cap = c->wcap ? c->wcap : 4096;
        while (cap < c->wlen + n) cap *= 2;
        char *nb = realloc(c->wbuf, cap);
        if (!nb) {
            c->broken = 1;
            return LINES_EOF;
        }
        c->wbuf = nb;
        c->wcap = cap;
    }
    memcpy(c->wbuf + c->wlen, data, n);
    c->wlen += n;
    return c->wlen >= LINES_WRITE_DIRECT ? lines_flush(c) : 0;
}

int lines_printf(lines_conn *c, const char *fmt, ...)
{
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return LINES_EOF;
    if ((size_t)n < sizeof small) return lines_write(c, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big) return LINES_EOF;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int r = lines_write(c, big, (size_t)n);
    free(big);
    return r;
}

int lines_flush(lines_conn *c)
{
    int r = lines_send(c, c->wbuf, c->wlen);
    c->wlen = 0;
    return r;
}

int lines_starttls(lines_conn *c, socle_err *err)
{
    if (!c->tls) return socle_err_set(err, SOCLE_EINTERNAL, "TLS is not configured");
    if (c->ssl) return socle_err_set(err, SOCLE_EINVAL, "TLS is already active");
    if (lines_flush(c)) return socle_err_set(err, SOCLE_EIO, "connection lost");
    c->rpos = c->rlen = 0; /* RFC 3207 §6: nothing sent in clear before the handshake is obeyed */
    c->ssl = SSL_new(c->tls->ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        c->broken = 1;
        ERR_clear_error();
        return socle_err_set(err, SOCLE_ENOMEM, "TLS: cannot start a session");
    }
    if (c->client && c->server_name[0]) SSL_set_tlsext_host_name(c->ssl, c->server_name);
    ERR_clear_error();
    int r = c->client ? SSL_connect(c->ssl) : SSL_accept(c->ssl);
    if (r != 1) {
        unsigned long e = ERR_peek_last_error();
        char why[160];
        ERR_error_string_n(e, why, sizeof why);
        ERR_clear_error();
        c->broken = 1;
        return socle_err_set(err, SOCLE_EIO, "TLS handshake failed: %s", e ? why : "connection closed");
    }
    return 0;
}

int lines_is_tls(const lines_conn *c)
{
    return c->ssl != NULL;
}

const char *lines_tls_version(const lines_conn *c)
{
    return c->ssl ? SSL_get_version(c->ssl) : "";
}

/* lines_peer_cert - the verified peer certificate (a new reference) or NULL. */
static X509 *lines_peer_cert(lines_conn *c)
{
    if (!c->ssl) return NULL;
    X509 *x = SSL_get1_peer_certificate(c->ssl);
    if (x && SSL_get_verify_result(c->ssl) != X509_V_OK) {
        X509_free(x);
        x = NULL;
    }
    return x;
}

const unsigned char *lines_peer_cert_der(lines_conn *c, size_t *len)
{
    if (!c->cert_done && c->ssl) {
        c->cert_done = 1;
        X509 *x = lines_peer_cert(c);
        unsigned char *der = NULL;
        int n = x ? i2d_X509(x, &der) : -1;
        if (n > 0) {
            c->cert_der = malloc((size_t)n);
            if (c->cert_der) memcpy(c->cert_der, der, (size_t)n), c->cert_len = (size_t)n;
        }
        OPENSSL_free(der);
        X509_free(x);
    }
    if (len) *len = c->cert_len;
    return c->cert_der;
}

int lines_peer_name_matches(lines_conn *c, const char *host)
{
    X509 *x = lines_peer_cert(c);
    int ok = x && host && X509_check_host(x, host, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
    X509_free(x);
    ERR_clear_error();
    return ok;
}

const char *lines_remote_addr(const lines_conn *c)
{
    return c->remote;
}

int lines_stopping(const lines_conn *c)
{
    return c->server && lines_server_stopping(c->server);
}

/* ---- the server ----------------------------------------------------------------------------- */

/* lines_parse_listen - "ADDR:PORT" or "[v6]:PORT" into a socket address. */
static int lines_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, socle_err *err)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof host)
        return socle_err_set(err, SOCLE_EINVAL, "listen address %s: expected ADDR:PORT", s);
    size_t hl = (size_t)(colon - s);
    memcpy(host, s, hl);
    host[hl] = 0;
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) return socle_err_set(err, SOCLE_EINVAL, "listen address %s: bad port", s);
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
    } else {
        return socle_err_set(err, SOCLE_EINVAL, "listen address %s: not a numeric IP address", s);
    }
    return 0;
}


/* lines_session - a connection's thread: TLS first when implicit, the session, then unlink. */
static void *lines_session(void *arg)
{
    lines_conn *c = arg;
    lines_server *s = c->server;
    int64_t t0 = time_monotonic_ns();
    socle_err err;
    if (!s->opt.implicit_tls || lines_starttls(c, &err) == 0) s->fn(c, s->ctx);
    lines_flush(c);
    if (log_enabled(LOG_DEBUG)) {
        log_line l;
        log_begin(&l, LOG_DEBUG, "session ended");
        log_str(&l, "listener", s->name);
        log_int(&l, "duration_ms", (time_monotonic_ns() - t0) / 1000000);
        log_end(&l);
    }
    pthread_mutex_lock(&s->mu);
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    if (!s->nconns) pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->mu);
    lines_conn_free(c);
    return NULL;
}

/* lines_accept_loop - accept until stopped; one detached thread per connection. */
static void *lines_accept_loop(void *arg)
{
    lines_server *s = arg;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, LINES_STACK);
    for (;;) {
        struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN}, {.fd = s->wake[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR) break;
        if (lines_server_stopping(s)) break;
        if (!(p[0].revents & POLLIN)) continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(s->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) usleep(10000);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        lines_set_timeout(fd, s->opt.idle_timeout_s);
        pthread_mutex_lock(&s->mu);
        int full = s->nconns >= s->opt.max_connections;
        pthread_mutex_unlock(&s->mu);
        lines_conn *c = full ? NULL : lines_conn_new(fd, s->opt.tls);
        if (!c) {
            if (s->busy) {
                char line[300];
                int n = snprintf(line, sizeof line, "%s\r\n", s->busy);
                if (n >= (int)sizeof line) n = (int)sizeof line - 1;
                if (n > 0) (void)!send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            close(fd);
            continue;
        }
        c->server = s;
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->remote, sizeof c->remote);
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->remote, sizeof c->remote);
        pthread_mutex_lock(&s->mu);
        c->next = s->conns;
        if (s->conns) s->conns->prev = c;
        s->conns = c;
        s->nconns++;
        pthread_mutex_unlock(&s->mu);
        pthread_t t;
        if (pthread_create(&t, &attr, lines_session, c)) {
            pthread_mutex_lock(&s->mu);
            if (c->prev) c->prev->next = c->next;
            else s->conns = c->next;
            if (c->next) c->next->prev = c->prev;
            s->nconns--;
            pthread_mutex_unlock(&s->mu);
            lines_conn_free(c);
        }
    }
    pthread_attr_destroy(&attr);
    return NULL;
}

int lines_server_start(const lines_options *o, lines_session_fn fn, void *ctx, lines_server **out, socle_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    int rc = lines_parse_listen(o->listen, &ss, &sl, err);
    if (rc) return rc;
    if (o->implicit_tls && !o->tls) return socle_err_set(err, SOCLE_EINVAL, "%s: implicit TLS without a certificate", o->name);
    lines_server *s = calloc(1, sizeof *s);
    if (!s) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    s->opt = *o;
    s->listen = strdup(o->listen);
    s->name = strdup(o->name ? o->name : "lines");
    s->busy = o->busy ? strdup(o->busy) : NULL;
    s->opt.listen = s->listen;
    s->opt.name = s->name;
    if (s->opt.idle_timeout_s <= 0) s->opt.idle_timeout_s = 300;
    if (s->opt.max_connections <= 0) s->opt.max_connections = 2000;
    s->fn = fn;
    s->ctx = ctx;
    s->wake[0] = s->wake[1] = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (s->fd >= 0) setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&ss, sl) || listen(s->fd, 511) || pipe2(s->wake, O_CLOEXEC)) {
        rc = socle_err_set(err, SOCLE_EIO, "%s: cannot listen on %s: %s", s->name, s->listen, strerror(errno));
    } else if (pthread_create(&s->acceptor, NULL, lines_accept_loop, s)) {
        rc = socle_err_set(err, SOCLE_EIO, "%s: cannot start the accept thread", s->name);
    }
    if (rc) {
        if (s->fd >= 0) close(s->fd);
        if (s->wake[0] >= 0) close(s->wake[0]), close(s->wake[1]);
        free(s->listen), free(s->name), free(s->busy);
        free(s);
        return rc;
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    if (!getsockname(s->fd, (struct sockaddr *)&bound, &bl))
        s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    log_line l;
    log_begin(&l, LOG_INFO, "listening");
    log_str(&l, "listener", s->name);
    log_str(&l, "listen", s->listen);
    log_str(&l, "tls", !o->tls ? "none" : o->implicit_tls ? "implicit" : "starttls");
    log_end(&l);
    *out = s;
    return 0;
}

int lines_server_port(const lines_server *s)
{
    return s->port;
}

void lines_server_stop(lines_server *s)
{
    if (!s) return;
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    (void)!write(s->wake[1], "x", 1);
    pthread_join(s->acceptor, NULL);
    close(s->fd);
    pthread_mutex_lock(&s->mu);
    /* Both ways: a session blocked writing to a client that stopped reading wakes up too. */
    for (lines_conn *c = s->conns; c; c = c->next) shutdown(c->fd, SHUT_RDWR);
    while (s->nconns) pthread_cond_wait(&s->idle, &s->mu);
    pthread_mutex_unlock(&s->mu);
    close(s->wake[0]);
    close(s->wake[1]);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->idle);
    free(s->listen), free(s->name), free(s->busy);
    free(s);
}

/* ---- the client side ------------------------------------------------------------------------ */

int lines_connect(const char *host, int port, lines_tls *tls, int timeout_s, lines_conn **out, socle_err *err)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(host, ps, &hints, &res);
    if (g) return socle_err_set(err, SOCLE_EIO, "cannot resolve %s: %s", host, gai_strerror(g));
    int fd = -1, last = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        lines_set_timeout(fd, timeout_s);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen)) {
            last = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) return socle_err_set(err, SOCLE_EIO, "cannot connect to %s:%d: %s", host, port, strerror(last));
    lines_conn *c = lines_conn_new(fd, tls);
    if (!c) {
        close(fd);
        return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    }
    c->client = 1;
    snprintf(c->remote, sizeof c->remote, "%s", host);
    *out = c;
    return 0;
}

void lines_set_server_name(lines_conn *c, const char *name)
{
    snprintf(c->server_name, sizeof c->server_name, "%s", name ? name : "");
}

void lines_close(lines_conn *c)
{
    lines_conn_free(c);
}
