/* store.c - the MSSanté tables (mailboxes, folders, messages, relay queue, citizen threads,
 * counters), the mailbox lookups, the policy rule "mss-mailbox" and the audit events. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "base/timeutil.h"
#include "svc/mss/mss_internal.h"

/* Messages are stored whole (BLOB / bytea), once per recipient mailbox folder. */
const store_migration mss_migrations[] = {
    {1, "mss tables", NULL,
     "CREATE TABLE mss_mailbox (address TEXT PRIMARY KEY, kind TEXT NOT NULL, owner TEXT NOT NULL,"
     " display TEXT NOT NULL DEFAULT '', password_hash TEXT NOT NULL DEFAULT '', active INTEGER NOT NULL DEFAULT 1,"
     " created_ms INTEGER NOT NULL);"
     "CREATE INDEX mss_mailbox_owner ON mss_mailbox(owner);"
     "CREATE TABLE mss_folder (id INTEGER PRIMARY KEY AUTOINCREMENT, address TEXT NOT NULL, name TEXT NOT NULL,"
     " uidvalidity INTEGER NOT NULL, uidnext INTEGER NOT NULL, UNIQUE(address, name));"
     "CREATE TABLE mss_message (folder_id INTEGER NOT NULL, uid INTEGER NOT NULL, flags TEXT NOT NULL DEFAULT '',"
     " internal_ms INTEGER NOT NULL, size INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (folder_id, uid));"
     "CREATE TABLE mss_queue (id INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT NOT NULL, recipient TEXT NOT NULL,"
     " domain TEXT NOT NULL, envid TEXT NOT NULL DEFAULT '', notify TEXT NOT NULL DEFAULT '', message BLOB NOT NULL,"
     " attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
     " last_error TEXT NOT NULL DEFAULT '');"
     "CREATE INDEX mss_queue_next ON mss_queue(next_ms);"
     "CREATE TABLE mss_thread (patient TEXT NOT NULL, professional TEXT NOT NULL, is_open INTEGER NOT NULL,"
     " updated_ms INTEGER NOT NULL, PRIMARY KEY (patient, professional));"
     "CREATE TABLE mss_count (day TEXT NOT NULL, structure TEXT NOT NULL, couloir TEXT NOT NULL,"
     " direction TEXT NOT NULL, messages INTEGER NOT NULL, attachments INTEGER NOT NULL,"
     " PRIMARY KEY (day, structure, couloir, direction));",
     "CREATE TABLE mss_mailbox (address TEXT COLLATE \"C\" PRIMARY KEY, kind TEXT NOT NULL, owner TEXT COLLATE \"C\" NOT NULL,"
     " display TEXT NOT NULL DEFAULT '', password_hash TEXT NOT NULL DEFAULT '', active INTEGER NOT NULL DEFAULT 1,"
     " created_ms BIGINT NOT NULL);"
     "CREATE INDEX mss_mailbox_owner ON mss_mailbox(owner);"
     "CREATE TABLE mss_folder (id BIGSERIAL PRIMARY KEY, address TEXT COLLATE \"C\" NOT NULL, name TEXT COLLATE \"C\" NOT NULL,"
     " uidvalidity BIGINT NOT NULL, uidnext BIGINT NOT NULL, UNIQUE(address, name));"
     "CREATE TABLE mss_message (folder_id BIGINT NOT NULL, uid BIGINT NOT NULL, flags TEXT NOT NULL DEFAULT '',"
     " internal_ms BIGINT NOT NULL, size BIGINT NOT NULL, body BYTEA NOT NULL, PRIMARY KEY (folder_id, uid));"
     "CREATE TABLE mss_queue (id BIGSERIAL PRIMARY KEY, sender TEXT NOT NULL, recipient TEXT NOT NULL,"
     " domain TEXT NOT NULL, envid TEXT NOT NULL DEFAULT '', notify TEXT NOT NULL DEFAULT '', message BYTEA NOT NULL,"
     " attempts INTEGER NOT NULL DEFAULT 0, next_ms BIGINT NOT NULL, created_ms BIGINT NOT NULL,"
     " last_error TEXT NOT NULL DEFAULT '');"
     "CREATE INDEX mss_queue_next ON mss_queue(next_ms);"
     "CREATE TABLE mss_thread (patient TEXT COLLATE \"C\" NOT NULL, professional TEXT COLLATE \"C\" NOT NULL,"
     " is_open INTEGER NOT NULL, updated_ms BIGINT NOT NULL, PRIMARY KEY (patient, professional));"
     "CREATE TABLE mss_count (day TEXT NOT NULL, structure TEXT NOT NULL, couloir TEXT NOT NULL,"
     " direction TEXT NOT NULL, messages BIGINT NOT NULL, attachments BIGINT NOT NULL,"
     " PRIMARY KEY (day, structure, couloir, direction));"},
    /* A message's bytes are stored once, whatever the number of folders holding it (the recipients'
     * INBOXes, the sender's Sent, IMAP COPY): mss_message.body stays empty for new rows. */
    {2, "mss shared bodies", NULL,
     "CREATE TABLE mss_body (id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL);"
     "ALTER TABLE mss_message ADD COLUMN body_id INTEGER;"
     "CREATE INDEX mss_message_body ON mss_message(body_id);",
     "CREATE TABLE mss_body (id BIGSERIAL PRIMARY KEY, body BYTEA NOT NULL);"
     "ALTER TABLE mss_message ADD COLUMN body_id BIGINT;"
     "CREATE INDEX mss_message_body ON mss_message(body_id);"},
    /* The last UIDVALIDITY given: a folder deleted and created again gets a new one, even within
     * the same second (RFC 3501 §2.3.1.1). */
    {3, "mss uidvalidity sequence", NULL,
     "CREATE TABLE mss_sequence (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
     "INSERT INTO mss_sequence (name, value) SELECT 'uidvalidity', COALESCE(MAX(uidvalidity), 0) FROM mss_folder;",
     "CREATE TABLE mss_sequence (name TEXT PRIMARY KEY, value BIGINT NOT NULL);"
     "INSERT INTO mss_sequence (name, value) SELECT 'uidvalidity', COALESCE(MAX(uidvalidity), 0) FROM mss_folder;"},
    /* SQLite: bodies may live in segment files (segment.c): the row then says where, its body is
     * empty; mss_body_free lists the ranges of deleted ones until their space is freed. */
    {4, "mss body segments", NULL,
     "ALTER TABLE mss_body ADD COLUMN file_id INTEGER;"
     "ALTER TABLE mss_body ADD COLUMN file_offset INTEGER;"
     "ALTER TABLE mss_body ADD COLUMN file_length INTEGER;"
     "CREATE TABLE mss_body_free (file_id INTEGER NOT NULL, file_offset INTEGER NOT NULL,"
     " file_length INTEGER NOT NULL, PRIMARY KEY (file_id, file_offset));",
     "ALTER TABLE mss_body ADD COLUMN file_id BIGINT;"
     "ALTER TABLE mss_body ADD COLUMN file_offset BIGINT;"
     "ALTER TABLE mss_body ADD COLUMN file_length BIGINT;"
     "CREATE TABLE mss_body_free (file_id BIGINT NOT NULL, file_offset BIGINT NOT NULL,"
     " file_length BIGINT NOT NULL, PRIMARY KEY (file_id, file_offset));"},
    /* RFC 3461: the ORCPT and RET a message came with, passed on by the relay. */
    {5, "mss queue dsn parameters", NULL,
     "ALTER TABLE mss_queue ADD COLUMN orcpt TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE mss_queue ADD COLUMN ret TEXT NOT NULL DEFAULT '';",
     "ALTER TABLE mss_queue ADD COLUMN orcpt TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE mss_queue ADD COLUMN ret TEXT NOT NULL DEFAULT '';"},
    /* The relay queue points at the stored body, one for all the remote recipients of a message,
     * instead of holding a copy each; message keeps the bytes of the rows written before. */
    {6, "mss queue shares bodies", NULL,
     "ALTER TABLE mss_queue ADD COLUMN body_id INTEGER;"
     "CREATE INDEX mss_queue_body ON mss_queue(body_id);",
     "ALTER TABLE mss_queue ADD COLUMN body_id BIGINT;"
     "CREATE INDEX mss_queue_body ON mss_queue(body_id);"},
};
const size_t mss_migrations_count = sizeof mss_migrations / sizeof mss_migrations[0];

static const char *const mss_kind_names[] = {[MSS_PER] = "PER", [MSS_ORG] = "ORG", [MSS_APP] = "APP",
                                             [MSS_CAB] = "CAB", [MSS_CIT] = "CIT"};

const char *mss_kind_name(mss_kind k)
{
    return k >= MSS_PER && k <= MSS_CIT ? mss_kind_names[k] : "?";
}

mss_kind mss_kind_parse(const char *s)
{
    for (int k = MSS_PER; s && k <= MSS_CIT; k++)
        if (!strcasecmp(s, mss_kind_names[k])) return (mss_kind)k;
    return 0;
}

char *mss_lower(char *s)
{
    for (char *p = s; *p; p++) *p = (char)tolower((unsigned char)*p);
    return s;
}

int mss_split_address(const char *address, char *local, size_t nl, char *domain, size_t nd)
{
    const char *at = address ? strrchr(address, '@') : NULL;
    if (!at || at == address || !at[1]) return -1;
    size_t ll = (size_t)(at - address), dl = strlen(at + 1);
    if (ll >= nl || dl >= nd || ll > 64 || dl > 253) return -1;
    for (const char *p = address; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' || *p == '"' || *p == '\\' || *p == ',') return -1;
    if (strchr(at + 1, '@') || memchr(address, '@', ll)) return -1;
    memcpy(local, address, ll);
    local[ll] = 0;
    memcpy(domain, at + 1, dl + 1);
    mss_lower(local);
    mss_lower(domain);
    return 0;
}

int mss_mailbox_get(store_conn *c, const char *address, mss_mailbox *out, socle_err *err)
{
    char lower[MSS_ADDRESS_MAX];
    if (strlen(address) >= sizeof lower) return socle_err_set(err, SOCLE_ENOTFOUND, "no such mailbox");
    snprintf(lower, sizeof lower, "%s", address);
    mss_lower(lower);
    store_value p[] = {STORE_V_TEXT(lower)};
    store_rows *r = NULL;
    int rc = store_query(c, "SELECT address, kind, owner, display, password_hash, active FROM mss_mailbox WHERE address = $1",
                         p, 1, &r, err);
    if (rc) return rc;
    rc = store_rows_next(r, err);
    if (rc == 1) {
        memset(out, 0, sizeof *out);
        snprintf(out->address, sizeof out->address, "%s", store_rows_text(r, 0, NULL));
        out->kind = mss_kind_parse(store_rows_text(r, 1, NULL));
        snprintf(out->owner, sizeof out->owner, "%s", store_rows_text(r, 2, NULL));
        snprintf(out->display, sizeof out->display, "%s", store_rows_text(r, 3, NULL));
        snprintf(out->password_hash, sizeof out->password_hash, "%s", store_rows_text(r, 4, NULL));
        out->active = (int)store_rows_int(r, 5);
        rc = 0;
    } else if (rc == 0) {
        rc = socle_err_set(err, SOCLE_ENOTFOUND, "no such mailbox");
    }
    store_rows_free(r);
    return rc;
}

int mss_folder_id(store_conn *c, const char *address, const char *name, int create, int64_t *id, socle_err *err)
{
    store_value p[] = {STORE_V_TEXT(address), STORE_V_TEXT(name)};
    int rc = store_query_int(c, "SELECT id FROM mss_folder WHERE address = $1 AND name = $2", p, 2, id, err);
    if (rc != SOCLE_ENOTFOUND || !create) {
        if (rc == SOCLE_ENOTFOUND) socle_err_set(err, SOCLE_ENOTFOUND, "no such folder");
        return rc;
    }
    /* UIDVALIDITY: the seconds now, or one more than the last one given when that is later. */
    int64_t validity = 0;
    store_value now[] = {STORE_V_INT(time_now_ms() / 1000)};
    rc = store_query_int(c,
                         store_conn_engine(c) == STORE_POSTGRES
                             ? "UPDATE mss_sequence SET value = GREATEST(value + 1, $1) WHERE name = 'uidvalidity' RETURNING value"
                             : "UPDATE mss_sequence SET value = MAX(value + 1, $1) WHERE name = 'uidvalidity' RETURNING value",
                         now, 1, &validity, err);
    store_value q[] = {STORE_V_TEXT(address), STORE_V_TEXT(name), STORE_V_INT(validity)};
    if (!rc)
        rc = store_exec(c,
                        "INSERT INTO mss_folder (address, name, uidvalidity, uidnext) VALUES ($1, $2, $3, 1)"
                        " ON CONFLICT (address, name) DO NOTHING",
                        q, 3, NULL, err);
    if (!rc) rc = store_query_int(c, "SELECT id FROM mss_folder WHERE address = $1 AND name = $2", p, 2, id, err);
    return rc;
}

int mss_body_store(store_conn *c, const char *msg, size_t len, const mss_body_ref *ref, int64_t *body, socle_err *err)
{
    if (ref) {
        store_value p[] = {STORE_V_INT(ref->file), STORE_V_INT(ref->offset), STORE_V_INT(ref->length)};
        return store_query_int(c,
                               "INSERT INTO mss_body (body, file_id, file_offset, file_length) VALUES (X'', $1, $2, $3)"
                               " RETURNING id",
                               p, 3, body, err);
    }
    store_value p[] = {STORE_V_BLOB(msg, len)};
    return store_query_int(c, "INSERT INTO mss_body (body) VALUES ($1) RETURNING id", p, 1, body, err);
}

/* mss_body_query - the bytes of the one row sql selects, whose columns are: the bytes kept in a
 * row, the body id, and where the body lives in a segment file (file_id, file_offset, file_length;
 * NULL when not there). Copied into a, NUL-terminated. SOCLE_ENOTFOUND when there is no row. */
static int mss_body_query(mss_service *svc, store_conn *c, const char *sql, const store_value *p, int np, arena *a,
                          const char **msg, size_t *len, int64_t *body, socle_err *err)
{
    store_rows *r = NULL;
    mss_segments_hold(svc->segments);
    int rc = store_query(c, sql, p, np, &r, err);
    if (rc) {
        mss_segments_release(svc->segments);
        return rc;
    }
    rc = store_rows_next(r, err);
    if (rc == 1) {
        int in_file = !store_rows_isnull(r, 2);
        mss_body_ref ref = {0};
        const char *b = NULL;
        if (in_file) {
            ref = (mss_body_ref){store_rows_int(r, 2), store_rows_int(r, 3), store_rows_int(r, 4)};
            *len = ref.length >= 0 ? (size_t)ref.length : 0;
        } else {
            b = store_rows_blob(r, 0, len);
        }
        char *copy = arena_alloc(a, *len + 1);
        rc = 0;
        if (!copy) rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
        else if (!in_file) memcpy(copy, b, *len);
        else if (!svc->segments) rc = socle_err_set(err, SOCLE_ESTORE, "mss: a message body is in a segment file, none is open");
        else rc = mss_segment_read(svc->segments, &ref, copy, err);
        if (copy) copy[*len] = 0;
        *msg = copy;
        if (body) *body = store_rows_isnull(r, 1) ? 0 : store_rows_int(r, 1);
    } else if (rc == 0) {
        rc = socle_err_set(err, SOCLE_ENOTFOUND, "no such message");
    }
    store_rows_free(r);
    mss_segments_release(svc->segments);
    return rc;
}

int mss_message_body(mss_service *svc, store_conn *c, int64_t folder, int64_t uid, arena *a, const char **msg,
                     size_t *len, int64_t *body, socle_err *err)
{
    store_value p[] = {STORE_V_INT(folder), STORE_V_INT(uid)};
    return mss_body_query(svc, c,
                          "SELECT COALESCE(b.body, m.body), m.body_id, b.file_id, b.file_offset, b.file_length"
                          " FROM mss_message m LEFT JOIN mss_body b ON b.id = m.body_id WHERE m.folder_id = $1 AND m.uid = $2",
                          p, 2, a, msg, len, body, err);
}

int mss_queue_body(mss_service *svc, store_conn *c, int64_t id, arena *a, const char **msg, size_t *len, int64_t *body,
                   socle_err *err)
{
    store_value p[] = {STORE_V_INT(id)};
    return mss_body_query(svc, c,
                          "SELECT COALESCE(b.body, q.message), q.body_id, b.file_id, b.file_offset, b.file_length"
                          " FROM mss_queue q LEFT JOIN mss_body b ON b.id = q.body_id WHERE q.id = $1",
                          p, 1, a, msg, len, body, err);
}

int mss_body_hold(store_conn *c, int64_t body, socle_err *err)
{
    store_value p[] = {STORE_V_INT(body)};
    int64_t id;
    int rc = store_query_int(c,
                             store_conn_engine(c) == STORE_POSTGRES ? "SELECT id FROM mss_body WHERE id = $1 FOR UPDATE"
                                                                    : "SELECT id FROM mss_body WHERE id = $1",
                             p, 1, &id, err);
    return rc == SOCLE_ENOTFOUND ? 0 : rc ? rc : 1;
}

int mss_messages_delete(store_conn *c, int64_t folder, int only_deleted, int64_t only_uid, socle_err *err)
{
    store_value p[] = {STORE_V_INT(folder), STORE_V_INT(only_uid)};
    int np = only_uid ? 2 : 1;
    char cond[96];
    snprintf(cond, sizeof cond, "%s%s", only_deleted ? " AND flags LIKE '%\\Deleted%'" : "", only_uid ? " AND uid = $2" : "");
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT DISTINCT body_id FROM mss_message WHERE folder_id = $1 AND body_id IS NOT NULL%s",
             cond);
    store_rows *r = NULL;
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc = store_query(c, sql, p, np, &r, err);
    int have_rows = rc == 0;
    while (!rc && (rc = store_rows_next(r, err)) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            int64_t *nb = realloc(ids, cap * sizeof *ids);
            if (!nb) {
                rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
                break;
            }
            ids = nb;
        }
        ids[n++] = store_rows_int(r, 0);
        rc = 0;
    }
    if (have_rows) store_rows_free(r);
    if (rc > 0) rc = 0;
    snprintf(sql, sizeof sql, "DELETE FROM mss_message WHERE folder_id = $1%s", cond);
    if (!rc) rc = store_exec(c, sql, p, np, NULL, err);
    for (size_t i = 0; !rc && i < n; i++) rc = mss_body_release(c, ids[i], err);
    free(ids);
    return rc;
}

int mss_body_release(store_conn *c, int64_t body, socle_err *err)
{
    /* The body is locked first (mss_body_hold), so that a COPY adding a holder in another
     * transaction is either seen by the check or finds the body gone. */
    store_value b[] = {STORE_V_INT(body)};
    int held = mss_body_hold(c, body, err);
    if (held <= 0) return held;
    int rc = store_exec(c,
                        "INSERT INTO mss_body_free (file_id, file_offset, file_length) SELECT file_id, file_offset, file_length"
                        " FROM mss_body WHERE id = $1 AND file_id IS NOT NULL"
                        " AND NOT EXISTS (SELECT 1 FROM mss_message WHERE body_id = $1)"
                        " AND NOT EXISTS (SELECT 1 FROM mss_queue WHERE body_id = $1)",
                        b, 1, NULL, err);
    if (!rc)
        rc = store_exec(c,
                        "DELETE FROM mss_body WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM mss_message WHERE body_id = $1)"
                        " AND NOT EXISTS (SELECT 1 FROM mss_queue WHERE body_id = $1)",
                        b, 1, NULL, err);
    return rc;
}

int mss_message_append(store_conn *c, int64_t folder, int64_t body, size_t len, const char *flags, int64_t internal_ms,
                       int64_t *uid, socle_err *err)
{
    store_value f[] = {STORE_V_INT(folder)};
    int64_t next;
    /* The UPDATE takes the folder's row lock first, so concurrent appends get distinct UIDs. */
    int rc = store_exec(c, "UPDATE mss_folder SET uidnext = uidnext + 1 WHERE id = $1", f, 1, NULL, err);
    if (!rc) rc = store_query_int(c, "SELECT uidnext - 1 FROM mss_folder WHERE id = $1", f, 1, &next, err);
    if (rc) return rc;
    store_value p[] = {STORE_V_INT(folder), STORE_V_INT(next), STORE_V_TEXT(flags ? flags : ""),
                       STORE_V_INT(internal_ms), STORE_V_INT((int64_t)len), STORE_V_INT(body), STORE_V_BLOB("", 0)};
    rc = store_exec(c,
                    "INSERT INTO mss_message (folder_id, uid, flags, internal_ms, size, body_id, body)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    p, 7, NULL, err);
    if (!rc && uid) *uid = next;
    return rc;
}

/* ---- the policy rule ------------------------------------------------------------------------ */

/* mss_rule - "mss-mailbox": a mailbox is its owner's (see mss.h); nobody else, admin included,
 * reads someone's mail. Other types: abstain. */
static int mss_rule(void *ctx, const auth_subject *s, auth_action a, const auth_target *t, char *reason, size_t n)
{
    (void)ctx;
    (void)a;
    if (!t->resource_type || strcmp(t->resource_type, "MSSMailbox")) return AUTH_ABSTAIN;
    const mss_mailbox *m = t->context;
    if (!m) {
        snprintf(reason, n, "no mailbox");
        return AUTH_DENY;
    }
    if (!m->active) {
        snprintf(reason, n, "mailbox closed");
        return AUTH_DENY;
    }
    /* A structure's mailbox: its certificate, or its password (which only the operator sets). */
    int cert = !strcmp(s->issuer, AUTH_ISSUER_CLIENT_CERT) || !strcmp(s->issuer, MSS_PASSWORD_ISSUER);
    switch (m->kind) {
    case MSS_PER:
        if (s->kind == AUTH_KIND_PROFESSIONAL && !strcmp(s->sub, m->owner)) return AUTH_ALLOW;
        break;
    case MSS_ORG:
    case MSS_APP:
    case MSS_CAB:
        if (s->kind == AUTH_KIND_PROFESSIONAL && s->structure[0] && !strcmp(s->structure, m->owner)) return AUTH_ALLOW;
        if (s->kind == AUTH_KIND_SYSTEM && cert && (!strcmp(s->sub, m->owner) || !strcmp(s->structure, m->owner)))
            return AUTH_ALLOW;
        if (s->kind == AUTH_KIND_SYSTEM && cert && m->kind == MSS_APP && !strcmp(s->sub, m->address)) return AUTH_ALLOW;
        break;
    case MSS_CIT:
        if (s->kind == AUTH_KIND_PATIENT && !strcmp(s->sub, m->owner)) return AUTH_ALLOW;
        break;
    }
    snprintf(reason, n, "this %s mailbox is not the caller's", mss_kind_name(m->kind));
    return AUTH_DENY;
}

int mss_add_policy_rule(mss_service *svc, socle_err *err)
{
    if (auth_policy_add_rule(svc->app->policy, "mss-mailbox", mss_rule, svc))
        return socle_err_set(err, SOCLE_EINTERNAL, "cannot add the policy rule mss-mailbox");
    return 0;
}

void mss_audit(mss_service *svc, const auth_subject *who, const char *action, const char *outcome,
               const char *mailbox, const char *remote, const char *detail)
{
    audit_event e = {.action = action,
                     .outcome = outcome,
                     .agent_kind = who && who->kind ? auth_kind_name(who->kind) : "anonymous",
                     .agent_id = who && who->sub[0] ? who->sub : NULL,
                     .agent_profession = who && who->profession[0] ? who->profession : NULL,
                     .structure = who && who->structure[0] ? who->structure : NULL,
                     .resource_type = "MSSMailbox",
                     .resource_id = mailbox,
                     .address = remote,
                     .detail = detail};
    audit_append(svc->app->audit, &e);
}

int mss_may_use(mss_service *svc, const auth_subject *who, const mss_mailbox *m, const char *remote, const char *action)
{
    auth_target t = {.resource_type = "MSSMailbox", .resource_id = m->address, .context = m};
    auth_decision d;
    auth_policy_decide(svc->app->policy, who, AUTH_ACTION_READ, &t, &d);
    if (!d.allowed) mss_audit(svc, who, action, "denied", m->address, remote, d.reason);
    return d.allowed;
}

const char *mss_login_lapsed(mss_service *svc, const auth_subject *who, mss_mailbox *m, const char *remote,
                             int ask_store)
{
    if (who->expires_ms <= time_now_ms()) return "the token expired, log in again";
    if (!ask_store) return NULL;
    socle_err err;
    store_conn *c;
    mss_mailbox now;
    if (store_acquire(svc->app->store, &c, &err)) return NULL;
    int rc = mss_mailbox_get(c, m->address, &now, &err);
    store_release(svc->app->store, c);
    if (rc == SOCLE_ENOTFOUND) return "the mailbox is gone";
    if (rc) return NULL;
    if (!mss_may_use(svc, who, &now, remote, "session")) return "the mailbox is closed or no longer yours";
    *m = now;
    return NULL;
}
