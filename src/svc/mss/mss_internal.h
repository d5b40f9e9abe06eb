/* mss_internal.h - what the files of the MSSanté service share: the service record, the mailbox
 * and message store, the trust space, delivery, and the two protocol sessions. */
#ifndef SOCLE_SVC_MSS_INTERNAL_H
#define SOCLE_SVC_MSS_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "net/lines.h"
#include "svc/mss/mss.h"

#define MSS_ADDRESS_MAX 256
#define MSS_MAX_RECIPIENTS 100
#define MSS_ORCPT_MAX 504 /* RFC 3461 section 4.2: an ORCPT value has at most 500 characters */
#define MSS_CHANGE_SLOTS 1024
/* The issuer recorded for a subject that logged in with a mailbox password (audit trail, policy). */
#define MSS_PASSWORD_ISSUER "mss-password"
#define MSS_BATCH_MAX 32 /* messages committed together at most */

struct mss_job;

typedef struct mss_trust mss_trust;

struct mss_service {
    socle_app *app;
    char domain[MSS_ADDRESS_MAX];          /* mss_domain */
    char citizen_domain[MSS_ADDRESS_MAX];  /* mss_citizen_domain */
    size_t max_message;                    /* mss_max_message_bytes */
    int allow_password;                    /* mss_allow_password */
    int session_timeout_s;                 /* mss_session_timeout_s (SMTP; > 0) */
    int imap_timeout_s;                    /* an IMAP session's, IDLE included: 1860 at least */
    const char *routes;                    /* mss_routes, NULL when unset */
    char postmaster[MSS_ADDRESS_MAX];      /* mss_postmaster, lower case, "" when unset */
    int retry_s[16];                       /* mss_retry_s */
    int nretry;
    mss_trust *trust;
    lines_tls *server_tls, *client_tls;
    lines_server *smtp, *submission, *imap;
    /* The relay worker. */
    pthread_t relay_thread;
    int relay_started;
    pthread_mutex_t mu;
    pthread_cond_t wake;       /* new work for the relay, or a new message for IDLE sessions */
    int stopping;
    uint64_t generation;       /* bumped when the relay queue may have work */
    uint64_t changes[MSS_CHANGE_SLOTS]; /* bumped when a mailbox hashed to the slot changes (IMAP IDLE) */
    /* Group commit of accepted messages (deliver.c). */
    pthread_mutex_t batch_mu;
    pthread_cond_t batch_cv;
    struct mss_job *batch_head, **batch_tail;
    int batch_leader;
    /* SQLite: message bodies in segment files (segment.c); NULL on PostgreSQL. */
    struct mss_segments *segments;
};

/* ---- mailboxes (store.c) ---------------------------------------------------------------------- */

typedef enum { MSS_PER = 1, MSS_ORG, MSS_APP, MSS_CAB, MSS_CIT } mss_kind;

typedef struct mss_mailbox {
    char address[MSS_ADDRESS_MAX]; /* lower case */
    mss_kind kind;
    char owner[64];                /* IDNPS (PER), FINESS / IDNST of the structure (ORG APP CAB), INS (CIT) */
    char display[128];
    char password_hash[128];       /* "" when none */
    int active;
} mss_mailbox;

extern const store_migration mss_migrations[];
extern const size_t mss_migrations_count;

const char *mss_kind_name(mss_kind k);
mss_kind mss_kind_parse(const char *s);
/* mss_mailbox_get - the mailbox of `address` (any case). SOCLE_ENOTFOUND when none. */
int mss_mailbox_get(store_conn *c, const char *address, mss_mailbox *out, socle_err *err);
/* mss_folder_id - the id of folder `name` of mailbox `address`; created (with a UIDVALIDITY)
 * when create is set. SOCLE_ENOTFOUND otherwise. */
int mss_folder_id(store_conn *c, const char *address, const char *name, int create, int64_t *id, socle_err *err);
/* Where a body lives in the segment files (segment.c). */
typedef struct mss_body_ref {
    int64_t file, offset, length;
} mss_body_ref;
/* mss_body_store - store a message's bytes once; *body gets its id, for mss_message_append.
 * With ref (bytes already in a segment file, mss_segment_append) the row only points there. */
int mss_body_store(store_conn *c, const char *msg, size_t len, const mss_body_ref *ref, int64_t *body, socle_err *err);
/* mss_message_append - put the stored body (len bytes) in folder (inside the caller's
 * transaction): next UID, flags (space-separated, may be ""). *uid (may be NULL) gets it. */
int mss_message_append(store_conn *c, int64_t folder, int64_t body, size_t len, const char *flags, int64_t internal_ms,
                       int64_t *uid, socle_err *err);
/* mss_message_body - the bytes of message uid of folder (copied into a, NUL-terminated) and its
 * body id (0 for a message stored before bodies were shared; may be NULL). SOCLE_ENOTFOUND. */
int mss_message_body(mss_service *svc, store_conn *c, int64_t folder, int64_t uid, arena *a, const char **msg,
                     size_t *len, int64_t *body, socle_err *err);
/* mss_queue_body - the bytes of relay queue entry id (copied into a, NUL-terminated) and its body
 * id (0 for an entry that holds its own copy). SOCLE_ENOTFOUND. */
int mss_queue_body(mss_service *svc, store_conn *c, int64_t id, arena *a, const char **msg, size_t *len,
                   int64_t *body, socle_err *err);
/* mss_body_release - delete a stored body (and free its range of a segment file) unless a folder
 * or the relay queue still holds it. Inside the caller's transaction. */
int mss_body_release(store_conn *c, int64_t body, socle_err *err);
/* mss_body_hold - lock a stored body until the transaction ends (PostgreSQL: FOR UPDATE; SQLite's
 * writers are serialized anyway). 1 when it exists, 0 when it is gone, or an error. */
int mss_body_hold(store_conn *c, int64_t body, socle_err *err);
/* mss_messages_delete - delete the messages of folder (only those flagged \Deleted when
 * only_deleted; only UID only_uid unless 0) and the bodies nothing holds any more
 * (mss_body_release). Inside the caller's transaction. */
int mss_messages_delete(store_conn *c, int64_t folder, int only_deleted, int64_t only_uid, socle_err *err);
/* ---- message bodies in segment files (segment.c) ---------------------------------------------- */

typedef struct mss_segments mss_segments;
/* mss_segments_open - the segment files of directory dir (created 0700 when missing). */
int mss_segments_open(const char *dir, mss_segments **out, socle_err *err);
void mss_segments_close(mss_segments *g);
/* mss_segment_append - append len bytes and sync them (fdatasync); *ref says where they are. */
int mss_segment_append(mss_segments *g, const char *data, size_t len, mss_body_ref *ref, socle_err *err);
/* mss_segments_hold - from before the SELECT of a body's row to after mss_segment_read: its range
 * cannot be freed meanwhile (see segment.c). mss_segments_release ends it. No-op when g is NULL. */
void mss_segments_hold(mss_segments *g);
void mss_segments_release(mss_segments *g);
/* mss_segment_read - the ref->length bytes at ref into out. */
int mss_segment_read(mss_segments *g, const mss_body_ref *ref, char *out, socle_err *err);
/* mss_segments_reclaim - free the space of the bodies listed in mss_body_free (deleted since), then
 * clear the list. No-op when g is NULL. */
void mss_segments_reclaim(mss_segments *g, store *s);

/* mss_lower - lower-case s in place (ASCII); returns s. */
char *mss_lower(char *s);
/* mss_domain_kind - 1 for the operator's domain (or a subdomain), 2 for its citizen domain, 0 for
 * another operator's (domain in lower case). */
int mss_domain_kind(const mss_service *svc, const char *domain);
/* mss_date - now as an RFC 5322 date ("Mon, 23 Nov 2026 10:15:00 +0000") into out. */
void mss_date(char *out, size_t n);
/* mss_split_address - local part and domain of "local@domain" (lower case); -1 when malformed. */
int mss_split_address(const char *address, char *local, size_t nl, char *domain, size_t nd);
/* mss_may_use - may subject `who` use mailbox m (read it, send as it)? Asks the policy engine
 * (rule "mss-mailbox") and audits a refusal. */
int mss_may_use(mss_service *svc, const auth_subject *who, const mss_mailbox *m, const char *address_of_caller,
                const char *action);
/* mss_login_lapsed - why a session's login no longer holds, or NULL while it does: the token
 * expired, or (with ask_store) the mailbox is gone, closed or no longer the subject's (mss_may_use
 * asked again; *m is refreshed). A store failure is not a lapse: the next command says so itself. */
const char *mss_login_lapsed(mss_service *svc, const auth_subject *who, mss_mailbox *m, const char *remote,
                             int ask_store);
/* mss_audit - one audit event about a mailbox (never the content). */
void mss_audit(mss_service *svc, const auth_subject *who, const char *action, const char *outcome,
               const char *mailbox, const char *remote, const char *detail);
/* mss_add_policy_rule - add "mss-mailbox" to the policy engine. */
int mss_add_policy_rule(mss_service *svc, socle_err *err);

/* ---- the trust space (trust.c) ---------------------------------------------------------------- */

int mss_trust_open(const char *path, mss_trust **out, socle_err *err);
void mss_trust_free(mss_trust *t);
/* mss_trust_has - 1 when `domain` (any case) is on the allow-list. Rereads the file when it
 * changed (checked at most once a second). Thread-safe. */
int mss_trust_has(mss_trust *t, const char *domain);

/* ---- delivery (deliver.c) --------------------------------------------------------------------- */

/* Who is sending: the authenticated user (submission) or a peer operator (relay). */
typedef struct mss_sender {
    int submission;                 /* 1: our own user; 0: another operator */
    auth_subject who;               /* submission: the user */
    mss_mailbox mailbox;            /* submission: the mailbox sending (MAIL FROM) */
    char peer[MSS_ADDRESS_MAX];     /* relay: the operator's domain (its certificate) */
    char from[MSS_ADDRESS_MAX];     /* the reverse path of the current transaction ("" for <>) */
    char helo[256];
    char remote[64];
} mss_sender;

/* One envelope, as SMTP gathered it. */
typedef struct mss_envelope {
    char from[MSS_ADDRESS_MAX];     /* "" for the null reverse path (DSN, MDN) */
    char envid[101];                /* DSN ENVID, "" when none */
    char ret[8];                    /* DSN RET=FULL|HDRS, "" when none */
    char rcpt[MSS_MAX_RECIPIENTS][MSS_ADDRESS_MAX];
    char notify[MSS_MAX_RECIPIENTS][32]; /* DSN NOTIFY= of each recipient, "" when none */
    char orcpt[MSS_MAX_RECIPIENTS][MSS_ORCPT_MAX]; /* DSN ORCPT= (addr-type;xtext) of each, "" when none */
    int nrcpt;
} mss_envelope;

/* mss_postmaster - RFC 5321 §4.5.1: the mailbox a RCPT for postmaster reaches, in place in rcpt
 * (lower case, size n): <postmaster> without a domain is postmaster@<mss_domain>, and that address
 * goes to mss_postmaster when it is not a mailbox itself. Other addresses are left alone. */
void mss_postmaster(mss_service *svc, store_conn *c, char *rcpt, size_t n);
/* mss_check_recipient - may this sender write to rcpt? 0, or an SMTP reply ("550 5.1.1 ...")
 * in reply (size n) and a negative code. Checks the domain (ours, citizen, or the trust space),
 * the mailbox, and the citizen rule. */
int mss_check_recipient(mss_service *svc, store_conn *c, const mss_sender *s, const char *rcpt, char *reply,
                        size_t n);
/* mss_deliver - check the message (MIME, XDM, the citizen rules that need the content) and store
 * it durably for every recipient: local mailboxes' INBOX, the relay queue for other operators,
 * the sender's Sent folder for a submission. 0 when committed; otherwise an SMTP reply in reply
 * and nothing stored. */
int mss_deliver(mss_service *svc, const mss_sender *s, const mss_envelope *env, const char *msg, size_t len,
                char *reply, size_t n);
/* One accepted message waiting for its commit. */
typedef struct mss_job {
    const struct mss_sender *s;
    const struct mss_envelope *env;
    const char *msg;
    size_t len;
    int attachments, fin, citizen_sender;
    const char *couloir;
    const mss_body_ref *ref; /* the body already in a segment file, or NULL: into the table */
    int rc, done;
    socle_err err;
    pthread_cond_t cv; /* this job's waiter (mss_group_commit) */
    struct mss_job *next;
} mss_job;
/* mss_group_commit - write the message of job durably, together with the messages other sessions
 * are delivering at the same moment (one transaction, one fsync for all; the first to arrive
 * leads, the others wait). Returns when job->rc says how it went. */
void mss_group_commit(mss_service *svc, mss_job *job);
/* mss_deliver_local - store a message the operator itself produced (DSN, MDN) into a local
 * mailbox's INBOX (or queue it when the address is elsewhere). */
int mss_deliver_generated(mss_service *svc, const char *to, const char *msg, size_t len, socle_err *err);
/* mss_is_zip - does this leaf MIME part carry a ZIP (an XDM package): its type, or a .zip name? */
struct mime_part;
int mss_is_zip(const struct mime_part *p);
/* mss_bare_line_end - the offset of the first CR not followed by LF or LF not preceded by CR in
 * msg[0..len), or -1 when every line ends with CRLF (what may go out over SMTP: RFC 5321 section
 * 2.3.8; a bare CR or LF is how SMTP smuggling hides a second message in a first). */
long mss_bare_line_end(const char *msg, size_t len);
/* What all the IHE XDM packages of one message may inflate to together (each package has its
 * own limits too, xdm.h): a message of many small ZIPs never costs more than this. */
#define MSS_XDM_MESSAGE_BYTES ((size_t)100 * 1024 * 1024)
/* mss_xdm_fn - called with each package mss_xdm_walk read; pkg lives only during the call.
 * Non-zero stops the walk. */
struct xdm_package;
typedef int (*mss_xdm_fn)(void *ctx, const struct xdm_package *pkg);
/* mss_xdm_walk - read and check the XDM packages (ZIP parts) of the message under p, one at a
 * time, each in an arena freed once fn has seen it, while the bytes they inflate to stay within
 * budget in all. strict (a message being accepted): a part that is not a sound package refuses
 * the message; otherwise (stored mail being read) it is skipped, counted as if it had used a
 * whole package's limit. 0, or -1 with an SMTP reply in reply (size n): "554 5.6.0 ..." (a bad
 * package, over budget) or "452 4.3.1 ..." (out of memory). */
int mss_xdm_walk(const char *msg, const struct mime_part *p, int strict, size_t budget, mss_xdm_fn fn, void *ctx,
                 char *reply, size_t n);
/* mss_generated_write - mss_deliver_generated's writes inside the caller's transaction; *ours
 * says whether it went to a local mailbox (mss_changed) or to the relay queue (mss_notify). */
int mss_generated_write(mss_service *svc, store_conn *c, const char *to, const char *msg, size_t len, int *ours,
                        socle_err *err);
/* mss_notify - wake the relay worker (new entries in the queue). */
void mss_notify(mss_service *svc);
/* mss_changed / mss_change_count - a mailbox changed (new message, flags): IMAP sessions idling
 * on it (or on a mailbox sharing its slot) refresh their view. The count is compared, not read. */
void mss_changed(mss_service *svc, const char *address);
uint64_t mss_change_count(mss_service *svc, const char *address);

/* ---- relay (relay.c) -------------------------------------------------------------------------- */

int mss_relay_start(mss_service *svc, socle_err *err);
void mss_relay_stop(mss_service *svc);
/* ---- reports (report.c) ----------------------------------------------------------------------- */

/* mss_dsn - a DSN (RFC 3464) to `sender` about msg for `recipient` (orcpt: the ORCPT it came with,
 * "addr-type;xtext", or "" / NULL): action "failed" (status "5.x.y" or "4.x.y", the remote server's
 * reply as diagnostic, may be NULL), "delivered" (status "2.0.0", asked with NOTIFY=SUCCESS) or
 * "relayed" (to an operator that sends no DSN itself); the original's header is attached
 * (text/rfc822-headers). */
void mss_dsn(mss_service *svc, const char *sender, const char *recipient, const char *orcpt, const char *action,
             const char *status, const char *diagnostic, const char *msg, size_t len, const char *envid,
             socle_buf *out);
/* mss_mdn - an MDN (RFC 8098) from `recipient` to `sender`: automatic-action/MDN-sent-automatically;
 * processed, about the message whose Message-ID is given (may be ""). */
void mss_mdn(mss_service *svc, const char *recipient, const char *sender, const char *message_id, socle_buf *out);

/* ---- sessions (smtp.c, imap.c) ---------------------------------------------------------------- */

void mss_smtp_session(lines_conn *c, void *ctx);         /* ctx: mss_service (relay role) */
void mss_submission_session(lines_conn *c, void *ctx);   /* ctx: mss_service (submission role) */
void mss_imap_session(lines_conn *c, void *ctx);         /* ctx: mss_service */

/* mss_authenticate_token - a bearer token (OAUTHBEARER/XOAUTH2) for mailbox `user`: 0 and *who
 * filled when valid and the subject may use the mailbox (m filled). */
int mss_authenticate_token(mss_service *svc, const char *user, const char *token, const char *remote,
                           auth_subject *who, mss_mailbox *m, socle_err *err);
/* mss_authenticate_password - PLAIN/LOGIN (only when mss_allow_password and over TLS). */
int mss_authenticate_password(mss_service *svc, const char *user, const char *password, const char *remote,
                              auth_subject *who, mss_mailbox *m, socle_err *err);
/* mss_authenticate_certificate - a client certificate of the test PKI for mailbox `user` (or,
 * user NULL, the mailbox the certificate names when there is exactly one). */
int mss_authenticate_certificate(mss_service *svc, lines_conn *conn, const char *user, auth_subject *who,
                                 mss_mailbox *m, socle_err *err);
/* mss_sasl_oauth - parse a decoded OAUTHBEARER (RFC 7628) or XOAUTH2 client response into user
 * and token (pointers into buf, which is modified). -1 when malformed. */
int mss_sasl_oauth(char *buf, size_t len, int xoauth2, const char **user, const char **token);

#endif
