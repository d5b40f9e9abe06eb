/* pki.c - NAME
 *      pki - the local test PKI (a stand-in for the IGC-Santé test chain).
 * DESCRIPTION
 *      pki_init() creates DIR/pki/ca.pem + ca.key (a self-signed CA valid 10 years, basicConstraints
 *      CA:TRUE critical, keyUsage keyCertSign,cRLSign) and server.pem + server.key (EKU serverAuth,
 *      subjectAltName localhost, 127.0.0.1, ::1 and the extra names). It never touches an existing
 *      CA. The server certificate is (re)issued when it is missing, not signed by the CA on disk,
 *      within 30 days of expiry, or lacks a requested name; a reissue keeps the names the previous
 *      certificate had, so `init --names x` followed by a plain `init` does not lose x.
 *      pki_issue_client() writes clients/<name>.pem/.key (EKU clientAuth, SAN URI urn:idnps:,
 *      urn:idnst: or urn:client:). Keys are EC P-256, files 0600 (certificates 0644), directories
 *      0700. Serial numbers are 128 random bits. Subject alternative names are built as ASN.1
 *      values, never through OpenSSL's configuration-string syntax, so no name can inject one.
 * BUGS
 *      Test use only: no CRL, no OCSP, CA key unencrypted on disk.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "base/ids.h"
#include "crypto/crypto_internal.h"
#include "crypto/pki.h"

#define PKI_MAX_NAMES 64
#define PKI_CA_CN "socle TEST CA - NOT FOR PRODUCTION"
#define PKI_ORG "socle test PKI"

typedef struct pki_names {
    char name[PKI_MAX_NAMES][256];
    int n;
} pki_names;

typedef struct pki_ca {
    X509 *cert;
    EVP_PKEY *key;
} pki_ca;

static void pki_ca_free(pki_ca *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    ca->cert = NULL;
    ca->key = NULL;
}

static int pki_path(char *out, size_t room, const char *dir, const char *file, socle_err *err)
{
    if ((size_t)snprintf(out, room, "%s/pki/%s", dir, file) >= room)
        return socle_err_set(err, SOCLE_EINVAL, "data directory path too long");
    return 0;
}

static int pki_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static X509 *pki_read_cert(const char *path)
{
    BIO *b = BIO_new_file(path, "r");
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    return x;
}

/* --- names --- */

static int pki_dns_valid(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 253) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0) return 0;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              (c == '*' && i == 0 && s[1] == '.')))
            return 0;
        if (++label > 63) return 0;
    }
    return label > 0;
}

static int pki_is_ip(const char *s)
{
    uint8_t buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int pki_names_add(pki_names *ns, const char *s, socle_err *err)
{
    for (int i = 0; i < ns->n; i++)
        if (!strcasecmp(ns->name[i], s)) return 0;
    if (strlen(s) >= sizeof ns->name[0] || (!pki_is_ip(s) && !pki_dns_valid(s)))
        return socle_err_set(err, SOCLE_EINVAL, "\"%.64s\" is neither a DNS name nor an IP address", s);
    if (ns->n == PKI_MAX_NAMES)
        return socle_err_set(err, SOCLE_EINVAL, "more than %d server names", PKI_MAX_NAMES);
    strcpy(ns->name[ns->n++], s);
    return 0;
}

static int pki_names_parse(pki_names *ns, const char *list, socle_err *err)
{
    int rc = pki_names_add(ns, "localhost", err);
    if (!rc) rc = pki_names_add(ns, "127.0.0.1", err);
    if (!rc) rc = pki_names_add(ns, "::1", err);
    for (const char *p = list; p && *p && !rc;) {
        size_t n = strcspn(p, ",");
        char one[256];
        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
        size_t m = n;
        while (m && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m >= sizeof one) return socle_err_set(err, SOCLE_EINVAL, "server name too long");
        memcpy(one, p, m);
        one[m] = 0;
        if (m) rc = pki_names_add(ns, one, err);
        p += n;
        if (*p == ',') p++;
    }
    return rc;
}

static int pki_san_push(GENERAL_NAMES *gens, int type, const char *value)
{
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_STRING *v = type == GEN_IPADD ? a2i_IPADDRESS(value) : ASN1_IA5STRING_new();
    if (!g || !v || (type != GEN_IPADD && !ASN1_STRING_set(v, value, (int)strlen(value)))) {
        GENERAL_NAME_free(g);
        ASN1_STRING_free(v);
        return -1;
    }
    GENERAL_NAME_set0_value(g, type, v);
    if (!sk_GENERAL_NAME_push(gens, g)) {
        GENERAL_NAME_free(g);
        return -1;
    }
    return 0;
}

/* The DNS names and IP addresses of an existing certificate, added to ns (best effort). */
static void pki_names_from_cert(pki_names *ns, X509 *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char s[256] = "";
        if (g->type == GEN_DNS) {
            int n = ASN1_STRING_length(g->d.dNSName);
            const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
            if (n > 0 && n < (int)sizeof s && !memchr(d, 0, (size_t)n)) {
                memcpy(s, d, (size_t)n);
                s[n] = 0;
            }
        } else if (g->type == GEN_IPADD) {
            int n = ASN1_STRING_length(g->d.iPAddress);
            if (n == 4 || n == 16)
                inet_ntop(n == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(g->d.iPAddress), s, sizeof s);
        }
        if (s[0]) pki_names_add(ns, s, NULL); /* names that are no longer valid are dropped */
    }
    GENERAL_NAMES_free(gens);
    ERR_clear_error();
}

/* --- certificates --- */

typedef struct pki_spec {
    const char *cn;
    int is_ca;
    int days;
    const char *eku;    /* "serverAuth", "clientAuth", or NULL */
    GENERAL_NAMES *san; /* may be NULL */
} pki_spec;

static int pki_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    int ok = e && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

/* A certificate for key, signed by ca (self-signed when ca is NULL). */
static X509 *pki_make_cert(EVP_PKEY *key, const pki_spec *sp, const pki_ca *ca)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    uint8_t serial[16];
    id_random_bytes(serial, sizeof serial);
    serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x40); /* positive, and always 16 bytes long */
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    ASN1_INTEGER *sn = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok =
        x && name && sn && X509_set_version(x, X509_VERSION_3) && X509_set_serialNumber(x, sn) &&
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
        X509_time_adj_ex(X509_getm_notAfter(x), sp->days, 0, NULL) &&
        X509_NAME_add_entry_by_txt(name, "C", MBSTRING_UTF8, (const unsigned char *)"FR", -1, -1, 0) &&
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)PKI_ORG, -1, -1, 0) &&
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)sp->cn, -1, -1, 0) &&
        X509_set_subject_name(x, name) &&
        X509_set_issuer_name(x, ca ? X509_get_subject_name(ca->cert) : name) && X509_set_pubkey(x, key);
    BN_free(bn);
    ASN1_INTEGER_free(sn);
    X509_NAME_free(name);
    X509V3_CTX ctx;
    if (ok) {
        X509V3_set_ctx(&ctx, ca ? ca->cert : x, x, NULL, NULL, 0);
        ok = !pki_add_ext(x, &ctx, NID_basic_constraints,
                          sp->is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
             !pki_add_ext(x, &ctx, NID_key_usage,
                          sp->is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") &&
             !pki_add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
             !pki_add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") &&
             (!sp->eku || !pki_add_ext(x, &ctx, NID_ext_key_usage, sp->eku)) &&
             (!sp->san || X509_add1_ext_i2d(x, NID_subject_alt_name, sp->san, 0, X509V3_ADD_DEFAULT) == 1) &&
             X509_sign(x, ca ? ca->key : key, EVP_sha256()) > 0;
    }
    if (!ok) {
        X509_free(x);
        x = NULL;
    }
    ERR_clear_error();
    return x;
}

/* Write a key (0600) and its certificate (0644); replace says whether existing files go. */
static int pki_write_pair(const char *key_path, EVP_PKEY *key, const char *cert_path, X509 *cert, int replace,
                          socle_err *err)
{
    BIO *kb = crypto_pem_private(key), *cb = BIO_new(BIO_s_mem());
    int rc = 0;
    if (!kb || !cb || !PEM_write_bio_X509(cb, cert)) {
        rc = socle_err_set(err, SOCLE_EINTERNAL, "cannot encode the key or certificate");
    } else {
        char *kd, *cd;
        long kn = BIO_get_mem_data(kb, &kd), cn = BIO_get_mem_data(cb, &cd);
        rc = replace ? crypto_write_replace(key_path, kd, (size_t)kn, 0600, err)
                     : crypto_write_new(key_path, kd, (size_t)kn, 0600, err);
        if (!rc)
            rc = replace ? crypto_write_replace(cert_path, cd, (size_t)cn, 0644, err)
                         : crypto_write_new(cert_path, cd, (size_t)cn, 0644, err);
    }
    BIO_free(kb);
    BIO_free(cb);
    ERR_clear_error();
    return rc;
}

static int pki_load_ca(const char *dir, pki_ca *ca, socle_err *err)
{
    char cp[4200], kp[4200];
    int rc = pki_path(cp, sizeof cp, dir, "ca.pem", err);
    if (!rc) rc = pki_path(kp, sizeof kp, dir, "ca.key", err);
    if (rc) return rc;
    int has_cert = pki_exists(cp), has_key = pki_exists(kp);
    if (!has_cert && !has_key) return socle_err_set(err, SOCLE_ENOTFOUND, "no test CA in %s/pki", dir);
    if (!has_cert || !has_key)
        return socle_err_set(err, SOCLE_ECONFLICT,
                             "incomplete test CA in %s/pki (%s missing); not overwriting it", dir,
                             has_cert ? "ca.key" : "ca.pem");
    ca->cert = pki_read_cert(cp);
    ca->key = ca->cert ? crypto_read_private(kp, err) : NULL;
    if (!ca->cert || !ca->key || X509_check_private_key(ca->cert, ca->key) != 1) {
        pki_ca_free(ca);
        ERR_clear_error();
        return socle_err_set(err, SOCLE_EINVAL,
                             "the test CA in %s/pki is unreadable or its key does not match", dir);
    }
    return 0;
}

static int pki_create_ca(const char *dir, pki_ca *ca, socle_err *err)
{
    char cp[4200], kp[4200];
    int rc = pki_path(cp, sizeof cp, dir, "ca.pem", err);
    if (!rc) rc = pki_path(kp, sizeof kp, dir, "ca.key", err);
    if (rc) return rc;
    pki_spec sp = {.cn = PKI_CA_CN, .is_ca = 1, .days = 3650};
    ca->key = EVP_EC_gen("P-256");
    ca->cert = ca->key ? pki_make_cert(ca->key, &sp, NULL) : NULL;
    if (!ca->cert) {
        pki_ca_free(ca);
        ERR_clear_error();
        return socle_err_set(err, SOCLE_EINTERNAL, "cannot create the test CA");
    }
    rc = pki_write_pair(kp, ca->key, cp, ca->cert, 0, err);
    if (rc) pki_ca_free(ca);
    return rc;
}

/* Does the server certificate on disk still do? */
static int pki_server_ok(X509 *cert, EVP_PKEY *key, const pki_ca *ca, const pki_names *want)
{
    EVP_PKEY *ca_pub = X509_get0_pubkey(ca->cert);
    time_t soon = time(NULL) + 30 * 86400;
    int ok = cert && key && ca_pub && X509_verify(cert, ca_pub) == 1 &&
             X509_check_private_key(cert, key) == 1 && X509_cmp_time(X509_get0_notAfter(cert), &soon) > 0;
    for (int i = 0; ok && i < want->n; i++)
        ok = pki_is_ip(want->name[i]) ? X509_check_ip_asc(cert, want->name[i], 0) == 1
                                      : X509_check_host(cert, want->name[i], 0, 0, NULL) == 1;
    ERR_clear_error();
    return ok;
}

static int pki_server(const char *dir, const pki_ca *ca, const char *extra, socle_err *err)
{
    char cp[4200], kp[4200];
    int rc = pki_path(cp, sizeof cp, dir, "server.pem", err);
    if (!rc) rc = pki_path(kp, sizeof kp, dir, "server.key", err);
    pki_names *ns = calloc(1, sizeof *ns);
    if (!ns) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    if (!rc) rc = pki_names_parse(ns, extra, err);
    X509 *old = rc ? NULL : pki_read_cert(cp);
    EVP_PKEY *old_key = old && pki_exists(kp) ? crypto_read_private(kp, NULL) : NULL;
    if (!rc && !pki_server_ok(old, old_key, ca, ns)) {
        if (old && X509_verify(old, X509_get0_pubkey(ca->cert)) == 1) pki_names_from_cert(ns, old);
        GENERAL_NAMES *san = sk_GENERAL_NAME_new_null();
        for (int i = 0; san && i < ns->n; i++)
            if (pki_san_push(san, pki_is_ip(ns->name[i]) ? GEN_IPADD : GEN_DNS, ns->name[i])) {
                GENERAL_NAMES_free(san);
                san = NULL;
            }
        pki_spec sp = {.cn = "localhost", .days = 825, .eku = "serverAuth", .san = san};
        EVP_PKEY *key = san ? EVP_EC_gen("P-256") : NULL;
        X509 *cert = key ? pki_make_cert(key, &sp, ca) : NULL;
        rc = cert ? pki_write_pair(kp, key, cp, cert, 1, err)
                  : socle_err_set(err, SOCLE_EINTERNAL, "cannot create the server certificate");
        X509_free(cert);
        EVP_PKEY_free(key);
        GENERAL_NAMES_free(san);
    }
    X509_free(old);
    EVP_PKEY_free(old_key);
    free(ns);
    ERR_clear_error();
    return rc;
}

int pki_init(const char *data_dir, const char *extra_names, socle_err *err)
{
    if (!data_dir || !*data_dir) return socle_err_set(err, SOCLE_EINVAL, "no data directory");
    char dir[4200];
    if ((size_t)snprintf(dir, sizeof dir, "%s/pki", data_dir) >= sizeof dir)
        return socle_err_set(err, SOCLE_EINVAL, "data directory path too long");
    int rc = crypto_mkdirs(dir, 0700, err);
    if (rc) return rc;
    pki_ca ca = {0};
    rc = pki_load_ca(data_dir, &ca, err);
    if (rc == SOCLE_ENOTFOUND) {
        rc = pki_create_ca(data_dir, &ca, err);
        if (rc == SOCLE_ECONFLICT) rc = pki_load_ca(data_dir, &ca, err); /* a concurrent init won */
    }
    if (!rc) rc = pki_server(data_dir, &ca, extra_names, err);
    pki_ca_free(&ca);
    return rc;
}

static int pki_token_valid(const char *s, size_t max, const char *extra)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr(extra, c)))
            return 0;
    }
    return 1;
}

int pki_issue_client(const char *data_dir, const char *name, pki_client_kind kind, const char *identifier,
                     int days, socle_err *err)
{
    static const char *const prefix[] = {[PKI_CLIENT_PROFESSIONAL] = "urn:idnps:",
                                         [PKI_CLIENT_ORGANISATION] = "urn:idnst:",
                                         [PKI_CLIENT_SOFTWARE] = "urn:client:",
                                         [PKI_CLIENT_OPERATOR] = ""};
    if (!data_dir || !*data_dir) return socle_err_set(err, SOCLE_EINVAL, "no data directory");
    if (!pki_token_valid(name, 64, "_.-"))
        return socle_err_set(err, SOCLE_EINVAL, "client name must be [A-Za-z0-9_.-]{1,64}");
    if (kind < PKI_CLIENT_PROFESSIONAL || kind > PKI_CLIENT_OPERATOR)
        return socle_err_set(err, SOCLE_EINVAL, "unknown client kind");
    if (!pki_token_valid(identifier, 64, "_.:-"))
        return socle_err_set(err, SOCLE_EINVAL, "client identifier must be [A-Za-z0-9_.:-]{1,64}");
    if (days < 1 || days > 3650)
        return socle_err_set(err, SOCLE_EINVAL, "client certificate validity must be 1 to 3650 days");
    char dir[4200], cp[4300], kp[4300], uri[128];
    if ((size_t)snprintf(dir, sizeof dir, "%s/pki/clients", data_dir) >= sizeof dir)
        return socle_err_set(err, SOCLE_EINVAL, "data directory path too long");
    snprintf(cp, sizeof cp, "%s/%s.pem", dir, name);
    snprintf(kp, sizeof kp, "%s/%s.key", dir, name);
    snprintf(uri, sizeof uri, "%s%s", prefix[kind], identifier);
    pki_ca ca = {0};
    int rc = pki_load_ca(data_dir, &ca, err);
    if (rc == SOCLE_ENOTFOUND)
        rc = socle_err_set(err, SOCLE_ENOTFOUND, "no test CA in %s/pki (run socle pki init)", data_dir);
    if (!rc) rc = crypto_mkdirs(dir, 0700, err);
    if (rc) {
        pki_ca_free(&ca);
        return rc;
    }
    GENERAL_NAMES *san = sk_GENERAL_NAME_new_null();
    if (kind == PKI_CLIENT_OPERATOR && !pki_dns_valid(identifier)) {
        GENERAL_NAMES_free(san);
        pki_ca_free(&ca);
        return socle_err_set(err, SOCLE_EINVAL, "an operator is named by a DNS domain");
    }
    if (san && (kind == PKI_CLIENT_OPERATOR
                    ? pki_san_push(san, GEN_DNS, identifier) || pki_san_push(san, GEN_DNS, "localhost") ||
                          pki_san_push(san, GEN_IPADD, "127.0.0.1")
                    : pki_san_push(san, GEN_URI, uri))) {
        GENERAL_NAMES_free(san);
        san = NULL;
    }
    pki_spec sp = {.cn = identifier,
                   .days = days,
                   .eku = kind == PKI_CLIENT_OPERATOR ? "serverAuth,clientAuth" : "clientAuth",
                   .san = san};
    EVP_PKEY *key = san ? EVP_EC_gen("P-256") : NULL;
    X509 *cert = key ? pki_make_cert(key, &sp, &ca) : NULL;
    rc = cert ? pki_write_pair(kp, key, cp, cert, 1, err)
              : socle_err_set(err, SOCLE_EINTERNAL, "cannot create the client certificate");
    X509_free(cert);
    EVP_PKEY_free(key);
    GENERAL_NAMES_free(san);
    pki_ca_free(&ca);
    ERR_clear_error();
    return rc;
}

int pki_cert_identity(const unsigned char *der, size_t len, pki_client_kind *kind, char *identifier, size_t n,
                      socle_err *err)
{
    static const struct {
        const char *prefix;
        pki_client_kind kind;
    } schemes[] = {{"urn:idnps:", PKI_CLIENT_PROFESSIONAL},
                   {"urn:idnst:", PKI_CLIENT_ORGANISATION},
                   {"urn:client:", PKI_CLIENT_SOFTWARE}};
    const unsigned char *p = der;
    X509 *x = der && len ? d2i_X509(NULL, &p, (long)len) : NULL;
    if (!x) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "client certificate: not a DER X.509 certificate");
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int rc = socle_err_set(err, SOCLE_EUNAUTHORIZED,
                           "client certificate: no subjectAltName URI urn:idnps:, urn:idnst: or urn:client:");
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type != GEN_URI) continue;
        const char *uri = (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
        int ulen = ASN1_STRING_length(g->d.uniformResourceIdentifier);
        if (!uri || ulen <= 0 || memchr(uri, 0, (size_t)ulen)) continue;
        for (size_t k = 0; k < sizeof schemes / sizeof schemes[0]; k++) {
            size_t plen = strlen(schemes[k].prefix);
            size_t vlen = (size_t)ulen - plen;
            if ((size_t)ulen <= plen || strncasecmp(uri, schemes[k].prefix, plen) || vlen >= n) continue;
            memcpy(identifier, uri + plen, vlen);
            identifier[vlen] = 0;
            *kind = schemes[k].kind;
            socle_err_clear(err);
            rc = 0;
            break;
        }
        if (!rc) break;
    }
    /* No identifier URI: an operator certificate, named by its first DNS name. */
    for (int i = 0; rc && names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type != GEN_DNS) continue;
        const char *dns = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
        int dlen = ASN1_STRING_length(g->d.dNSName);
        if (!dns || dlen <= 0 || (size_t)dlen >= n || memchr(dns, 0, (size_t)dlen)) continue;
        memcpy(identifier, dns, (size_t)dlen);
        identifier[dlen] = 0;
        *kind = PKI_CLIENT_OPERATOR;
        socle_err_clear(err);
        rc = 0;
    }
    GENERAL_NAMES_free(names);
    X509_free(x);
    return rc;
}
