/* mss.h - the MSSanté operator: SMTP (relay between operators and submission for the operator's
 * users) and IMAP over TLS, the trust space, the four kinds of mailboxes and the citizen
 * mailboxes, IHE XDM content, DSN and MDN.
 *
 * NAME
 *      mss - secure health messaging as an operator of the MSSanté trust space.
 * SYNOPSIS
 *      mss_open() mss_register() mss_start() mss_stop() mss_close() mss_mailbox_add() mss_mailbox_list()
 * DESCRIPTION
 *      Mailboxes and messages live in the store (tables mss_*): a message is answered 250 only
 *      once it is committed for every recipient (local INBOX, the relay queue, the sender's Sent
 *      folder), so kill -9 never loses an accepted message.
 *      Relay listener (smtp_listen): STARTTLS first; the peer must present a certificate of the
 *      trust-space CA naming an operator domain on the allow-list; only our own domains are
 *      accepted as recipients. Submission listener (submission_listen): STARTTLS first, then
 *      AUTH OAUTHBEARER / XOAUTH2 with a Pro Santé Connect (or patient realm) access token,
 *      EXTERNAL with a client certificate, or PLAIN when mss_allow_password is on.
 *      IMAP listener (imap_listen): IMAP4rev1 with STARTTLS, AUTHENTICATE and LOGIN after TLS.
 *      Who may use a mailbox is the policy engine's rule "mss-mailbox": a personal (PER)
 *      mailbox its professional, an organisational, applicative or practice mailbox (ORG APP
 *      CAB) the certificate or token of its structure, a citizen mailbox its patient.
 *      Citizen rule: a professional may write to any active citizen mailbox; a patient only to a
 *      professional who wrote to them first, until a message with X-MSS-MES: FIN.
 *      Messages to other operators go through a queue retried with back-off (mss_retry_s); a DSN
 *      goes back to the sender after the last attempt.
 * CONFIGURATION
 *      smtp_listen, submission_listen, imap_listen, mss_domain, mss_citizen_domain, mss_tls_cert,
 *      mss_tls_key, mss_tls_ca, mss_trust_file, mss_routes, mss_max_message_bytes,
 *      mss_allow_password, mss_retry_s, mss_session_timeout_s, mss_postmaster (the mailbox that
 *      receives mail for <postmaster> and postmaster@<mss_domain> when the latter is no mailbox).
 * BUGS
 *      RCPT TO:<postmaster> is refused when postmaster@<mss_domain> is no mailbox and
 *      mss_postmaster is unset (RFC 5321 wants it always accepted). IMAP: no keywords (only the system flags are kept), no
 *      CONDSTORE; \Recent is never set. One thread per connection: memory grows
 *      with idle IMAP sessions (about 120 KB each measured, 1,000 held).
 * SEE ALSO
 *      ../shared/spec/mssante.md; mime.h, xdm.h; net/lines.h.
 */
#ifndef SOCLE_SVC_MSS_MSS_H
#define SOCLE_SVC_MSS_MSS_H

#include "rest/rest.h"

typedef struct mss_service mss_service;

/* mss_open - migrate the tables, read the configuration, add the policy rule. Starts nothing. */
int mss_open(socle_app *app, mss_service **out, socle_err *err);
/* mss_start - start the configured listeners and the relay worker (socle serve). Nothing to do
 * when no listener is configured. */
int mss_start(mss_service *svc, socle_err *err);
/* mss_register - the HTTP routes (/mss/v1/...: the published directory, XDM documents, sending). */
int mss_register(mss_service *svc, http_router *router);
/* mss_stop - stop the listeners (sessions end) and the relay worker. Safe when not started. */
void mss_stop(mss_service *svc);
/* mss_close - stop and free. svc may be NULL. */
void mss_close(mss_service *svc);

/* What `socle mss mailbox add` creates. */
typedef struct mss_mailbox_spec {
    const char *address;   /* local@domain; for a citizen mailbox NULL: <INS>@<citizen domain> */
    const char *kind;      /* PER ORG APP CAB CIT */
    const char *owner;     /* IDNPS (PER), FINESS or IDNST of the structure (ORG APP CAB), INS (CIT) */
    const char *display;   /* may be NULL */
    const char *password;  /* may be NULL: token or certificate logins only */
} mss_mailbox_spec;

/* mss_mailbox_add - create a mailbox after checking its owner: a professional of the directory
 * (PER), a structure of the directory (ORG APP CAB), a patient with a qualified INS (CIT); the
 * address must be in the operator's domain (citizen domain for CIT). *address (size n) gets the
 * address. SOCLE_ECONFLICT when it exists, SOCLE_EUNPROCESSABLE with the reason otherwise. */
int mss_mailbox_add(mss_service *svc, const mss_mailbox_spec *spec, char *address, size_t n, socle_err *err);
/* mss_mailbox_list - print the mailboxes (address, kind, owner) to f. */
int mss_mailbox_list(mss_service *svc, void *file, socle_err *err);

#endif
