/* mss_load.c - a load generator for the MSSanté listeners (SMTP submission / relay, IMAP), with
 * STARTTLS, XOAUTH2 and client certificates, written for bench/mss.sh. One JSON line on stdout per
 * run; progress and diagnostics on stderr. Built by bench/mss.sh:
 *
 *   cc -std=c11 -O2 -Wall -Wextra -Wno-format-truncation -pthread -o build/bench/mss_load bench/mss_load.c \
 *      -lssl -lcrypto
 *
 * MODES
 *   smtp        --host --port --connections C --messages N --message FILE --from ADDR --to ADDR
 *               [--to ADDR]... [--starttls] [--ca FILE] [--cert FILE --key FILE]
 *               [--xoauth2-user U --token T] [--pipelining]
 *               C connections share N messages. Each connection: EHLO, STARTTLS (the server's
 *               certificate verified against --ca, for --servername or --host), EHLO, AUTH XOAUTH2
 *               with an initial response, then MAIL / RCPT / DATA (the file dot-stuffed) / the 250
 *               after the final dot, again and again. Latency of a message: from MAIL to that 250.
 *               A non-2xx reply is an error (RSET, next message); a broken connection is an error
 *               (reconnect; a connection that cannot be opened 3 times in a row ends its thread).
 *               Prints: messages, errors, first_error, seconds, msgs_per_s, p50_ms, p99_ms, ...
 *   imap-fetch  --host --port --user U --token T --ca FILE [--fetch 1000] [--rounds R]
 *               [--connections C] [--seed S]
 *               Each connection: STARTTLS, AUTHENTICATE XOAUTH2 (SASL-IR), SELECT INBOX (EXISTS),
 *               then the connections share R rounds of
 *                 FETCH a:b (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])
 *               over a random window of --fetch sequence numbers, reading the whole response
 *               (literals {n} included). Latency of a round: from the command to its tagged OK.
 *               Prints: rounds, p50_ms, p99_ms, messages_per_fetch, bytes_per_fetch, exists, select_ms
 *               (how long SELECT INBOX took), ...
 *   imap-hold   --host --port --user U --token T --ca FILE --sessions S [--hold-s 30] [--ramp 64]
 *               S sessions opened by one non-blocking poll loop (at most --ramp being set up at a
 *               time): STARTTLS, AUTHENTICATE XOAUTH2, SELECT INBOX, IDLE. Once every session is
 *               either idling or failed, they are held --hold-s seconds; then each idling session
 *               gets DONE and must answer the tagged OK. Prints: sessions_requested,
 *               sessions_established, sessions_alive_at_end, dropped_during_hold, exists_pushed (the
 *               untagged EXISTS the idling sessions received), establish_s, setup p50/p99, errors.
 * COMMON
 *   --timeout-s T (60): a reply that does not come within T seconds is an error.
 *   --servername NAME: the name (or IP address) the server's certificate must carry (default --host).
 *   Without --ca the server's certificate is not verified (a warning says so).
 *   RLIMIT_NOFILE is raised to its hard limit at start. No timing is asserted: figures are printed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define MAX_RCPT 100
#define MAX_LINE (16u << 20) /* a reply line longer than this is an error */

/* ---- options ------------------------------------------------------------------------------------ */

typedef struct opts {
    const char *mode;
    const char *host, *port, *servername;
    int connections;
    long messages;
    const char *message_file;
    const char *from;
    const char *to[MAX_RCPT];
    int nto;
    int starttls, pipelining;
    const char *ca, *cert, *key;
    const char *user, *token;
    long fetch, rounds;
    long sessions;
    double hold_s;
    int ramp;
    int timeout_s;
    unsigned seed;
} opts;

static opts O = {.connections = 1, .fetch = 1000, .rounds = 100, .sessions = 100, .hold_s = 30, .ramp = 64,
                 .timeout_s = 60};

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mss_load: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- errors, shared by the threads ---------------------------------------------------------------- */

static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_long nerrors;
static char first_error[512];

static void record_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    atomic_fetch_add(&nerrors, 1);
    pthread_mutex_lock(&err_mu);
    if (!first_error[0]) {
        snprintf(first_error, sizeof first_error, "%s", msg);
        fprintf(stderr, "mss_load: first error: %s\n", msg);
    }
    pthread_mutex_unlock(&err_mu);
}

/* json_str - s as a JSON string on f. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* ---- latencies ------------------------------------------------------------------------------------ */

typedef struct lat {
    double *v; /* milliseconds */
    size_t n, cap;
} lat;

static void lat_add(lat *l, double ms)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        double *v = realloc(l->v, cap * sizeof *v);
        if (!v) die("out of memory");
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = ms;
}

static void lat_merge(lat *into, const lat *from)
{
    for (size_t i = 0; i < from->n; i++) lat_add(into, from->v[i]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* pct - nearest-rank percentile of a sorted sample (0 when empty). */
static double pct(const lat *l, double p)
{
    if (!l->n) return 0;
    size_t k = (size_t)(p / 100.0 * (double)l->n + 0.999999);
    if (k < 1) k = 1;
    if (k > l->n) k = l->n;
    return l->v[k - 1];
}

static void lat_print(FILE *f, lat *l, const char *prefix)
{
    qsort(l->v, l->n, sizeof *l->v, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < l->n; i++) sum += l->v[i];
    fprintf(f, ",\"%sp50_ms\":%.2f,\"%sp90_ms\":%.2f,\"%sp99_ms\":%.2f,\"%smax_ms\":%.2f,\"%smean_ms\":%.2f", prefix,
            pct(l, 50), prefix, pct(l, 90), prefix, pct(l, 99), prefix, l->n ? l->v[l->n - 1] : 0, prefix,
            l->n ? sum / (double)l->n : 0);
}

/* ---- TLS ------------------------------------------------------------------------------------------ */

static SSL_CTX *tls_ctx;
static const char *verify_name;

static const char *ssl_errstr(char *buf, size_t n)
{
    unsigned long e = ERR_get_error();
    if (!e) {
        snprintf(buf, n, "%s", errno ? strerror(errno) : "connection closed");
        return buf;
    }
    ERR_error_string_n(e, buf, n);
    ERR_clear_error();
    return buf;
}

static void tls_setup(void)
{
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx) die("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    char e[256];
    if (O.ca) {
        if (SSL_CTX_load_verify_locations(tls_ctx, O.ca, NULL) != 1)
            die("--ca %s: cannot load: %s", O.ca, ssl_errstr(e, sizeof e));
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
    } else if (O.starttls || strcmp(O.mode, "smtp")) {
        fprintf(stderr, "mss_load: warning: no --ca, the server's certificate is not verified\n");
    }
    if (O.cert || O.key) {
        if (!O.cert || !O.key) die("--cert and --key go together");
        if (SSL_CTX_use_certificate_chain_file(tls_ctx, O.cert) != 1)
            die("--cert %s: %s", O.cert, ssl_errstr(e, sizeof e));
        if (SSL_CTX_use_PrivateKey_file(tls_ctx, O.key, SSL_FILETYPE_PEM) != 1)
            die("--key %s: %s", O.key, ssl_errstr(e, sizeof e));
        if (SSL_CTX_check_private_key(tls_ctx) != 1) die("--key does not match --cert");
    }
    verify_name = O.servername ? O.servername : O.host;
}

/* tls_new - an SSL object on fd that checks the server's name (or address). */
static SSL *tls_new(int fd)
{
    SSL *ssl = SSL_new(tls_ctx);
    if (!ssl) return NULL;
    SSL_set_fd(ssl, fd);
    if (O.ca) {
        struct in6_addr a6;
        struct in_addr a4;
        if (inet_pton(AF_INET, verify_name, &a4) == 1 || inet_pton(AF_INET6, verify_name, &a6) == 1) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), verify_name);
        } else {
            SSL_set1_host(ssl, verify_name);
            SSL_set_tlsext_host_name(ssl, verify_name);
        }
    } else {
        struct in6_addr a6;
        struct in_addr a4;
        if (inet_pton(AF_INET, verify_name, &a4) != 1 && inet_pton(AF_INET6, verify_name, &a6) != 1)
            SSL_set_tlsext_host_name(ssl, verify_name);
    }
    return ssl;
}

/* tls_handshake_error - why a handshake failed, with the certificate verdict when there is one. */
static void tls_handshake_error(SSL *ssl, char *out, size_t n)
{
    char e[256];
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK)
        snprintf(out, n, "TLS handshake: certificate not accepted: %s", X509_verify_cert_error_string(v));
    else
        snprintf(out, n, "TLS handshake: %s", ssl_errstr(e, sizeof e));
}

/* xoauth2 - base64 of "user=U^Aauth=Bearer T^A^A" (malloc'd). */
static char *xoauth2(const char *user, const char *token)
{
    size_t rl = strlen(user) + strlen(token) + 32;
    char *raw = malloc(rl);
    if (!raw) die("out of memory");
    int l = snprintf(raw, rl, "user=%s\001auth=Bearer %s\001\001", user, token);
    char *b64 = malloc(4 * ((size_t)l + 2) / 3 + 4);
    if (!b64) die("out of memory");
    EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)raw, l);
    free(raw);
    return b64;
}

/* ---- a blocking connection (smtp, imap-fetch) ------------------------------------------------------ */

typedef struct conn {
    int fd;
    SSL *ssl;
    char *buf;
    size_t cap, pos, len;
    char *line;
    size_t lcap;
    uint64_t bytes_in;
    char err[512];
} conn;

static void conn_close(conn *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->fd >= 0) close(c->fd);
    free(c->buf);
    free(c->line);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static int conn_open(conn *c)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
    int rc = getaddrinfo(O.host, O.port, &hints, &res);
    if (rc) {
        snprintf(c->err, sizeof c->err, "%s:%s: %s", O.host, O.port, gai_strerror(rc));
        return -1;
    }
    int e = 0;
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        struct timeval tv = {.tv_sec = O.timeout_s};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            c->fd = fd;
            break;
        }
        e = errno;
        close(fd);
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        snprintf(c->err, sizeof c->err, "connect %s:%s: %s", O.host, O.port, strerror(e));
        return -1;
    }
    c->cap = 65536;
    c->buf = malloc(c->cap);
    c->lcap = 4096;
    c->line = malloc(c->lcap);
    if (!c->buf || !c->line) die("out of memory");
    return 0;
}

/* conn_fill - read more into the buffer: > 0 bytes, 0 closed, -1 error (c->err). */
static long conn_fill(conn *c)
{
    if (c->pos == c->len) c->pos = c->len = 0;
    if (c->len == c->cap) {
        if (c->pos > 0) {
            memmove(c->buf, c->buf + c->pos, c->len - c->pos);
            c->len -= c->pos, c->pos = 0;
        } else {
            char *b = realloc(c->buf, c->cap * 2);
            if (!b) die("out of memory");
            c->buf = b, c->cap *= 2;
        }
    }
    long n;
    errno = 0;
    if (c->ssl) {
        n = SSL_read(c->ssl, c->buf + c->len, (int)(c->cap - c->len > INT32_MAX ? INT32_MAX : c->cap - c->len));
        if (n <= 0) {
            int e = SSL_get_error(c->ssl, (int)n), se = errno;
            char es[256];
            if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !se && !ERR_peek_error())) return 0;
            if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_SYSCALL) && (se == EAGAIN || se == EWOULDBLOCK))
                snprintf(c->err, sizeof c->err, "no answer within %d s", O.timeout_s);
            else if (e == SSL_ERROR_SYSCALL && se)
                snprintf(c->err, sizeof c->err, "read: %s", strerror(se));
            else
                snprintf(c->err, sizeof c->err, "TLS read: %s", ssl_errstr(es, sizeof es));
            return -1;
        }
    } else {
        n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n == 0) return 0;
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                snprintf(c->err, sizeof c->err, "no answer within %d s", O.timeout_s);
            else
                snprintf(c->err, sizeof c->err, "read: %s", strerror(errno));
            return -1;
        }
    }
    c->len += (size_t)n;
    c->bytes_in += (uint64_t)n;
    return n;
}

/* conn_line - the next line without its CRLF (NUL-terminated, valid until the next call); NULL on
 * error or end of connection (c->err says which). */
static char *conn_line(conn *c, size_t *n)
{
    for (;;) {
        char *nl = memchr(c->buf + c->pos, '\n', c->len - c->pos);
        if (nl) {
            size_t l = (size_t)(nl - (c->buf + c->pos));
            if (l + 1 > c->lcap) {
                size_t cap = l + 1;
                char *b = realloc(c->line, cap);
                if (!b) die("out of memory");
                c->line = b, c->lcap = cap;
            }
            memcpy(c->line, c->buf + c->pos, l);
            c->pos += l + 1;
            if (l && c->line[l - 1] == '\r') l--;
            c->line[l] = 0;
            *n = l;
            return c->line;
        }
        if (c->len - c->pos > MAX_LINE) {
            snprintf(c->err, sizeof c->err, "a reply line longer than %u bytes", MAX_LINE);
            return NULL;
        }
        long r = conn_fill(c);
        if (r == 0) snprintf(c->err, sizeof c->err, "connection closed by the server");
        if (r <= 0) return NULL;
    }
}

/* conn_skip - consume n bytes (an IMAP literal). */
static int conn_skip(conn *c, size_t n)
{
    while (n) {
        if (c->pos == c->len) {
            long r = conn_fill(c);
            if (r == 0) snprintf(c->err, sizeof c->err, "connection closed by the server inside a literal");
            if (r <= 0) return -1;
        }
        size_t k = c->len - c->pos < n ? c->len - c->pos : n;
        c->pos += k, n -= k;
    }
    return 0;
}

static int conn_write(conn *c, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        long n;
        errno = 0;
        if (c->ssl) {
            n = SSL_write(c->ssl, p, (int)(len > INT32_MAX ? INT32_MAX : len));
            if (n <= 0) {
                char es[256];
                int e = SSL_get_error(c->ssl, (int)n);
                if (e == SSL_ERROR_SYSCALL && errno)
                    snprintf(c->err, sizeof c->err, "write: %s", strerror(errno));
                else
                    snprintf(c->err, sizeof c->err, "TLS write: %s", ssl_errstr(es, sizeof es));
                return -1;
            }
        } else {
            n = send(c->fd, p, len, MSG_NOSIGNAL);
            if (n <= 0) {
                snprintf(c->err, sizeof c->err, "write: %s", n < 0 ? strerror(errno) : "nothing written");
                return -1;
            }
        }
        p += n, len -= (size_t)n;
    }
    return 0;
}

static int conn_starttls(conn *c)
{
    c->pos = c->len = 0; /* nothing the server sent in clear may be read as if it came under TLS */
    c->ssl = tls_new(c->fd);
    if (!c->ssl) {
        snprintf(c->err, sizeof c->err, "SSL_new failed");
        return -1;
    }
    if (SSL_connect(c->ssl) != 1) {
        tls_handshake_error(c->ssl, c->err, sizeof c->err);
        return -1;
    }
    return 0;
}

/* ---- SMTP ----------------------------------------------------------------------------------------- */

static char *msg_data; /* the message, dot-stuffed, CRLF, ending with ".\r\n" */
static size_t msg_len;
static atomic_long next_msg;

/* load_message - read FILE, make every line end with CRLF (bare LF counted), dot-stuff it, append
 * the final dot. */
static void load_message(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) die("--message %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st)) die("--message %s: %s", path, strerror(errno));
    size_t n = (size_t)st.st_size;
    char *raw = malloc(n + 1);
    if (!raw || fread(raw, 1, n, f) != n) die("--message %s: cannot read", path);
    fclose(f);
    msg_data = malloc(2 * n + 8);
    if (!msg_data) die("out of memory");
    size_t o = 0, bare = 0;
    int bol = 1;
    for (size_t i = 0; i < n; i++) {
        if (bol && raw[i] == '.') msg_data[o++] = '.';
        bol = 0;
        if (raw[i] == '\n') {
            if (!(o && msg_data[o - 1] == '\r')) msg_data[o++] = '\r', bare++;
            bol = 1;
        }
        msg_data[o++] = raw[i];
    }
    if (!bol) msg_data[o++] = '\r', msg_data[o++] = '\n';
    memcpy(msg_data + o, ".\r\n", 3);
    msg_len = o + 3;
    free(raw);
    if (bare) fprintf(stderr, "mss_load: warning: %s had %zu bare LF line ends, sent as CRLF\n", path, bare);
}

/* smtp_reply - read one (possibly multi-line) reply: its code, or -1 (c->err). text gets its lines
 * joined by " / ". */
static int smtp_reply(conn *c, char *text, size_t tn)
{
    int code = -1;
    size_t tl = 0;
    text[0] = 0;
    for (;;) {
        size_t l;
        char *line = conn_line(c, &l);
        if (!line) return -1;
        if (l < 3 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
            !isdigit((unsigned char)line[2]) || (l > 3 && line[3] != ' ' && line[3] != '-')) {
            snprintf(c->err, sizeof c->err, "malformed SMTP reply line: %.200s", line);
            return -1;
        }
        int k = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (code < 0) code = k;
        else if (k != code) {
            snprintf(c->err, sizeof c->err, "multi-line reply with codes %d and %d", code, k);
            return -1;
        }
        if (tl + 4 < tn) {
            int w = snprintf(text + tl, tn - tl, "%s%s", tl ? " / " : "", line);
            tl = w < 0 ? tl : tl + (size_t)w >= tn ? tn - 1 : tl + (size_t)w;
        }
        if (l == 3 || line[3] == ' ') return code;
    }
}

/* smtp_cmd - send a command line, read the reply; -1 when the connection failed. */
static int smtp_cmd(conn *c, char *text, size_t tn, const char *fmt, ...)
{
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    int l = vsnprintf(line, sizeof line - 2, fmt, ap);
    va_end(ap);
    if (l < 0 || (size_t)l >= sizeof line - 2) die("command too long");
    memcpy(line + l, "\r\n", 2);
    if (conn_write(c, line, (size_t)l + 2)) return -1;
    return smtp_reply(c, text, tn);
}

/* smtp_open - connect and get ready for mail transactions; 0, or -1 with why. */
static int smtp_open(conn *c, char *why, size_t wn)
{
    char text[1024];
    int code;
    if (conn_open(c)) return snprintf(why, wn, "%s", c->err), -1;
#define EXPECT(what, ok)                                                                                      \
    do {                                                                                                      \
        if (code < 0) return snprintf(why, wn, "%s: %s", what, c->err), -1;                                   \
        if (!(ok)) return snprintf(why, wn, "%s: %s", what, text), -1;                                        \
    } while (0)
    code = smtp_reply(c, text, sizeof text);
    EXPECT("greeting", code == 220);
    code = smtp_cmd(c, text, sizeof text, "EHLO mss-load.invalid");
    EXPECT("EHLO", code == 250);
    if (O.starttls) {
        code = smtp_cmd(c, text, sizeof text, "STARTTLS");
        EXPECT("STARTTLS", code == 220);
        if (conn_starttls(c)) return snprintf(why, wn, "%s", c->err), -1;
        code = smtp_cmd(c, text, sizeof text, "EHLO mss-load.invalid");
        EXPECT("EHLO after STARTTLS", code == 250);
    }
    if (O.token) {
        char *b64 = xoauth2(O.user, O.token);
        code = smtp_cmd(c, text, sizeof text, "AUTH XOAUTH2 %s", b64);
        free(b64);
        if (code == 334) { /* RFC 7628: an error challenge; an empty line gets the final reply */
            char challenge[1024];
            snprintf(challenge, sizeof challenge, "%s", text);
            code = smtp_cmd(c, text, sizeof text, "%s", "");
            if (code >= 0) snprintf(text + strlen(text), sizeof text - strlen(text), " (challenge: %.300s)", challenge);
        }
        EXPECT("AUTH XOAUTH2", code == 235);
    }
#undef EXPECT
    return 0;
}

/* smtp_send - one message. 0 sent; 1 refused (the session goes on); -1 connection lost. */
static int smtp_send(conn *c, char *why, size_t wn)
{
    char text[1024];
    int code, refused = 0;
    if (O.pipelining) {
        size_t cap = 600 + (size_t)O.nto * 600, l = 0;
        char *cmds = malloc(cap);
        if (!cmds) die("out of memory");
        l += (size_t)snprintf(cmds + l, cap - l, "MAIL FROM:<%s>\r\n", O.from);
        for (int i = 0; i < O.nto; i++) l += (size_t)snprintf(cmds + l, cap - l, "RCPT TO:<%s>\r\n", O.to[i]);
        l += (size_t)snprintf(cmds + l, cap - l, "DATA\r\n");
        int w = conn_write(c, cmds, l);
        free(cmds);
        if (w) return snprintf(why, wn, "%s", c->err), -1;
        for (int i = 0; i < O.nto + 1; i++) {
            code = smtp_reply(c, text, sizeof text);
            if (code < 0) return snprintf(why, wn, "%s: %s", i ? "RCPT" : "MAIL", c->err), -1;
            if (code / 100 != 2 && !refused) {
                refused = 1;
                if (i) snprintf(why, wn, "RCPT %s: %s", O.to[i - 1], text);
                else snprintf(why, wn, "MAIL: %s", text);
            }
        }
        code = smtp_reply(c, text, sizeof text);
        if (code < 0) return snprintf(why, wn, "DATA: %s", c->err), -1;
        if (code != 354) {
            if (!refused) snprintf(why, wn, "DATA: %s", text);
            refused = 1;
        } else if (refused) { /* some recipient refused, DATA accepted anyway: end it empty */
            if (conn_write(c, ".\r\n", 3) || smtp_reply(c, text, sizeof text) < 0)
                return snprintf(why, wn, "%s", c->err), -1;
            return 1;
        }
    } else {
        code = smtp_cmd(c, text, sizeof text, "MAIL FROM:<%s>", O.from);
        if (code < 0) return snprintf(why, wn, "MAIL: %s", c->err), -1;
        if (code / 100 != 2) refused = 1, snprintf(why, wn, "MAIL: %s", text);
        for (int i = 0; !refused && i < O.nto; i++) {
            code = smtp_cmd(c, text, sizeof text, "RCPT TO:<%s>", O.to[i]);
            if (code < 0) return snprintf(why, wn, "RCPT: %s", c->err), -1;
            if (code / 100 != 2) refused = 1, snprintf(why, wn, "RCPT %s: %s", O.to[i], text);
        }
        if (!refused) {
            code = smtp_cmd(c, text, sizeof text, "DATA");
            if (code < 0) return snprintf(why, wn, "DATA: %s", c->err), -1;
            if (code != 354) refused = 1, snprintf(why, wn, "DATA: %s", text);
        }
    }
    if (refused) {
        code = smtp_cmd(c, text, sizeof text, "RSET");
        return code < 0 ? -1 : 1;
    }
    if (conn_write(c, msg_data, msg_len)) return snprintf(why, wn, "sending the message: %s", c->err), -1;
    code = smtp_reply(c, text, sizeof text);
    if (code < 0) return snprintf(why, wn, "end of DATA: %s", c->err), -1;
    if (code / 100 != 2) return snprintf(why, wn, "end of DATA: %s", text), 1;
    return 0;
}

typedef struct smtp_worker {
    pthread_t th;
    lat lat;
    long sent, failed, connections;
} smtp_worker;

static void *smtp_thread(void *arg)
{
    smtp_worker *w = arg;
    conn c = {.fd = -1};
    int open = 0, open_failures = 0;
    char why[1024];
    for (;;) {
        if (!open) {
            if (atomic_load(&next_msg) >= O.messages) break;
            if (smtp_open(&c, why, sizeof why)) {
                record_error("connection: %s", why);
                conn_close(&c);
                if (++open_failures >= 3) break;
                continue;
            }
            open = 1, open_failures = 0, w->connections++;
        }
        long i = atomic_fetch_add(&next_msg, 1);
        if (i >= O.messages) break;
        double t0 = now_s();
        int rc = smtp_send(&c, why, sizeof why);
        if (rc == 0) {
            lat_add(&w->lat, (now_s() - t0) * 1000);
            w->sent++;
        } else {
            w->failed++;
            record_error("%s", why);
            if (rc < 0) conn_close(&c), open = 0;
        }
    }
    if (open) {
        char text[256];
        smtp_cmd(&c, text, sizeof text, "QUIT");
    }
    conn_close(&c);
    return NULL;
}

static int run_smtp(void)
{
    if (!O.host || !O.port || !O.message_file || !O.from || !O.nto || O.messages < 1 || O.connections < 1)
        die("smtp needs --host --port --message --from --to --messages N --connections C");
    if (O.token && !O.user) O.user = O.from;
    if (O.token && !O.starttls) fprintf(stderr, "mss_load: warning: AUTH without --starttls\n");
    load_message(O.message_file);
    tls_setup();
    smtp_worker *w = calloc((size_t)O.connections, sizeof *w);
    if (!w) die("out of memory");
    double t0 = now_s();
    for (int i = 0; i < O.connections; i++)
        if (pthread_create(&w[i].th, NULL, smtp_thread, &w[i])) die("pthread_create: %s", strerror(errno));
    lat all = {0};
    long sent = 0, failed = 0, conns = 0;
    for (int i = 0; i < O.connections; i++) {
        pthread_join(w[i].th, NULL);
        lat_merge(&all, &w[i].lat);
        sent += w[i].sent, failed += w[i].failed, conns += w[i].connections;
        free(w[i].lat.v);
    }
    double secs = now_s() - t0;
    printf("{\"mode\":\"smtp\",\"connections\":%d,\"pipelining\":%s,\"messages_requested\":%ld,\"messages\":%ld,"
           "\"message_bytes\":%zu,\"seconds\":%.3f,\"msgs_per_s\":%.1f",
           O.connections, O.pipelining ? "true" : "false", O.messages, sent, msg_len - 3, secs,
           secs > 0 ? (double)sent / secs : 0);
    lat_print(stdout, &all, "");
    printf(",\"failed_messages\":%ld,\"sessions_opened\":%ld,\"errors\":%ld,\"first_error\":", failed, conns,
           atomic_load(&nerrors));
    json_str(stdout, first_error);
    printf("}\n");
    free(all.v);
    free(w);
    return sent == O.messages ? 0 : 1;
}

/* ---- IMAP, blocking (imap-fetch) -------------------------------------------------------------------- */

typedef struct imap_acc {
    long fetched;   /* untagged FETCH responses */
    long exists;    /* the last EXISTS */
    uint64_t literal_bytes;
    char bye[256];
} imap_acc;

/* literal_at_end - n when the line ends with {n} or {n+}, else -1. */
static long long literal_at_end(const char *line, size_t l)
{
    if (l < 3 || line[l - 1] != '}') return -1;
    size_t i = l - 1;
    if (i && line[i - 1] == '+') i--;
    size_t end = i;
    while (i && isdigit((unsigned char)line[i - 1])) i--;
    if (i == end || !i || line[i - 1] != '{' || end - i > 12) return -1;
    return strtoll(line + i, NULL, 10);
}

enum { IMAP_OK = 0, IMAP_NO = 1, IMAP_BAD = 2, IMAP_CONT = 3 };

/* imap_response - read until the tagged response of tag (or a continuation request '+'): IMAP_*, or
 * -1 on a connection error (c->err). text gets the tagged (or '+') line. Literals are read whole. */
static int imap_response(conn *c, const char *tag, imap_acc *acc, char *text, size_t tn)
{
    size_t tagl = strlen(tag);
    for (;;) {
        size_t l;
        char *line = conn_line(c, &l);
        if (!line) {
            if (acc->bye[0]) snprintf(c->err + strlen(c->err), sizeof c->err - strlen(c->err), " (%s)", acc->bye);
            return -1;
        }
        if (line[0] == '+') {
            snprintf(text, tn, "%s", line);
            return IMAP_CONT;
        }
        if (l > tagl && !strncmp(line, tag, tagl) && line[tagl] == ' ') {
            snprintf(text, tn, "%s", line);
            const char *st = line + tagl + 1;
            if (!strncasecmp(st, "OK", 2)) return IMAP_OK;
            if (!strncasecmp(st, "NO", 2)) return IMAP_NO;
            return IMAP_BAD;
        }
        if (line[0] != '*' || line[1] != ' ') {
            snprintf(c->err, sizeof c->err, "unexpected line (waiting for %s): %.200s", tag, line);
            return -1;
        }
        char kw[16] = "";
        long num = 0;
        if (sscanf(line, "* %ld %15s", &num, kw) == 2) {
            if (!strcasecmp(kw, "FETCH")) acc->fetched++;
            else if (!strcasecmp(kw, "EXISTS")) acc->exists = num;
        } else if (!strncasecmp(line, "* BYE", 5)) {
            snprintf(acc->bye, sizeof acc->bye, "%.250s", line);
        }
        /* The rest of an untagged response: a literal, then the line goes on, maybe with another. */
        for (long long lit; (lit = literal_at_end(line, l)) >= 0;) {
            if (conn_skip(c, (size_t)lit)) return -1;
            acc->literal_bytes += (uint64_t)lit;
            line = conn_line(c, &l);
            if (!line) return -1;
        }
    }
}

/* imap_cmd - a tagged command and its response. */
static int imap_cmd(conn *c, const char *tag, imap_acc *acc, char *text, size_t tn, const char *fmt, ...)
{
    char line[8192];
    int l = snprintf(line, sizeof line, "%s ", tag);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line + l, sizeof line - (size_t)l - 2, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)(l + k) >= sizeof line - 2) die("command too long");
    l += k;
    memcpy(line + l, "\r\n", 2);
    if (conn_write(c, line, (size_t)l + 2)) return -1;
    return imap_response(c, tag, acc, text, tn);
}

/* imap_open - STARTTLS, AUTHENTICATE XOAUTH2, SELECT INBOX. 0 or -1 with why; *exists, and how long
 * SELECT took. */
static int imap_open(conn *c, long *exists, double *select_ms, char *why, size_t wn)
{
    char text[1024];
    imap_acc acc = {0};
    if (conn_open(c)) return snprintf(why, wn, "%s", c->err), -1;
    size_t l;
    char *g = conn_line(c, &l);
    if (!g) return snprintf(why, wn, "greeting: %s", c->err), -1;
    if (strncasecmp(g, "* OK", 4)) return snprintf(why, wn, "greeting: %.300s", g), -1;
    int rc = imap_cmd(c, "a1", &acc, text, sizeof text, "STARTTLS");
    if (rc < 0) return snprintf(why, wn, "STARTTLS: %s", c->err), -1;
    if (rc != IMAP_OK) return snprintf(why, wn, "STARTTLS: %s", text), -1;
    if (conn_starttls(c)) return snprintf(why, wn, "%s", c->err), -1;
    char *b64 = xoauth2(O.user, O.token);
    rc = imap_cmd(c, "a2", &acc, text, sizeof text, "AUTHENTICATE XOAUTH2 %s", b64);
    free(b64);
    if (rc == IMAP_CONT) { /* an error challenge: answer empty, then the tagged NO */
        char challenge[512];
        snprintf(challenge, sizeof challenge, "%s", text);
        if (conn_write(c, "\r\n", 2)) return snprintf(why, wn, "AUTHENTICATE: %s", c->err), -1;
        rc = imap_response(c, "a2", &acc, text, sizeof text);
        if (rc >= 0) snprintf(text + strlen(text), sizeof text - strlen(text), " (challenge: %.300s)", challenge);
    }
    if (rc < 0) return snprintf(why, wn, "AUTHENTICATE: %s", c->err), -1;
    if (rc != IMAP_OK) return snprintf(why, wn, "AUTHENTICATE XOAUTH2: %s", text), -1;
    double t0 = now_s();
    rc = imap_cmd(c, "a3", &acc, text, sizeof text, "SELECT INBOX");
    *select_ms = (now_s() - t0) * 1000;
    if (rc < 0) return snprintf(why, wn, "SELECT: %s", c->err), -1;
    if (rc != IMAP_OK) return snprintf(why, wn, "SELECT INBOX: %s", text), -1;
    *exists = acc.exists;
    return 0;
}

static atomic_long next_round;
static atomic_long exists_seen;

typedef struct fetch_worker {
    pthread_t th;
    unsigned seed;
    lat lat;
    long rounds, messages;
    uint64_t bytes;
    double select_ms;
} fetch_worker;

static void *fetch_thread(void *arg)
{
    fetch_worker *w = arg;
    conn c;
    char why[1024], text[1024];
    long exists = 0;
    if (imap_open(&c, &exists, &w->select_ms, why, sizeof why)) {
        record_error("session: %s", why);
        conn_close(&c);
        return NULL;
    }
    atomic_store(&exists_seen, exists);
    if (exists < 1) {
        record_error("INBOX is empty");
        conn_close(&c);
        return NULL;
    }
    unsigned tagn = 0;
    for (;;) {
        long r = atomic_fetch_add(&next_round, 1);
        if (r >= O.rounds) break;
        long win = O.fetch < exists ? O.fetch : exists;
        long a = 1 + (long)(rand_r(&w->seed) % (unsigned long)(exists - win + 1));
        long b = a + win - 1;
        char tag[16];
        snprintf(tag, sizeof tag, "f%u", ++tagn);
        imap_acc acc = {0};
        uint64_t before = c.bytes_in;
        double t0 = now_s();
        int rc = imap_cmd(&c, tag, &acc, text, sizeof text,
                          "FETCH %ld:%ld (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE "
                          "MESSAGE-ID)])",
                          a, b);
        double ms = (now_s() - t0) * 1000;
        if (rc < 0) {
            record_error("FETCH %ld:%ld: %s", a, b, c.err);
            break;
        }
        if (rc != IMAP_OK) {
            record_error("FETCH %ld:%ld: %s", a, b, text);
            continue;
        }
        if (acc.exists) exists = acc.exists;
        lat_add(&w->lat, ms);
        w->rounds++;
        w->messages += acc.fetched;
        w->bytes += c.bytes_in - before;
    }
    imap_acc acc = {0};
    imap_cmd(&c, "z", &acc, text, sizeof text, "LOGOUT");
    conn_close(&c);
    return NULL;
}

static int run_imap_fetch(void)
{
    if (!O.host || !O.port || !O.user || !O.token) die("imap-fetch needs --host --port --user --token (--ca)");
    if (O.fetch < 1 || O.rounds < 1 || O.connections < 1) die("--fetch, --rounds and --connections must be >= 1");
    tls_setup();
    fetch_worker *w = calloc((size_t)O.connections, sizeof *w);
    if (!w) die("out of memory");
    double t0 = now_s();
    for (int i = 0; i < O.connections; i++) {
        w[i].seed = O.seed * 7919u + (unsigned)i * 104729u + 1;
        if (pthread_create(&w[i].th, NULL, fetch_thread, &w[i])) die("pthread_create: %s", strerror(errno));
    }
    lat all = {0}, sel = {0};
    long rounds = 0, messages = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < O.connections; i++) {
        pthread_join(w[i].th, NULL);
        lat_merge(&all, &w[i].lat);
        if (w[i].select_ms > 0) lat_add(&sel, w[i].select_ms);
        rounds += w[i].rounds, messages += w[i].messages, bytes += w[i].bytes;
        free(w[i].lat.v);
    }
    double secs = now_s() - t0;
    printf("{\"mode\":\"imap-fetch\",\"connections\":%d,\"exists\":%ld,\"fetch\":%ld,\"rounds_requested\":%ld,"
           "\"rounds\":%ld,\"seconds\":%.3f,\"fetches_per_s\":%.2f",
           O.connections, atomic_load(&exists_seen), O.fetch, O.rounds, rounds, secs,
           secs > 0 ? (double)rounds / secs : 0);
    lat_print(stdout, &all, "");
    qsort(sel.v, sel.n, sizeof *sel.v, cmp_double);
    printf(",\"select_ms\":%.2f,\"select_max_ms\":%.2f", pct(&sel, 50), sel.n ? sel.v[sel.n - 1] : 0);
    free(sel.v);
    printf(",\"messages_per_fetch\":%.1f,\"bytes_per_fetch\":%.0f,\"errors\":%ld,\"first_error\":",
           rounds ? (double)messages / (double)rounds : 0, rounds ? (double)bytes / (double)rounds : 0,
           atomic_load(&nerrors));
    json_str(stdout, first_error);
    printf("}\n");
    free(all.v);
    free(w);
    return rounds == O.rounds && !atomic_load(&nerrors) ? 0 : 1;
}

/* ---- IMAP, many sessions from one poll loop (imap-hold) ---------------------------------------------- */

enum { H_UNUSED, H_CONNECT, H_GREETING, H_STARTTLS, H_HANDSHAKE, H_AUTH, H_SELECT, H_IDLE, H_HOLD, H_DONE, H_END,
       H_FAILED };
static const char *const h_state_name[] = {"unused", "connect", "greeting", "STARTTLS", "TLS handshake",
                                           "AUTHENTICATE", "SELECT", "IDLE", "hold", "DONE", "end", "failed"};

#define H_IN 16384
#define H_OUT 8192

typedef struct hsess {
    int fd;
    SSL *ssl;
    int state;
    int want_write;   /* OpenSSL asked to wait for the socket to be writable */
    char *in, *out;
    size_t inlen, outlen, outoff;
    double started, deadline;
} hsess;

static char *h_auth_line;
static long h_failed_by_state[H_FAILED + 1];
static long h_established, h_alive, h_dropped_in_hold, h_exists_pushed;
static lat h_setup;

static void hs_close(hsess *h)
{
    if (h->ssl) SSL_free(h->ssl);
    if (h->fd >= 0) close(h->fd);
    free(h->in);
    free(h->out);
    h->ssl = NULL, h->fd = -1, h->in = h->out = NULL;
}

static void hs_fail(hsess *h, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    record_error("session in state %s: %s", h_state_name[h->state], msg);
    h_failed_by_state[h->state]++;
    if (h->state == H_HOLD) h_dropped_in_hold++;
    hs_close(h);
    h->state = H_FAILED;
}

/* hs_flush - write what is queued; 0, or -1 when the session failed. */
static int hs_flush(hsess *h)
{
    h->want_write = 0;
    while (h->outoff < h->outlen) {
        size_t n = h->outlen - h->outoff;
        if (h->ssl) {
            int r = SSL_write(h->ssl, h->out + h->outoff, (int)n);
            if (r > 0) {
                h->outoff += (size_t)r;
                continue;
            }
            int e = SSL_get_error(h->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE) return h->want_write = 1, 0;
            if (e == SSL_ERROR_WANT_READ) return 0;
            char es[256];
            hs_fail(h, "TLS write: %s", e == SSL_ERROR_SYSCALL && errno ? strerror(errno) : ssl_errstr(es, sizeof es));
            return -1;
        }
        ssize_t r = send(h->fd, h->out + h->outoff, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r > 0) {
            h->outoff += (size_t)r;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return h->want_write = 1, 0;
        hs_fail(h, "write: %s", r < 0 ? strerror(errno) : "nothing written");
        return -1;
    }
    h->outoff = h->outlen = 0;
    return 0;
}

static int hs_send(hsess *h, const char *s)
{
    size_t l = strlen(s);
    if (h->outlen + l > H_OUT) {
        hs_fail(h, "output buffer full");
        return -1;
    }
    memcpy(h->out + h->outlen, s, l);
    h->outlen += l;
    return hs_flush(h);
}

static void hs_handshake(hsess *h)
{
    int r = SSL_connect(h->ssl);
    if (r == 1) {
        h->state = H_AUTH;
        hs_send(h, h_auth_line);
        return;
    }
    int e = SSL_get_error(h->ssl, r);
    if (e == SSL_ERROR_WANT_READ) h->want_write = 0;
    else if (e == SSL_ERROR_WANT_WRITE) h->want_write = 1;
    else {
        char why[400];
        tls_handshake_error(h->ssl, why, sizeof why);
        hs_fail(h, "%s", why);
    }
}

/* hs_line - one response line in the session's state. */
static void hs_line(hsess *h, const char *line, double now)
{
    if (!strncasecmp(line, "* BYE", 5) && h->state != H_DONE) {
        hs_fail(h, "%.300s", line);
        return;
    }
    switch (h->state) {
    case H_GREETING:
        if (strncasecmp(line, "* OK", 4)) { hs_fail(h, "greeting: %.300s", line); return; }
        h->state = H_STARTTLS;
        hs_send(h, "h1 STARTTLS\r\n");
        return;
    case H_STARTTLS:
        if (line[0] == '*') return;
        if (strncasecmp(line, "h1 OK", 5)) { hs_fail(h, "%.300s", line); return; }
        h->inlen = 0; /* nothing sent in clear may be read as if it came under TLS */
        h->ssl = tls_new(h->fd);
        if (!h->ssl) { hs_fail(h, "SSL_new failed"); return; }
        h->state = H_HANDSHAKE;
        hs_handshake(h);
        return;
    case H_AUTH:
        if (line[0] == '+') { /* an error challenge: answer empty, the tagged NO follows */
            hs_send(h, "\r\n");
            return;
        }
        if (line[0] == '*') return;
        if (strncasecmp(line, "h2 OK", 5)) { hs_fail(h, "AUTHENTICATE XOAUTH2: %.300s", line); return; }
        h->state = H_SELECT;
        hs_send(h, "h3 SELECT INBOX\r\n");
        return;
    case H_SELECT:
        if (line[0] == '*') return;
        if (strncasecmp(line, "h3 OK", 5)) { hs_fail(h, "SELECT INBOX: %.300s", line); return; }
        h->state = H_IDLE;
        hs_send(h, "h4 IDLE\r\n");
        return;
    case H_IDLE:
        if (line[0] == '*') return;
        if (line[0] != '+') { hs_fail(h, "IDLE: %.300s", line); return; }
        h->state = H_HOLD;
        h_established++;
        lat_add(&h_setup, (now - h->started) * 1000);
        return;
    case H_HOLD:
        if (line[0] == '*') { /* EXISTS (counted: what IDLE pushes) and the like */
            char kw[16] = "";
            long n = 0;
            if (sscanf(line, "* %ld %15s", &n, kw) == 2 && !strcasecmp(kw, "EXISTS")) h_exists_pushed++;
            return;
        }
        { hs_fail(h, "during IDLE: %.300s", line); return; }
    case H_DONE:
        if (line[0] == '*') return;
        if (strncasecmp(line, "h4 OK", 5)) { hs_fail(h, "DONE: %.300s", line); return; }
        h_alive++;
        h->state = H_END;
        h->outoff = h->outlen = 0;
        if (!hs_send(h, "h5 LOGOUT\r\n")) hs_close(h);
        return;
    default:
        return;
    }
}

/* hs_read - read what is there and act on every complete line. */
static void hs_read(hsess *h, double now)
{
    for (;;) {
        if (h->state == H_HANDSHAKE || h->state == H_FAILED || h->state == H_END) return;
        if (h->inlen == H_IN) { hs_fail(h, "a response line longer than %d bytes", H_IN); return; }
        ssize_t r;
        if (h->ssl) {
            int k = SSL_read(h->ssl, h->in + h->inlen, (int)(H_IN - h->inlen));
            if (k <= 0) {
                int e = SSL_get_error(h->ssl, k);
                if (e == SSL_ERROR_WANT_READ) return;
                if (e == SSL_ERROR_WANT_WRITE) {
                    h->want_write = 1;
                    return;
                }
                char es[256];
                if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !errno && !ERR_peek_error()))
                    { hs_fail(h, "connection closed by the server"); return; }
                { hs_fail(h, "TLS read: %s", e == SSL_ERROR_SYSCALL && errno ? strerror(errno) : ssl_errstr(es, sizeof es)); return; }
            }
            r = k;
        } else {
            r = recv(h->fd, h->in + h->inlen, H_IN - h->inlen, MSG_DONTWAIT);
            if (r == 0) { hs_fail(h, "connection closed by the server"); return; }
            if (r < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;
                { hs_fail(h, "read: %s", strerror(errno)); return; }
            }
        }
        h->inlen += (size_t)r;
        size_t start = 0;
        char *nl;
        while ((nl = memchr(h->in + start, '\n', h->inlen - start))) {
            size_t l = (size_t)(nl - (h->in + start));
            char line[H_IN];
            memcpy(line, h->in + start, l);
            if (l && line[l - 1] == '\r') l--;
            line[l] = 0;
            start = (size_t)(nl - h->in) + 1;
            int before = h->state;
            hs_line(h, line, now);
            if (h->state == H_FAILED || h->state == H_END) return;
            if (before == H_STARTTLS && h->state != H_STARTTLS) return; /* now under TLS; inlen reset */
        }
        memmove(h->in, h->in + start, h->inlen - start);
        h->inlen -= start;
    }
}

static int hs_launch(hsess *h, const struct addrinfo *ai, double now)
{
    memset(h, 0, sizeof *h);
    h->fd = -1;
    h->started = now;
    h->deadline = now + O.timeout_s;
    h->state = H_CONNECT;
    h->in = malloc(H_IN);
    h->out = malloc(H_OUT);
    if (!h->in || !h->out) die("out of memory");
    h->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (h->fd < 0) {
        hs_fail(h, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(h->fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
        hs_fail(h, "connect: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int setting_up(int st)
{
    return st >= H_CONNECT && st <= H_IDLE;
}

static int run_imap_hold(void)
{
    if (!O.host || !O.port || !O.user || !O.token) die("imap-hold needs --host --port --user --token (--ca)");
    if (O.sessions < 1 || O.ramp < 1) die("--sessions and --ramp must be >= 1");
    tls_setup();
    char *b64 = xoauth2(O.user, O.token);
    size_t al = strlen(b64) + 64;
    h_auth_line = malloc(al);
    if (!h_auth_line) die("out of memory");
    snprintf(h_auth_line, al, "h2 AUTHENTICATE XOAUTH2 %s\r\n", b64);
    free(b64);
    if (strlen(h_auth_line) >= H_OUT) die("token too long");
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int rc = getaddrinfo(O.host, O.port, &hints, &ai);
    if (rc) die("%s:%s: %s", O.host, O.port, gai_strerror(rc));
    size_t S = (size_t)O.sessions;
    hsess *hs = calloc(S, sizeof *hs);
    struct pollfd *pf = calloc(S, sizeof *pf);
    size_t *idx = calloc(S, sizeof *idx);
    if (!hs || !pf || !idx) die("out of memory");
    for (size_t i = 0; i < S; i++) hs[i].fd = -1;
    double t0 = now_s(), hold_start = 0, hold_end = 0, establish_s = 0;
    size_t launched = 0;
    int phase = 0; /* 0 setting up, 1 holding, 2 DONE sent */
    long peak_idle = 0;
    double last_report = t0;
    for (;;) {
        double now = now_s();
        size_t inflight = 0, done_wait = 0;
        for (size_t i = 0; i < launched; i++) {
            if (setting_up(hs[i].state)) {
                if (now > hs[i].deadline) hs_fail(&hs[i], "no progress within %d s", O.timeout_s);
                else inflight++;
            } else if (hs[i].state == H_DONE) {
                if (now > hs[i].deadline) hs_fail(&hs[i], "no answer to DONE within %d s", O.timeout_s);
                else done_wait++;
            }
        }
        while (phase == 0 && launched < S && inflight < (size_t)O.ramp) {
            if (!hs_launch(&hs[launched], ai, now)) inflight++;
            launched++;
        }
        long idle = 0;
        for (size_t i = 0; i < launched; i++) idle += hs[i].state == H_HOLD;
        if (idle > peak_idle) peak_idle = idle;
        if (phase == 0 && now - last_report >= 5) {
            fprintf(stderr, "mss_load: %zu launched, %ld idling, %ld failed\n", launched, idle,
                    (long)atomic_load(&nerrors));
            last_report = now;
        }
        if (phase == 0 && launched == S && !inflight) {
            phase = 1;
            hold_start = now;
            hold_end = idle ? now + O.hold_s : now; /* nothing to hold */
            establish_s = now - t0;
            fprintf(stderr, "mss_load: %ld of %zu sessions idling after %.1f s; holding them %.0f s\n", idle, S,
                    establish_s, O.hold_s);
        }
        if (phase == 1 && now >= hold_end) {
            phase = 2;
            for (size_t i = 0; i < launched; i++) {
                if (hs[i].state != H_HOLD) continue;
                hs[i].state = H_DONE;
                hs[i].deadline = now + O.timeout_s;
                if (!hs_send(&hs[i], "DONE\r\n")) done_wait++;
            }
        }
        if (phase == 2 && !done_wait) break;
        /* Poll every open session. */
        size_t np = 0;
        for (size_t i = 0; i < launched; i++) {
            hsess *h = &hs[i];
            if (h->state == H_FAILED || h->state == H_END || h->fd < 0) continue;
            short ev = POLLIN;
            if (h->state == H_CONNECT || h->want_write || h->outoff < h->outlen) ev |= POLLOUT;
            pf[np] = (struct pollfd){.fd = h->fd, .events = ev};
            idx[np++] = i;
        }
        int timeout_ms = 200;
        if (phase == 1) {
            double left = hold_end - now;
            timeout_ms = left < 0.2 ? (int)(left * 1000) + 1 : 200;
        }
        int n = poll(pf, np, timeout_ms);
        if (n < 0 && errno != EINTR) die("poll: %s", strerror(errno));
        now = now_s();
        for (size_t k = 0; n > 0 && k < np; k++) {
            if (!pf[k].revents) continue;
            hsess *h = &hs[idx[k]];
            if (h->state == H_CONNECT) {
                int e = 0;
                socklen_t el = sizeof e;
                getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &e, &el);
                if (e) {
                    hs_fail(h, "connect: %s", strerror(e));
                    continue;
                }
                if (!(pf[k].revents & POLLOUT)) continue;
                h->state = H_GREETING;
                continue;
            }
            if (h->state == H_HANDSHAKE) {
                hs_handshake(h);
                continue;
            }
            if ((h->want_write || h->outoff < h->outlen) && hs_flush(h)) continue;
            hs_read(h, now);
            if (h->state == H_HANDSHAKE) hs_handshake(h);
        }
    }
    double total = now_s() - t0;
    for (size_t i = 0; i < S; i++)
        if (hs[i].fd >= 0 || hs[i].ssl) hs_close(&hs[i]);
    qsort(h_setup.v, h_setup.n, sizeof *h_setup.v, cmp_double);
    printf("{\"mode\":\"imap-hold\",\"sessions_requested\":%ld,\"sessions_established\":%ld,"
           "\"sessions_alive_at_end\":%ld,\"dropped_during_hold\":%ld,\"hold_s\":%.1f,\"establish_s\":%.2f,"
           "\"peak_idling\":%ld,\"exists_pushed\":%ld,\"ramp\":%d,\"seconds\":%.2f",
           O.sessions, h_established, h_alive, h_dropped_in_hold, hold_start ? hold_end - hold_start : 0, establish_s,
           peak_idle, h_exists_pushed, O.ramp, total);
    lat_print(stdout, &h_setup, "setup_");
    printf(",\"failed_by_state\":{");
    const char *sep = "";
    for (int s = 0; s <= H_FAILED; s++)
        if (h_failed_by_state[s]) printf("%s\"%s\":%ld", sep, h_state_name[s], h_failed_by_state[s]), sep = ",";
    printf("},\"errors\":%ld,\"first_error\":", atomic_load(&nerrors));
    json_str(stdout, first_error);
    printf("}\n");
    freeaddrinfo(ai);
    free(hs);
    free(pf);
    free(idx);
    free(h_auth_line);
    return h_alive == O.sessions ? 0 : 1;
}

/* ---- main --------------------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: mss_load smtp --host H --port P --connections C --messages N --message FILE --from ADDR --to ADDR\n"
            "                [--to ADDR]... [--starttls] [--ca FILE] [--cert FILE --key FILE]\n"
            "                [--xoauth2-user U --token T] [--pipelining] [--servername NAME] [--timeout-s T]\n"
            "       mss_load imap-fetch --host H --port P --user U --token T --ca FILE [--fetch 1000] [--rounds R]\n"
            "                [--connections C] [--seed S]\n"
            "       mss_load imap-hold --host H --port P --user U --token T --ca FILE --sessions S [--hold-s 30]\n"
            "                [--ramp 64]\n");
    exit(2);
}

static long num(const char *name, const char *v, long lo, long hi)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) die("--%s: expected a number in [%ld, %ld], got '%s'", name, lo, hi, v);
    return x;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') usage();
    O.mode = argv[1];
    static const struct option lo[] = {
        {"host", 1, 0, 'h'},        {"port", 1, 0, 'p'},     {"connections", 1, 0, 'c'}, {"messages", 1, 0, 'n'},
        {"message", 1, 0, 'm'},     {"from", 1, 0, 'f'},     {"to", 1, 0, 't'},          {"starttls", 0, 0, 'S'},
        {"ca", 1, 0, 'A'},          {"cert", 1, 0, 'C'},     {"key", 1, 0, 'K'},         {"xoauth2-user", 1, 0, 'u'},
        {"user", 1, 0, 'u'},        {"token", 1, 0, 'T'},    {"fetch", 1, 0, 'F'},       {"rounds", 1, 0, 'r'},
        {"sessions", 1, 0, 's'},    {"hold-s", 1, 0, 'H'},   {"ramp", 1, 0, 'R'},        {"timeout-s", 1, 0, 'o'},
        {"servername", 1, 0, 'N'},  {"pipelining", 0, 0, 'P'}, {"seed", 1, 0, 'e'},     {"help", 0, 0, '?'},
        {0, 0, 0, 0}};
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'h': O.host = optarg; break;
        case 'p': O.port = optarg; break;
        case 'c': O.connections = (int)num("connections", optarg, 1, 100000); break;
        case 'n': O.messages = num("messages", optarg, 1, 1L << 40); break;
        case 'm': O.message_file = optarg; break;
        case 'f': O.from = optarg; break;
        case 't':
            if (O.nto == MAX_RCPT) die("at most %d --to", MAX_RCPT);
            O.to[O.nto++] = optarg;
            break;
        case 'S': O.starttls = 1; break;
        case 'A': O.ca = optarg; break;
        case 'C': O.cert = optarg; break;
        case 'K': O.key = optarg; break;
        case 'u': O.user = optarg; break;
        case 'T': O.token = optarg; break;
        case 'F': O.fetch = num("fetch", optarg, 1, 1L << 31); break;
        case 'r': O.rounds = num("rounds", optarg, 1, 1L << 40); break;
        case 's': O.sessions = num("sessions", optarg, 1, 1000000); break;
        case 'H': O.hold_s = (double)num("hold-s", optarg, 0, 86400); break;
        case 'R': O.ramp = (int)num("ramp", optarg, 1, 100000); break;
        case 'o': O.timeout_s = (int)num("timeout-s", optarg, 1, 86400); break;
        case 'N': O.servername = optarg; break;
        case 'P': O.pipelining = 1; break;
        case 'e': O.seed = (unsigned)num("seed", optarg, 0, 1L << 31); break;
        default: usage();
        }
    }
    if (optind < argc) die("unexpected argument '%s'", argv[optind]);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl)) fprintf(stderr, "mss_load: warning: cannot raise RLIMIT_NOFILE\n");
    }
    if (!strcmp(O.mode, "imap-hold") && !getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)O.sessions + 16 > rl.rlim_cur)
        die("--sessions %ld needs more file descriptors than RLIMIT_NOFILE allows (%llu)", O.sessions,
            (unsigned long long)rl.rlim_cur);
    if (!O.seed) O.seed = (unsigned)time(NULL);
    if (!strcmp(O.mode, "smtp")) return run_smtp();
    if (!strcmp(O.mode, "imap-fetch")) return run_imap_fetch();
    if (!strcmp(O.mode, "imap-hold")) return run_imap_hold();
    usage();
    return 2;
}
