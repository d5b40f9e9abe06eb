/* pki.h - the local test PKI: a stand-in for the IGC-Santé test chain.
 *
 * `socle pki init` creates under DIR/pki/: ca.pem + ca.key (a self-signed CA, "socle TEST CA - NOT
 * FOR PRODUCTION"), server.pem + server.key (for localhost, 127.0.0.1 and ::1, plus the names
 * given), and client certificates on demand. Keys are EC P-256, files 0600 for keys. Certificates
 * carry the subject's identifier in the CN and, for professionals, the IDNPS in a
 * subjectAltName URI "urn:idnps:<IDNPS>" so mutual-TLS callers can be mapped to directory entries;
 * organisations get "urn:idnst:<IDNST>"; software gets "urn:client:<id>". Never overwrites an
 * existing CA. */
#ifndef SOCLE_CRYPTO_PKI_H
#define SOCLE_CRYPTO_PKI_H

#include <stddef.h>

#include "base/err.h"

/* PKI_CLIENT_OPERATOR: an MSSanté operator of the trust space, named by its mail domain in a
 * subjectAltName DNS entry (also 127.0.0.1 and localhost, so that a test peer on loopback can serve
 * with it); usable as server and as client certificate. */
typedef enum {
    PKI_CLIENT_PROFESSIONAL = 1,
    PKI_CLIENT_ORGANISATION,
    PKI_CLIENT_SOFTWARE,
    PKI_CLIENT_OPERATOR
} pki_client_kind;

/* pki_init - create the CA and server certificate if missing; `extra_names` is a comma-separated
 * list of DNS names or IP addresses (may be NULL). Idempotent. */
int pki_init(const char *data_dir, const char *extra_names, socle_err *err);
/* pki_issue_client - write DIR/pki/clients/<name>.pem and .key for the given subject
 * identifier; `name` must be [A-Za-z0-9_.-]{1,64}. Valid for `days`. */
int pki_issue_client(const char *data_dir, const char *name, pki_client_kind kind, const char *identifier,
                     int days, socle_err *err);

/* pki_cert_identity - who a (verified) client certificate names: the first subjectAltName URI
 * urn:idnps:<IDNPS> (a professional), urn:idnst:<IDNST> (an organisation) or urn:client:<id>
 * (software), or else its first DNS name (an operator), into *kind and identifier (size n).
 * SOCLE_EUNAUTHORIZED when there is none. Does not
 * verify the chain: the TLS layer did. */
int pki_cert_identity(const unsigned char *der, size_t len, pki_client_kind *kind, char *identifier, size_t n,
                      socle_err *err);

#endif
