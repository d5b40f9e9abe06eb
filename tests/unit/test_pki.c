/* test_pki.c - unit tests of the test PKI (src/crypto/pki.c): files and modes, idempotence, the
 * CA never overwritten, certificates that `openssl verify` accepts for their purpose, and the
 * subject alternative names callers are mapped by. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "crypto/pki.h"

static char tmpdir[64];

static int setup(void **state)
{
    log_set_level(LOG_WARN);
    strcpy(tmpdir, "/tmp/socle-test-pki-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *dir, const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/pki/%s", dir, file);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = calloc(1, 65536);
    fread(s, 1, 65535, f);
    fclose(f);
    return s;
}

static int mode_of(const char *dir, const char *file)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/pki/%s", dir, file);
    return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

static X509 *load_cert(const char *dir, const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/pki/%s", dir, file);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

/* `openssl verify` (a real client of these files) with a purpose; returns its first output line. */
static void openssl_verify(const char *dir, const char *file, const char *purpose, char *out, size_t n)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cd '%s/pki' && openssl verify -CAfile ca.pem -purpose %s '%s' 2>&1", dir,
             purpose, file);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    out[0] = 0;
    if (!fgets(out, (int)n, p)) out[0] = 0;
    while (fgetc(p) != EOF) {
    }
    pclose(p);
    out[strcspn(out, "\n")] = 0;
}

static void test_init_and_verify(void **state)
{
    char dir[128], line[512];
    snprintf(dir, sizeof dir, "%s/d1", tmpdir);
    socle_err err;
    assert_int_equal(pki_init(dir, "socle.example.test, 10.1.2.3", &err), 0);
    assert_int_equal(mode_of(dir, "ca.key"), 0600);
    assert_int_equal(mode_of(dir, "server.key"), 0600);
    assert_int_equal(mode_of(dir, "ca.pem"), 0644);
    assert_int_equal(mode_of(dir, ""), 0700);

    openssl_verify(dir, "server.pem", "sslserver", line, sizeof line);
    assert_string_equal(line, "server.pem: OK");
    openssl_verify(dir, "server.pem", "sslclient", line, sizeof line); /* EKU serverAuth only */
    assert_string_not_equal(line, "server.pem: OK");

    X509 *ca = load_cert(dir, "ca.pem");
    char subject[256] = "";
    BIO *b = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(b, X509_get_subject_name(ca), 0, XN_FLAG_RFC2253);
    BIO_read(b, subject, sizeof subject - 1);
    BIO_free(b);
    assert_string_equal(subject, "CN=socle TEST CA - NOT FOR PRODUCTION,O=socle test PKI,C=FR");
    assert_int_equal(X509_check_ca(ca), 1);
    int crit = 0;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(ca, NID_basic_constraints, &crit, NULL);
    assert_non_null(bc);
    assert_true(bc->ca);
    assert_int_equal(crit, 1);
    BASIC_CONSTRAINTS_free(bc);
    assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
    assert_true(X509_get_key_usage(ca) & KU_CRL_SIGN);
    /* about 10 years */
    int days = 0, secs = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(ca), X509_get0_notAfter(ca)), 1);
    assert_true(days >= 3649 && days <= 3651);

    X509 *srv = load_cert(dir, "server.pem");
    assert_int_equal(X509_check_host(srv, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(srv, "socle.example.test", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(srv, "::1", 0), 1);
    assert_int_equal(X509_check_ip_asc(srv, "10.1.2.3", 0), 1);
    assert_int_not_equal(X509_check_host(srv, "evil.test", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ca(srv), 0);
    /* random 128-bit serials, different per certificate */
    BIGNUM *s1 = ASN1_INTEGER_to_BN(X509_get0_serialNumber(ca), NULL);
    BIGNUM *s2 = ASN1_INTEGER_to_BN(X509_get0_serialNumber(srv), NULL);
    assert_true(BN_num_bits(s1) > 120 && BN_num_bits(s1) <= 128);
    assert_true(BN_num_bits(s2) > 120 && BN_num_bits(s2) <= 128);
    assert_int_not_equal(BN_cmp(s1, s2), 0);
    BN_free(s1);
    BN_free(s2);
    X509_free(ca);
    X509_free(srv);
}

static void test_init_idempotent(void **state)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/d2", tmpdir);
    socle_err err;
    assert_int_equal(pki_init(dir, NULL, &err), 0);
    char *ca1 = slurp(dir, "ca.pem"), *key1 = slurp(dir, "ca.key"), *srv1 = slurp(dir, "server.pem");
    assert_int_equal(pki_init(dir, NULL, &err), 0);
    assert_int_equal(pki_init(dir, "localhost,127.0.0.1", &err), 0);
    char *ca2 = slurp(dir, "ca.pem"), *key2 = slurp(dir, "ca.key"), *srv2 = slurp(dir, "server.pem");
    assert_string_equal(ca1, ca2);
    assert_string_equal(key1, key2);
    assert_string_equal(srv1, srv2); /* nothing asked for changed: nothing reissued */

    /* a new name reissues the server certificate, keeps the CA, and later inits keep the name */
    assert_int_equal(pki_init(dir, "api.example.test", &err), 0);
    assert_int_equal(pki_init(dir, NULL, &err), 0);
    char *ca3 = slurp(dir, "ca.pem"), *srv3 = slurp(dir, "server.pem");
    assert_string_equal(ca1, ca3);
    assert_string_not_equal(srv1, srv3);
    X509 *srv = load_cert(dir, "server.pem");
    assert_int_equal(X509_check_host(srv, "api.example.test", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(srv, "localhost", 0, 0, NULL), 1);
    X509_free(srv);
    char line[512];
    openssl_verify(dir, "server.pem", "sslserver", line, sizeof line);
    assert_string_equal(line, "server.pem: OK");
    char *all[] = {ca1, ca2, ca3, key1, key2, srv1, srv2, srv3};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        free(all[i]);
}

static void test_ca_never_overwritten(void **state)
{
    char dir[128], path[256];
    snprintf(dir, sizeof dir, "%s/d3", tmpdir);
    socle_err err;
    assert_int_equal(pki_init(dir, NULL, &err), 0);
    char *ca1 = slurp(dir, "ca.pem");
    snprintf(path, sizeof path, "%s/pki/ca.key", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_not_equal(pki_init(dir, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "ca.key"));
    char *ca2 = slurp(dir, "ca.pem");
    assert_string_equal(ca1, ca2);
    free(ca1);
    free(ca2);
    /* a corrupt CA is an error too, not a reason to make a new one */
    snprintf(dir, sizeof dir, "%s/d3b", tmpdir);
    assert_int_equal(pki_init(dir, NULL, &err), 0);
    snprintf(path, sizeof path, "%s/pki/ca.pem", dir);
    FILE *f = fopen(path, "w");
    fputs("garbage\n", f);
    fclose(f);
    assert_int_not_equal(pki_init(dir, NULL, &err), 0);
    char *ca3 = slurp(dir, "ca.pem");
    assert_string_equal(ca3, "garbage\n");
    free(ca3);
}

static void check_client(const char *dir, const char *name, pki_client_kind kind, const char *id,
                         const char *uri)
{
    socle_err err;
    char file[128], line[512];
    assert_int_equal(pki_issue_client(dir, name, kind, id, 30, &err), 0);
    snprintf(file, sizeof file, "clients/%s.key", name);
    assert_int_equal(mode_of(dir, file), 0600);
    snprintf(file, sizeof file, "clients/%s.pem", name);
    openssl_verify(dir, file, "sslclient", line, sizeof line);
    char expected[256];
    snprintf(expected, sizeof expected, "%s: OK", file);
    assert_string_equal(line, expected);
    openssl_verify(dir, file, "sslserver", line, sizeof line);
    assert_string_not_equal(line, expected);
    X509 *x = load_cert(dir, file);
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    assert_non_null(gens);
    assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, 0);
    assert_int_equal(g->type, GEN_URI);
    assert_int_equal(ASN1_STRING_length(g->d.uniformResourceIdentifier), (int)strlen(uri));
    assert_memory_equal(ASN1_STRING_get0_data(g->d.uniformResourceIdentifier), uri, strlen(uri));
    GENERAL_NAMES_free(gens);
    char cn[128] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
    assert_string_equal(cn, id);
    int days = 0, secs = 0;
    ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x));
    assert_int_equal(days, 30); /* notBefore is backdated one hour: 30 days and 1 hour */
    X509_free(x);
}

static void test_clients(void **state)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/d4", tmpdir);
    socle_err err;
    assert_int_equal(pki_issue_client(dir, "x", PKI_CLIENT_SOFTWARE, "app", 10, &err), SOCLE_ENOTFOUND);
    assert_int_equal(pki_init(dir, NULL, &err), 0);
    check_client(dir, "dr-martin", PKI_CLIENT_PROFESSIONAL, "810001234567", "urn:idnps:810001234567");
    check_client(dir, "clinic_1", PKI_CLIENT_ORGANISATION, "1750000001", "urn:idnst:1750000001");
    check_client(dir, "lab.app", PKI_CLIENT_SOFTWARE, "lab-connector", "urn:client:lab-connector");
    /* reissuing under the same name replaces it */
    check_client(dir, "lab.app", PKI_CLIENT_SOFTWARE, "lab-connector-2", "urn:client:lab-connector-2");
}

static void test_bad_input(void **state)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/d5", tmpdir);
    socle_err err;
    assert_int_equal(pki_init(dir, "bad name!", &err), SOCLE_EINVAL);
    assert_int_equal(pki_init(dir, "a..b", &err), SOCLE_EINVAL);
    assert_int_equal(pki_init(dir, "x,DNS:evil.test", &err), SOCLE_EINVAL);
    assert_int_equal(pki_init(NULL, NULL, &err), SOCLE_EINVAL);
    assert_int_equal(pki_init(dir, " ok.test ,, *.wild.test ,", &err), 0);
    static const char *names[] = {"", "../x", "a/b", "a b",
                                  "0123456789012345678901234567890123456789012345678901234567890123456789"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        assert_int_equal(pki_issue_client(dir, names[i], PKI_CLIENT_SOFTWARE, "app", 10, &err), SOCLE_EINVAL);
    static const char *ids[] = {"", "a,URI:x", "a b", "é", "a/b"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        assert_int_equal(pki_issue_client(dir, "c", PKI_CLIENT_PROFESSIONAL, ids[i], 10, &err), SOCLE_EINVAL);
    assert_int_equal(pki_issue_client(dir, "c", PKI_CLIENT_PROFESSIONAL, "81", 0, &err), SOCLE_EINVAL);
    assert_int_equal(pki_issue_client(dir, "c", PKI_CLIENT_PROFESSIONAL, "81", 5000, &err), SOCLE_EINVAL);
    assert_int_equal(pki_issue_client(dir, "c", (pki_client_kind)9, "81", 10, &err), SOCLE_EINVAL);
    assert_int_equal(pki_issue_client(dir, "c", PKI_CLIENT_PROFESSIONAL, "81", 10, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_and_verify),
        cmocka_unit_test(test_init_idempotent),
        cmocka_unit_test(test_ca_never_overwritten),
        cmocka_unit_test(test_clients),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
