/* mailbox.c - creating mailboxes (their owner checked in the directory or the identity
 * repository) and authenticating their users: bearer tokens (OAUTHBEARER, XOAUTH2), client
 * certificates of the trust-space CA, and passwords when the operator allows them. */
#include <stdio.h>
#include <string.h>

#include "base/timeutil.h"
#include "crypto/password.h"
#include "crypto/pki.h"
#include "fhir/search.h"
#include "svc/ins/ins.h"
#include "svc/mss/mss_internal.h"

/* mss_find - the id of the first `type` resource whose identifier is `value` (any system). */
static int mss_find(store_conn *c, const char *type, const char *value, char *id, size_t n, socle_err *err)
{
    arena *a = arena_new(8192);
    if (!a) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    fhir_search_param ps[2] = {{"identifier", value}, {"_count", "5"}};
    fhir_search_options opt = {0};
    fhir_search *plan;
    fhir_search_page page;
    int rc = fhir_search_parse(type, ps, 2, &opt, a, &plan, err);
    if (!rc) rc = fhir_search_run(c, plan, a, &page, err);
    if (!rc) {
        rc = socle_err_set(err, SOCLE_ENOTFOUND, "no %s with identifier %s", type, value);
        for (size_t i = 0; i < page.nhits; i++)
            if (!page.hits[i].included) {
                snprintf(id, n, "%s", page.hits[i].id);
                socle_err_clear(err);
                rc = 0;
                break;
            }
    }
    arena_free(a);
    return rc;
}

/* mss_citizen_qualified - is there a Patient whose qualified INS is `ins`? */
static int mss_citizen_qualified(store_conn *c, const char *ins, socle_err *err)
{
    char id[80], matricule[16], oid[64];
    int rc = mss_find(c, "Patient", ins, id, sizeof id, err);
    if (rc == SOCLE_ENOTFOUND)
        return socle_err_set(err, SOCLE_EUNPROCESSABLE, "no patient with the qualified INS %s in the identity repository", ins);
    if (!rc) rc = ins_outward_identifier(c, id, matricule, oid, err);
    if (rc == SOCLE_EUNPROCESSABLE || (!rc && strcmp(matricule, ins)))
        return socle_err_set(err, SOCLE_EUNPROCESSABLE, "the patient's identity is not qualified (INS %s)", ins);
    return rc;
}

int mss_mailbox_add(mss_service *svc, const mss_mailbox_spec *spec, char *address, size_t n, socle_err *err)
{
    mss_kind kind = mss_kind_parse(spec->kind);
    if (!kind) return socle_err_set(err, SOCLE_EINVAL, "kind must be PER, ORG, APP, CAB or CIT");
    if (!spec->owner || !*spec->owner || strlen(spec->owner) >= 64)
        return socle_err_set(err, SOCLE_EINVAL, "the owner (--owner) is required");
    if (!svc->domain[0]) return socle_err_set(err, SOCLE_EINVAL, "mss_domain is not configured");
    char addr[MSS_ADDRESS_MAX], local[80], domain[260];
    if (kind == MSS_CIT) {
        if (strlen(spec->owner) != 15 || strspn(spec->owner, "0123456789AB") != 15)
            return socle_err_set(err, SOCLE_EINVAL, "a citizen mailbox is keyed by the 15-character INS matricule");
        snprintf(addr, sizeof addr, "%s@%s", spec->owner, svc->citizen_domain);
        if (spec->address && strcasecmp(spec->address, addr))
            return socle_err_set(err, SOCLE_EINVAL, "a citizen mailbox's address is %s", addr);
    } else {
        if (!spec->address || mss_split_address(spec->address, local, sizeof local, domain, sizeof domain))
            return socle_err_set(err, SOCLE_EINVAL, "a valid address local@domain is required");
        if (mss_domain_kind(svc, domain) != 1)
            return socle_err_set(err, SOCLE_EINVAL, "%s is not a domain of this operator (%s)", domain, svc->domain);
        snprintf(addr, sizeof addr, "%s@%s", local, domain);
    }
    mss_lower(addr);
    char hash[CRYPTO_PASSWORD_HASH_MAX] = "";
    if (spec->password && crypto_password_hash(spec->password, hash, err)) return err->code;
    store_conn *c;
    int rc = store_acquire(svc->app->store, &c, err);
    if (rc) return rc;
    char id[80];
    if (kind == MSS_CIT) {
        rc = mss_citizen_qualified(c, spec->owner, err);
    } else if (kind == MSS_PER) {
        rc = mss_find(c, "Practitioner", spec->owner, id, sizeof id, err);
        if (rc == SOCLE_ENOTFOUND)
            rc = socle_err_set(err, SOCLE_EUNPROCESSABLE, "no professional %s in the directory", spec->owner);
    } else {
        rc = mss_find(c, "Organization", spec->owner, id, sizeof id, err);
        if (rc == SOCLE_ENOTFOUND)
            rc = socle_err_set(err, SOCLE_EUNPROCESSABLE, "no structure %s in the directory", spec->owner);
    }
    store_value p[] = {STORE_V_TEXT(addr),          STORE_V_TEXT(mss_kind_name(kind)),
                       STORE_V_TEXT(spec->owner),   STORE_V_TEXT(spec->display ? spec->display : ""),
                       STORE_V_TEXT(hash),          STORE_V_INT(time_now_ms())};
    if (!rc) rc = store_tx_begin(c, err);
    if (!rc)
        rc = store_exec(c,
                        "INSERT INTO mss_mailbox (address, kind, owner, display, password_hash, created_ms)"
                        " VALUES ($1, $2, $3, $4, $5, $6)",
                        p, 6, NULL, err);
    if (rc == SOCLE_ECONFLICT) socle_err_set(err, SOCLE_ECONFLICT, "the mailbox %s exists already", addr);
    static const char *const folders[] = {"INBOX", "Sent", "Trash"};
    for (size_t i = 0; !rc && i < 3; i++) {
        int64_t fid;
        rc = mss_folder_id(c, addr, folders[i], 1, &fid, err);
    }
    if (!rc) rc = store_tx_commit(c, err);
    store_tx_rollback(c);
    store_release(svc->app->store, c);
    if (!rc) snprintf(address, n, "%s", addr);
    return rc;
}

int mss_mailbox_list(mss_service *svc, void *file, socle_err *err)
{
    store_conn *c;
    int rc = store_acquire(svc->app->store, &c, err);
    if (rc) return rc;
    store_rows *r = NULL;
    rc = store_query(c, "SELECT address, kind, owner, active FROM mss_mailbox ORDER BY address", NULL, 0, &r, err);
    while (!rc && (rc = store_rows_next(r, err)) == 1) {
        fprintf(file, "%s\t%s\t%s%s\n", store_rows_text(r, 0, NULL), store_rows_text(r, 1, NULL),
                store_rows_text(r, 2, NULL), store_rows_int(r, 3) ? "" : "\tclosed");
        rc = 0;
    }
    if (r) store_rows_free(r);
    store_release(svc->app->store, c);
    return rc < 0 ? rc : 0;
}

/* ---- authentication ------------------------------------------------------------------------- */

/* mss_load_and_check - the mailbox `user` and the policy's verdict for who. */
static int mss_load_and_check(mss_service *svc, const char *user, const char *remote, auth_subject *who, mss_mailbox *m,
                              socle_err *err)
{
    store_conn *c;
    int rc = store_acquire(svc->app->store, &c, err);
    if (rc) return rc;
    rc = mss_mailbox_get(c, user, m, err);
    store_release(svc->app->store, c);
    if (rc == SOCLE_ENOTFOUND) {
        mss_audit(svc, who, "login", "failure", NULL, remote, "unknown mailbox");
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "authentication failed");
    }
    if (rc) return rc;
    if (!mss_may_use(svc, who, m, remote, "login")) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "authentication failed");
    mss_audit(svc, who, "login", "success", m->address, remote, NULL);
    return 0;
}

int mss_authenticate_token(mss_service *svc, const char *user, const char *token, const char *remote,
                           auth_subject *who, mss_mailbox *m, socle_err *err)
{
    memset(who, 0, sizeof *who);
    if (auth_verify_token(svc->app->verifier, token, who, err)) {
        mss_audit(svc, NULL, "login", "failure", NULL, remote, "invalid token");
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "invalid token");
    }
    char citizen[MSS_ADDRESS_MAX];
    if ((!user || !*user) && who->kind == AUTH_KIND_PATIENT) {
        snprintf(citizen, sizeof citizen, "%s@%s", who->sub, svc->citizen_domain);
        user = citizen;
    }
    if (!user || !*user) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "no mailbox named");
    return mss_load_and_check(svc, user, remote, who, m, err);
}

int mss_authenticate_password(mss_service *svc, const char *user, const char *password, const char *remote,
                              auth_subject *who, mss_mailbox *m, socle_err *err)
{
    memset(who, 0, sizeof *who);
    store_conn *c;
    int rc = store_acquire(svc->app->store, &c, err);
    if (rc) return rc;
    rc = mss_mailbox_get(c, user, m, err);
    store_release(svc->app->store, c);
    if (rc == SOCLE_ENOTFOUND || (!rc && (!m->password_hash[0] || crypto_password_verify(m->password_hash, password, err)))) {
        mss_audit(svc, NULL, "login", "failure", NULL, remote, "bad password or unknown mailbox");
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "authentication failed");
    }
    if (rc) return rc;
    /* The password stands for the mailbox's owner. */
    who->kind = m->kind == MSS_CIT ? AUTH_KIND_PATIENT : m->kind == MSS_PER ? AUTH_KIND_PROFESSIONAL : AUTH_KIND_SYSTEM;
    snprintf(who->sub, sizeof who->sub, "%s", m->owner);
    if (m->kind != MSS_PER && m->kind != MSS_CIT) snprintf(who->structure, sizeof who->structure, "%s", m->owner);
    snprintf(who->issuer, sizeof who->issuer, "%s", MSS_PASSWORD_ISSUER);
    who->expires_ms = INT64_MAX;
    return mss_load_and_check(svc, user, remote, who, m, err);
}

int mss_authenticate_certificate(mss_service *svc, lines_conn *conn, const char *user, auth_subject *who,
                                 mss_mailbox *m, socle_err *err)
{
    memset(who, 0, sizeof *who);
    size_t len;
    const unsigned char *der = lines_peer_cert_der(conn, &len);
    pki_client_kind kind;
    char id[128];
    if (!der) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "no verified client certificate");
    int rc = pki_cert_identity(der, len, &kind, id, sizeof id, err);
    if (rc) return rc;
    if (kind == PKI_CLIENT_OPERATOR) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "an operator certificate is no user");
    who->kind = kind == PKI_CLIENT_PROFESSIONAL ? AUTH_KIND_PROFESSIONAL : AUTH_KIND_SYSTEM;
    snprintf(who->sub, sizeof who->sub, "%s", id);
    if (kind == PKI_CLIENT_ORGANISATION) snprintf(who->structure, sizeof who->structure, "%s", id);
    snprintf(who->issuer, sizeof who->issuer, "%s", AUTH_ISSUER_CLIENT_CERT);
    who->expires_ms = INT64_MAX;
    if (!user || !*user) {
        /* The one mailbox the certificate names. */
        store_conn *c;
        rc = store_acquire(svc->app->store, &c, err);
        if (rc) return rc;
        store_value p[] = {STORE_V_TEXT(id)};
        store_rows *r = NULL;
        char found[MSS_ADDRESS_MAX] = "";
        int count = 0;
        rc = store_query(c, "SELECT address FROM mss_mailbox WHERE owner = $1 ORDER BY address LIMIT 2", p, 1, &r, err);
        while (!rc && store_rows_next(r, err) == 1)
            if (count++ == 0) snprintf(found, sizeof found, "%s", store_rows_text(r, 0, NULL));
        if (!rc) store_rows_free(r);
        store_release(svc->app->store, c);
        if (rc) return rc;
        if (count != 1) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "the certificate does not name one mailbox");
        return mss_load_and_check(svc, found, lines_remote_addr(conn), who, m, err);
    }
    return mss_load_and_check(svc, user, lines_remote_addr(conn), who, m, err);
}

int mss_sasl_oauth(char *buf, size_t len, int xoauth2, const char **user, const char **token)
{
    *user = *token = NULL;
    if (memchr(buf, 0, len)) return -1;
    buf[len] = 0;
    /* OAUTHBEARER: "n,a=user,^Aauth=Bearer TOKEN^A^A"; XOAUTH2: "user=USER^Aauth=Bearer TOKEN^A^A". */
    char *p = buf;
    if (!xoauth2) {
        if (strncmp(p, "n,", 2) && strncmp(p, "y,", 2)) return -1;
        char *comma = strchr(p + 2, ',');
        if (!comma) return -1;
        *comma = 0;
        if (!strncmp(p + 2, "a=", 2)) *user = p + 4;
        p = comma + 1;
    }
    for (char *field = strtok_r(p, "\001", &p); field; field = strtok_r(NULL, "\001", &p)) {
        if (xoauth2 && !strncmp(field, "user=", 5)) *user = field + 5;
        else if (!strncasecmp(field, "auth=Bearer ", 12)) *token = field + 12;
    }
    return *token && **token ? 0 : -1;
}
