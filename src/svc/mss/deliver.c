/* deliver.c - who may write to whom (own domains, trust space, citizen rule) and the durable
 * delivery of an accepted message: local INBOXes, the relay queue, the sender's Sent folder, the
 * citizen threads, the counters and the audit trail, all in one transaction. */
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "svc/mss/mime.h"
#include "svc/mss/mss_internal.h"
#include "svc/mss/xdm.h"

int mss_domain_kind(const mss_service *svc, const char *d)
{
    if (!strcmp(d, svc->citizen_domain)) return 2;
    size_t dl = strlen(d), ml = strlen(svc->domain);
    if (ml && (!strcmp(d, svc->domain) || (dl > ml + 1 && d[dl - ml - 1] == '.' && !strcmp(d + dl - ml, svc->domain))))
        return 1;
    return 0;
}

/* mss_citizen_address - is this a citizen mailbox (ours, or the "patient." domain of another operator)? */
static int mss_citizen_address(const mss_service *svc, const char *address)
{
    const char *at = strrchr(address, '@');
    return at && (!strcmp(at + 1, svc->citizen_domain) || !strncmp(at + 1, "patient.", 8));
}

static int mss_sender_is_citizen(const mss_service *svc, const mss_sender *s)
{
    if (s->submission) return s->mailbox.kind == MSS_CIT;
    return s->from[0] && mss_citizen_address(svc, s->from);
}

#define REPLY(...) (snprintf(reply, n, __VA_ARGS__), -1)

void mss_postmaster(mss_service *svc, store_conn *c, char *rcpt, size_t n)
{
    if (!strcmp(rcpt, "postmaster")) snprintf(rcpt, n, "postmaster@%s", svc->domain);
    const char *at = strrchr(rcpt, '@');
    if (!at || (size_t)(at - rcpt) != 10 || strncmp(rcpt, "postmaster", 10) || mss_domain_kind(svc, at + 1) != 1 ||
        !svc->postmaster[0])
        return;
    mss_mailbox m;
    socle_err err;
    if (mss_mailbox_get(c, rcpt, &m, &err) == SOCLE_ENOTFOUND) snprintf(rcpt, n, "%s", svc->postmaster);
}

int mss_check_recipient(mss_service *svc, store_conn *c, const mss_sender *s, const char *rcpt, char *reply, size_t n)
{
    char local[80], domain[260];
    if (mss_split_address(rcpt, local, sizeof local, domain, sizeof domain))
        return REPLY("501 5.1.3 bad recipient address syntax");
    int kind = mss_domain_kind(svc, domain);
    int citizen_sender = mss_sender_is_citizen(svc, s);
    socle_err err;
    if (!kind) {
        if (!s->submission) {
            mss_audit(svc, NULL, "relay", "denied", NULL, s->remote, "recipient domain is not ours");
            return REPLY("550 5.7.1 relaying denied: %s is not a domain of this operator", domain);
        }
        if (!mss_trust_has(svc->trust, domain)) {
            mss_audit(svc, &s->who, "send", "denied", s->mailbox.address, s->remote,
                      "recipient domain outside the trust space");
            return REPLY("550 5.7.1 %s is not in the MSSanté trust space", domain);
        }
    } else {
        mss_mailbox m;
        int rc = mss_mailbox_get(c, rcpt, &m, &err);
        if (rc == SOCLE_ENOTFOUND) return REPLY("550 5.1.1 no such mailbox here");
        if (rc) return REPLY("451 4.3.0 temporary failure, try again");
        if (!m.active) return REPLY("550 5.2.1 this mailbox is closed");
    }
    if (citizen_sender) {
        if (mss_citizen_address(svc, rcpt)) return REPLY("550 5.7.1 a citizen mailbox writes only to professionals");
        /* The citizen rule: only an answer to a professional who wrote first and did not end it. */
        store_value p[] = {STORE_V_TEXT(s->from), STORE_V_TEXT(rcpt)};
        int64_t open = 0;
        int rc = store_query_int(c, "SELECT is_open FROM mss_thread WHERE patient = $1 AND professional = $2", p, 2,
                                 &open, &err);
        if (rc && rc != SOCLE_ENOTFOUND) return REPLY("451 4.3.0 temporary failure, try again");
        if (!open) {
            mss_audit(svc, s->submission ? &s->who : NULL, "send", "denied", s->from, s->remote,
                      "citizen writing to a professional who did not write first");
            return REPLY("550 5.7.1 a patient may only answer a professional who wrote to them first");
        }
    }
    return 0;
}

int mss_is_zip(const mime_part *p)
{
    if (!strcmp(p->type, "application") &&
        (!strcmp(p->subtype, "zip") || !strcmp(p->subtype, "x-zip-compressed") || !strcmp(p->subtype, "x-zip")))
        return 1;
    const mime_param *lists[2] = {p->params, p->disposition_params};
    int counts[2] = {p->nparams, p->ndisposition_params};
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < counts[l]; i++) {
            const mime_param *q = &lists[l][i];
            size_t vl = q->value ? strlen(q->value) : 0;
            if ((!strcmp(q->name, "name") || !strcmp(q->name, "filename")) && vl > 4 &&
                !strcasecmp(q->value + vl - 4, ".zip"))
                return 1;
        }
    return 0;
}

long mss_bare_line_end(const char *msg, size_t len)
{
    long first = -1;
    const char *end = msg + len;
    for (const char *p = msg; (p = memchr(p, '\n', (size_t)(end - p))); p++) /* every LF after a CR */
        if (p == msg || p[-1] != '\r') {
            first = (long)(p - msg);
            break;
        }
    for (const char *p = msg; (p = memchr(p, '\r', (size_t)(end - p))); p++) /* every CR before an LF */
        if (p + 1 == end || p[1] != '\n') {
            if (first < 0 || (long)(p - msg) < first) first = (long)(p - msg);
            break;
        }
    return first;
}

typedef struct mss_content {
    int attachments;
    int xdm_packages;
    int invisible_patient; /* an XDM document marked INVISIBLE_PATIENT */
    char refusal[300];
} mss_content;

/* mss_attachments - the attachments under p (an attachment disposition, or a ZIP). */
static int mss_attachments(const mime_part *p)
{
    int n = 0;
    for (int i = 0; i < p->nchildren; i++) n += mss_attachments(&p->children[i]);
    if (p->message) n += mss_attachments(p->message);
    if (!p->nchildren && !p->message && ((p->disposition && !strcmp(p->disposition, "attachment")) || mss_is_zip(p)))
        n++;
    return n;
}

/* mss_check_package - what delivery needs of a package: the count, INVISIBLE_PATIENT documents. */
static int mss_check_package(void *ctx, const xdm_package *pkg)
{
    mss_content *out = ctx;
    out->xdm_packages++;
    for (int i = 0; i < pkg->ndocuments; i++)
        if (pkg->documents[i].confidentiality.code &&
            !strcmp(pkg->documents[i].confidentiality.code, "INVISIBLE_PATIENT"))
            out->invisible_patient = 1;
    return 0;
}

/* The state of one mss_xdm_walk. */
typedef struct mss_xdm_state {
    const char *msg;
    int strict;
    size_t budget, spent;
    mss_xdm_fn fn;
    void *ctx;
    char *reply;
    size_t n;
    int over; /* stopped: a refusal in reply, or fn asked */
} mss_xdm_state;

#define XDM_REFUSE(st, ...) (snprintf((st)->reply, (st)->n, __VA_ARGS__), (st)->over = -1)

/* mss_xdm_part - read one ZIP part in an arena of its own, hand it to fn, free it. */
static void mss_xdm_part(mss_xdm_state *st, const mime_part *p)
{
    socle_buf zip;
    buf_init(&zip);
    socle_err err;
    xdm_package *pkg;
    arena *a = NULL;
    int rc = mime_decode(st->msg, p, &zip, &err);
    if (rc) {
        if (st->strict) XDM_REFUSE(st, "554 5.6.0 attachment cannot be decoded: %s", err.msg);
    } else if (!buf_ok(&zip) || !(a = arena_new(1 << 16))) {
        XDM_REFUSE(st, "452 4.3.1 insufficient system storage");
    } else if ((rc = xdm_read(zip.data, zip.len, NULL, a, &pkg, &err))) {
        if (rc == SOCLE_ENOMEM) XDM_REFUSE(st, "452 4.3.1 insufficient system storage");
        else if (st->strict) XDM_REFUSE(st, "554 5.6.0 IHE XDM attachment refused: %s", err.msg);
        else st->spent += XDM_DEFAULT_TOTAL_BYTES; /* it may have inflated that much before failing */
    } else {
        st->spent += pkg->unpacked;
        if (st->spent <= st->budget && st->fn(st->ctx, pkg)) st->over = 1;
    }
    if (!st->over && st->spent > st->budget)
        XDM_REFUSE(st, "554 5.6.0 IHE XDM attachments refused: the message's packages inflate to more than %zu bytes in all",
                   st->budget);
    arena_free(a);
    buf_free(&zip);
}

/* mss_xdm_tree - every ZIP leaf under p, in order (depth bounded by mime_parse). */
static void mss_xdm_tree(mss_xdm_state *st, const mime_part *p)
{
    for (int i = 0; !st->over && i < p->nchildren; i++) mss_xdm_tree(st, &p->children[i]);
    if (!st->over && p->message) mss_xdm_tree(st, p->message);
    if (!st->over && !p->nchildren && !p->message && mss_is_zip(p)) mss_xdm_part(st, p);
}

int mss_xdm_walk(const char *msg, const mime_part *p, int strict, size_t budget, mss_xdm_fn fn, void *ctx, char *reply,
                 size_t n)
{
    mss_xdm_state st = {.msg = msg, .strict = strict, .budget = budget, .fn = fn, .ctx = ctx, .reply = reply, .n = n};
    mss_xdm_tree(&st, p);
    return st.over < 0 ? -1 : 0;
}

/* mss_count - add to the steering counters (day, structure, couloir, direction). */
static int mss_count(store_conn *c, const char *structure, const char *couloir, const char *direction, int attachments,
                     socle_err *err)
{
    char day[32];
    time_format_instant(time_now_ms(), day);
    day[10] = 0;
    store_value p[] = {STORE_V_TEXT(day), STORE_V_TEXT(structure), STORE_V_TEXT(couloir), STORE_V_TEXT(direction),
                       STORE_V_INT(attachments)};
    return store_exec(c,
                      "INSERT INTO mss_count (day, structure, couloir, direction, messages, attachments)"
                      " VALUES ($1, $2, $3, $4, 1, $5) ON CONFLICT (day, structure, couloir, direction) DO UPDATE"
                      " SET messages = mss_count.messages + 1, attachments = mss_count.attachments + excluded.attachments",
                      p, 5, NULL, err);
}

/* mss_store_local - append to the INBOX of a local mailbox and trace it. */
static int mss_store_local(mss_service *svc, store_conn *c, const char *address, int64_t body, size_t len,
                           const mss_sender *s, int attachments, const char *couloir, socle_err *err)
{
    mss_mailbox m;
    int64_t folder;
    int rc = mss_mailbox_get(c, address, &m, err);
    if (!rc) rc = mss_folder_id(c, m.address, "INBOX", 1, &folder, err);
    if (!rc) rc = mss_message_append(c, folder, body, len, "", time_now_ms(), NULL, err);
    if (!rc) rc = mss_count(c, m.kind == MSS_PER || m.kind == MSS_CIT ? "" : m.owner, couloir, "received", attachments, err);
    if (!rc) {
        audit_event e = {.action = "deliver",
                         .outcome = "success",
                         .agent_kind = s && s->submission ? auth_kind_name(s->who.kind) : "system",
                         .agent_id = s ? (s->submission ? s->who.sub : s->peer) : svc->domain,
                         .resource_type = "MSSMailbox",
                         .resource_id = m.address,
                         .address = s ? s->remote : NULL};
        rc = audit_append_tx(svc->app->audit, c, &e, err);
    }
    return rc;
}

/* mss_queue - queue the stored body for a recipient of another operator (every remote recipient
 * of a message points at the same body). */
static int mss_queue(store_conn *c, const char *sender, const char *rcpt, const mss_envelope *env, int i, int64_t body,
                     socle_err *err)
{
    const char *domain = strrchr(rcpt, '@') + 1;
    int64_t now = time_now_ms();
    /* The DSN parameters travel with the copy, for the next operator (RFC 3461 section 4). */
    const char *envid = env ? env->envid : "", *notify = env ? env->notify[i] : "NEVER";
    const char *orcpt = env ? env->orcpt[i] : "", *ret = env ? env->ret : "";
    store_value p[] = {STORE_V_TEXT(sender), STORE_V_TEXT(rcpt),   STORE_V_TEXT(domain), STORE_V_TEXT(envid),
                       STORE_V_TEXT(notify), STORE_V_BLOB("", 0),  STORE_V_INT(now),     STORE_V_INT(now),
                       STORE_V_TEXT(orcpt),  STORE_V_TEXT(ret),    STORE_V_INT(body)};
    return store_exec(c,
                      "INSERT INTO mss_queue (sender, recipient, domain, envid, notify, message, next_ms, created_ms,"
                      " orcpt, ret, body_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                      p, 11, NULL, err);
}

/* mss_job_write - every write of one accepted message, inside the caller's transaction. */
static int mss_job_write(mss_service *svc, store_conn *c, const mss_job *j, socle_err *err)
{
    const mss_sender *s = j->s;
    const mss_envelope *env = j->env;
    int64_t body = 0;
    /* Stored once, whatever holds it: the local INBOXes, the relay queue, the sender's Sent. */
    int rc = mss_body_store(c, j->msg, j->len, j->ref, &body, err);
    for (int i = 0; !rc && i < env->nrcpt; i++) {
        const char *rcpt = env->rcpt[i];
        if (mss_domain_kind(svc, strrchr(rcpt, '@') + 1))
            rc = mss_store_local(svc, c, rcpt, body, j->len, s, j->attachments, j->couloir, err);
        else rc = mss_queue(c, env->from, rcpt, env, i, body, err);
        if (!rc && !j->citizen_sender && env->from[0] && mss_citizen_address(svc, rcpt)) {
            store_value p[] = {STORE_V_TEXT(rcpt), STORE_V_TEXT(env->from), STORE_V_INT(!j->fin),
                               STORE_V_INT(time_now_ms())};
            rc = store_exec(c,
                            "INSERT INTO mss_thread (patient, professional, is_open, updated_ms) VALUES ($1, $2, $3, $4)"
                            " ON CONFLICT (patient, professional) DO UPDATE SET is_open = excluded.is_open,"
                            " updated_ms = excluded.updated_ms",
                            p, 4, NULL, err);
        }
    }
    if (!rc && s->submission) {
        int64_t sent;
        const char *structure = s->who.structure[0]                                        ? s->who.structure
                                : s->mailbox.kind != MSS_PER && s->mailbox.kind != MSS_CIT ? s->mailbox.owner
                                                                                           : "";
        rc = mss_folder_id(c, s->mailbox.address, "Sent", 1, &sent, err);
        if (!rc) rc = mss_message_append(c, sent, body, j->len, "\\Seen", time_now_ms(), NULL, err);
        if (!rc) rc = mss_count(c, structure, j->couloir, "sent", j->attachments, err);
    }
    return rc;
}

/* mss_batch_run - commit a batch of messages in one transaction (one fsync for all). When a write
 * fails, nothing of the batch is kept and each message is written again in its own transaction,
 * so one bad message never costs the others. Sets every job's rc. */
static void mss_batch_run(mss_service *svc, mss_job *batch)
{
    store_conn *c;
    socle_err err;
    int rc = store_acquire(svc->app->store, &c, &err);
    if (rc) {
        for (mss_job *j = batch; j; j = j->next) j->rc = rc, j->err = err;
        return;
    }
    rc = store_tx_begin(c, &err);
    for (mss_job *j = batch; !rc && j; j = j->next) rc = mss_job_write(svc, c, j, &err);
    if (!rc) rc = store_tx_commit(c, &err);
    store_tx_rollback(c);
    if (!rc || !batch->next) {
        for (mss_job *j = batch; j; j = j->next) j->rc = rc, j->err = err;
    } else {
        for (mss_job *j = batch; j; j = j->next) {
            j->rc = store_tx_begin(c, &j->err);
            if (!j->rc) j->rc = mss_job_write(svc, c, j, &j->err);
            if (!j->rc) j->rc = store_tx_commit(c, &j->err);
            store_tx_rollback(c);
        }
    }
    store_release(svc->app->store, c);
}

void mss_group_commit(mss_service *svc, mss_job *job)
{
    /* Each waiter sleeps on its own condition variable: the leader wakes exactly the sessions whose
     * messages it committed, and the first of those still queued to lead next (no herd). */
    pthread_cond_init(&job->cv, NULL);
    pthread_mutex_lock(&svc->batch_mu);
    job->next = NULL;
    *svc->batch_tail = job;
    svc->batch_tail = &job->next;
    while (!job->done) {
        if (svc->batch_leader || svc->batch_head != job) {
            pthread_cond_wait(&job->cv, &svc->batch_mu);
            continue;
        }
        /* Lead: take what waits (at most MSS_BATCH_MAX), write it, wake those sessions. */
        svc->batch_leader = 1;
        mss_job *batch = svc->batch_head, **cut = &svc->batch_head;
        for (int n = 0; *cut && n < MSS_BATCH_MAX; n++) cut = &(*cut)->next;
        svc->batch_head = *cut;
        *cut = NULL;
        if (!svc->batch_head) svc->batch_tail = &svc->batch_head;
        pthread_mutex_unlock(&svc->batch_mu);
        mss_batch_run(svc, batch);
        pthread_mutex_lock(&svc->batch_mu);
        for (mss_job *j = batch, *next; j; j = next) {
            next = j->next; /* j may return (and its stack go) once done is set and it runs */
            j->done = 1;
            if (j != job) pthread_cond_signal(&j->cv);
        }
        svc->batch_leader = 0;
        if (svc->batch_head) pthread_cond_signal(&svc->batch_head->cv);
    }
    pthread_mutex_unlock(&svc->batch_mu);
    pthread_cond_destroy(&job->cv);
}

int mss_deliver(mss_service *svc, const mss_sender *s, const mss_envelope *env, const char *msg, size_t len, char *reply,
                size_t n)
{
    arena *a = arena_new(1 << 16);
    if (!a) return REPLY("452 4.3.1 insufficient system storage");
    socle_err err;
    mime_part *root;
    mss_content content = {0};
    int rc = mime_parse(msg, len, NULL, a, &root, &err);
    if (rc) {
        arena_free(a);
        return REPLY("554 5.6.0 malformed message: %s", err.msg);
    }
    if (!mime_header(msg, root, "From", a)) {
        arena_free(a);
        return REPLY("554 5.6.0 malformed message: no From header");
    }
    const char *mes = mime_header(msg, root, "X-MSS-MES", a);
    int fin = mes && !strcasecmp(mes, "FIN");
    int wants_mdn = mime_header(msg, root, "Disposition-Notification-To", a) != NULL;
    const char *message_id = mime_header(msg, root, "Message-ID", a);
    char message_id_copy[256];
    snprintf(message_id_copy, sizeof message_id_copy, "%s", message_id ? message_id : "");
    content.attachments = mss_attachments(root);
    int refused = mss_xdm_walk(msg, root, 1, MSS_XDM_MESSAGE_BYTES, mss_check_package, &content, content.refusal,
                               sizeof content.refusal);
    arena_free(a);
    if (refused) return REPLY("%s", content.refusal);
    int citizen_sender = mss_sender_is_citizen(svc, s), to_citizen = 0;
    for (int i = 0; i < env->nrcpt; i++) to_citizen |= mss_citizen_address(svc, env->rcpt[i]);
    if (content.invisible_patient && to_citizen) {
        mss_audit(svc, s->submission ? &s->who : NULL, "send", "denied", s->from, s->remote,
                  "document marked INVISIBLE_PATIENT sent to a citizen mailbox");
        return REPLY("550 5.7.1 a document marked INVISIBLE_PATIENT may not be sent to the patient's mailbox");
    }
    const char *couloir = citizen_sender || to_citizen ? "patient" : "professional";
    int local_count = 0;
    for (int i = 0; i < env->nrcpt; i++) local_count += mss_domain_kind(svc, strrchr(env->rcpt[i], '@') + 1) != 0;
    mss_job job = {.s = s, .env = env, .msg = msg, .len = len, .attachments = content.attachments, .fin = fin,
                   .citizen_sender = citizen_sender, .couloir = couloir};
    /* On SQLite the bytes go to a segment file first, synced by this session, in parallel with the
     * others; the group commit then only writes the rows that point there. */
    mss_body_ref ref;
    if (svc->segments && len > 0) {
        if (mss_segment_append(svc->segments, msg, len, &ref, &err)) {
            log_msg(LOG_ERROR, "mss: delivery failed: %s", err.msg);
            return REPLY("451 4.3.0 temporary failure, try again");
        }
        job.ref = &ref;
    }
    mss_group_commit(svc, &job);
    if (job.rc) {
        log_msg(LOG_ERROR, "mss: delivery failed: %s", job.err.msg);
        return REPLY("451 4.3.0 temporary failure, try again");
    }
    if (local_count < env->nrcpt) mss_notify(svc);
    for (int i = 0; i < env->nrcpt; i++)
        if (mss_domain_kind(svc, strrchr(env->rcpt[i], '@') + 1)) mss_changed(svc, env->rcpt[i]);
    if (s->submission) mss_changed(svc, s->mailbox.address);
    /* RFC 8098: the recipients' side says it processed the message, when the sender asked. */
    for (int i = 0; wants_mdn && env->from[0] && i < env->nrcpt; i++) {
        if (!mss_domain_kind(svc, strrchr(env->rcpt[i], '@') + 1)) continue;
        socle_buf mdn;
        buf_init(&mdn);
        mss_mdn(svc, env->rcpt[i], env->from, message_id_copy, &mdn);
        if (buf_ok(&mdn) && mss_deliver_generated(svc, env->from, mdn.data, mdn.len, &err))
            log_msg(LOG_WARN, "mss: MDN not delivered: %s", err.msg);
        buf_free(&mdn);
    }
    /* RFC 3461: a success DSN for the local recipients whose NOTIFY asked for one. */
    for (int i = 0; env->from[0] && i < env->nrcpt; i++) {
        if (!strcasestr(env->notify[i], "SUCCESS") || !mss_domain_kind(svc, strrchr(env->rcpt[i], '@') + 1)) continue;
        socle_buf dsn;
        buf_init(&dsn);
        mss_dsn(svc, env->from, env->rcpt[i], env->orcpt[i], "delivered", "2.0.0", NULL, msg, len, env->envid, &dsn);
        if (buf_ok(&dsn) && mss_deliver_generated(svc, env->from, dsn.data, dsn.len, &err))
            log_msg(LOG_WARN, "mss: DSN not delivered: %s", err.msg);
        buf_free(&dsn);
    }
    return 0;
}

int mss_generated_write(mss_service *svc, store_conn *c, const char *to, const char *msg, size_t len, int *ours,
                        socle_err *err)
{
    char local[80], domain[260];
    if (mss_split_address(to, local, sizeof local, domain, sizeof domain))
        return socle_err_set(err, SOCLE_EINVAL, "bad address");
    *ours = mss_domain_kind(svc, domain) != 0;
    if (!*ours && !mss_trust_has(svc->trust, domain))
        return socle_err_set(err, SOCLE_EFORBIDDEN, "%s is not in the trust space", domain);
    int64_t body;
    int rc = mss_body_store(c, msg, len, NULL, &body, err);
    if (!rc) rc = *ours ? mss_store_local(svc, c, to, body, len, NULL, 0, "professional", err)
                        : mss_queue(c, "", to, NULL, 0, body, err);
    return rc;
}

int mss_deliver_generated(mss_service *svc, const char *to, const char *msg, size_t len, socle_err *err)
{
    store_conn *c;
    int rc = store_acquire(svc->app->store, &c, err), ours = 0;
    if (rc) return rc;
    rc = store_tx_begin(c, err);
    if (!rc) rc = mss_generated_write(svc, c, to, msg, len, &ours, err);
    if (!rc) rc = store_tx_commit(c, err);
    store_tx_rollback(c);
    store_release(svc->app->store, c);
    if (!rc && ours) mss_changed(svc, to);
    else if (!rc) mss_notify(svc);
    return rc;
}
