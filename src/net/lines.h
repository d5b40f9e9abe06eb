/* lines.h - the line-protocol server (SMTP, IMAP) and its TLS (OpenSSL), and a small client side
 * for relaying.
 *
 * NAME
 *      lines - TCP listeners that hand each connection to a session function, with buffered line
 *      reading under explicit limits, STARTTLS or implicit TLS (1.2+), client certificates.
 * SYNOPSIS
 *      lines_tls_new() lines_tls_free() lines_server_start() lines_server_stop()
 *      lines_read_line() lines_read_bytes() lines_wait() lines_write() lines_printf() lines_flush()
 *      lines_starttls() lines_is_tls() lines_peer_cert_der() lines_remote_addr() lines_stopping()
 *      lines_connect() lines_close()
 * DESCRIPTION
 *      One thread per connection (small stacks): a session is a plain loop of reads and writes,
 *      which keeps the protocol code readable; thousands of idle sessions (IMAP IDLE) cost only
 *      their stacks. Connections over max_connections are answered with the `busy` line and closed.
 *      Reads time out after idle_timeout_s (the session sees LINES_TIMEOUT). Lines end with CRLF;
 *      a bare LF ends a line too but is reported (LINES_BARE_LF) so that SMTP can refuse it. A line
 *      longer than the caller's buffer is consumed to its end and reported as LINES_TOO_LONG, so the
 *      session stays in step with the client. lines_starttls drops any input buffered before the
 *      handshake (RFC 3207 §6: commands pipelined before STARTTLS must not be obeyed after it).
 *      lines_server_stop closes the listeners, wakes every session (their reads return
 *      LINES_EOF), waits for them to end, then returns.
 * CONFIGURATION
 *      Given by the caller (the MSSanté service): addresses, certificate, key, client CA.
 */
#ifndef SOCLE_NET_LINES_H
#define SOCLE_NET_LINES_H

#include <stdarg.h>
#include <stddef.h>

#include "base/err.h"

typedef struct lines_tls lines_tls;
typedef struct lines_server lines_server;
typedef struct lines_conn lines_conn;

/* Results of the read functions (>= 0 is a length). */
enum {
    LINES_EOF = -1,      /* the peer closed, a read failed, or the server is stopping */
    LINES_TIMEOUT = -2,  /* nothing came for idle_timeout_s */
    LINES_TOO_LONG = -3, /* the line did not fit (it was consumed) */
};
/* Flags of lines_read_line. */
enum { LINES_BARE_LF = 1 };

/* lines_tls_new - a TLS context (TLS 1.2 minimum) with cert/key (PEM files; may be NULL for a
 * client context without a certificate) and the CA that client or server certificates must chain
 * to (may be NULL: peers' certificates are then not asked for / not verified). */
int lines_tls_new(const char *cert, const char *key, const char *ca, int server, lines_tls **out, socle_err *err);
void lines_tls_free(lines_tls *t);

/* The session: runs in its own thread; the connection is closed when it returns. */
typedef void (*lines_session_fn)(lines_conn *c, void *ctx);

typedef struct lines_options {
    const char *listen;    /* "ADDR:PORT" */
    const char *name;      /* for logs: "smtp", "submission", "imap" */
    lines_tls *tls;        /* for STARTTLS or implicit TLS; NULL: plain text only */
    int implicit_tls;      /* 1: the handshake comes first (SMTPS, IMAPS) */
    int idle_timeout_s;    /* 0: 300 */
    int max_connections;   /* 0: 2000 */
    const char *busy;      /* the line sent (CRLF added) when over max_connections */
} lines_options;

/* lines_server_start - listen and serve; fn(conn, ctx) for every connection. */
int lines_server_start(const lines_options *o, lines_session_fn fn, void *ctx, lines_server **out, socle_err *err);
/* lines_server_port - the port listened on (useful with port 0: the kernel's choice). */
int lines_server_port(const lines_server *s);
/* lines_server_stop - see DESCRIPTION. NULL is fine. */
void lines_server_stop(lines_server *s);

/* lines_read_line - the next line without its line end, NUL-terminated, into buf (size n).
 * Returns its length, or LINES_EOF / LINES_TIMEOUT / LINES_TOO_LONG. *flags (may be NULL) gets
 * LINES_BARE_LF when the line ended with LF alone. */
long lines_read_line(lines_conn *c, char *buf, size_t n, int *flags);
/* lines_read_bytes - exactly n bytes (an IMAP literal). 0, LINES_EOF or LINES_TIMEOUT. */
int lines_read_bytes(lines_conn *c, void *buf, size_t n);
/* lines_wait - 1 when input is there (buffered or on the socket) within timeout_ms, 0 when not,
 * LINES_EOF when the connection or the server is closing. For IMAP IDLE. */
int lines_wait(lines_conn *c, int timeout_ms);
/* lines_pending - 1 when input is already buffered (a pipelining client). */
int lines_pending(lines_conn *c);

/* lines_write / lines_printf - buffered output; lines_flush sends it. A block of 64 KiB or more is
 * sent at once from the caller's memory, after what is buffered (the buffer stays small). Return 0
 * or LINES_EOF. */
int lines_write(lines_conn *c, const void *data, size_t n);
int lines_printf(lines_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int lines_flush(lines_conn *c);

/* lines_starttls - flush, drop buffered input, then the TLS handshake as server (or client when
 * the connection was made with lines_connect). 0 or SOCLE_EIO (the connection is then unusable). */
int lines_starttls(lines_conn *c, socle_err *err);
int lines_is_tls(const lines_conn *c);
/* lines_tls_version - "TLSv1.3" etc., "" in clear. */
const char *lines_tls_version(const lines_conn *c);
/* lines_peer_cert_der - the peer's certificate as DER, verified against the context's CA; NULL
 * when none was presented, it did not verify, or the connection is in clear. Valid for the
 * connection's life. */
const unsigned char *lines_peer_cert_der(lines_conn *c, size_t *len);
/* lines_peer_name_matches - 1 when the verified peer certificate is valid for DNS name `host`. */
int lines_peer_name_matches(lines_conn *c, const char *host);
const char *lines_remote_addr(const lines_conn *c);
/* lines_stopping - 1 once the server is stopping (long-running sessions end early). */
int lines_stopping(const lines_conn *c);

/* lines_connect - a client connection to host:port within timeout_s (for relaying to another
 * operator); tls is used by a later lines_starttls. */
int lines_connect(const char *host, int port, lines_tls *tls, int timeout_s, lines_conn **out, socle_err *err);
/* lines_set_server_name - the name a client connection asks for in TLS (SNI) at lines_starttls:
 * the domain being relayed to, whatever address the route gave. */
void lines_set_server_name(lines_conn *c, const char *name);
/* lines_close - close a client connection made by lines_connect. */
void lines_close(lines_conn *c);

#endif
