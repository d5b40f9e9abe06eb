/* verify.c - bearer token verification: the Authorization header, the JWS, the issuer's key, the
 * signature, then the claims; results cached (cache.c) so the signature is checked once per token.
 *
 * Order matters: nothing in the payload is trusted before the signature is; the only claim read
 * before it is "iss", to pick the key. Algorithms are fixed by the key, never by the token: the
 * header's alg must equal the key's (ES256 or RS256), so "none", HS256-with-a-public-key and
 * ES/RS confusion are all refused. Error messages name the problem, never the token's content. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth_internal.h"
#include "base/log.h"
#include "base/timeutil.h"

#define VERIFY_MAX_TOKEN (16 * 1024)
#define VERIFY_MAX_JWKS (1024 * 1024)
#define VERIFY_MAX_ISSUERS 32
#define VERIFY_MAX_KEYS 64

typedef struct verify_issuer {
    char *iss;
    crypto_key *keys[VERIFY_MAX_KEYS];
    int nkeys;
} verify_issuer;

struct auth_verifier {
    const crypto_key *server_key;
    char *issuer;
    char *audience;
    verify_issuer trusted[VERIFY_MAX_ISSUERS];
    int ntrusted;
    auth_cache *cache;
};

/* Read a JWKS file and import its keys; keys that cannot be used are logged and skipped, but a
 * document with no usable key is an error (the issuer would be silently locked out). */
static int verify_load_jwks(verify_issuer *ti, const char *path, socle_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return socle_err_set(err, SOCLE_EIO, "cannot open the JWKS file %s", path);
    char *data = malloc(VERIFY_MAX_JWKS + 1);
    size_t n = data ? fread(data, 1, VERIFY_MAX_JWKS + 1, f) : 0;
    fclose(f);
    if (!data) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    if (n > VERIFY_MAX_JWKS) {
        free(data);
        return socle_err_set(err, SOCLE_ETOOLARGE, "the JWKS file %s is larger than 1 MiB", path);
    }
    json_t *doc = json_loadb(data, n, JSON_REJECT_DUPLICATES, NULL);
    free(data);
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        json_decref(doc);
        return socle_err_set(err, SOCLE_EINVAL, "the JWKS file %s has no \"keys\" array", path);
    }
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        if (ti->nkeys == VERIFY_MAX_KEYS) break;
        char *s = json_dumps(k, JSON_COMPACT);
        socle_err kerr;
        if (s && crypto_key_from_jwk_json(s, strlen(s), &ti->keys[ti->nkeys], &kerr) == 0) {
            ti->nkeys++;
        } else {
            log_line l;
            log_begin(&l, LOG_WARN, "JWKS key skipped");
            log_str(&l, "path", path);
            log_int(&l, "index", (long long)i);
            log_str(&l, "reason", s ? kerr.msg : "out of memory");
            log_end(&l);
        }
        free(s);
    }
    json_decref(doc);
    if (ti->nkeys == 0) return socle_err_set(err, SOCLE_EINVAL, "the JWKS file %s has no usable key", path);
    return 0;
}

/* "ISS=PATH;ISS2=PATH2": issuers are URLs without query strings, so the first '=' splits. */
static int verify_load_trusted(auth_verifier *v, const char *spec, socle_err *err)
{
    char *copy = strdup(spec), *save = NULL;
    if (!copy) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    int rc = 0;
    for (char *item = strtok_r(copy, ";", &save); item && !rc; item = strtok_r(NULL, ";", &save)) {
        while (*item == ' ')
            item++;
        if (!*item) continue;
        char *eq = strchr(item, '=');
        if (!eq || eq == item || !eq[1]) {
            rc = socle_err_set(err, SOCLE_EINVAL,
                               "trusted_issuers: expected ISSUER=JWKS_PATH items separated by ';'");
            break;
        }
        *eq = 0;
        if (v->ntrusted == VERIFY_MAX_ISSUERS) {
            rc =
                socle_err_set(err, SOCLE_EINVAL, "trusted_issuers: more than %d issuers", VERIFY_MAX_ISSUERS);
            break;
        }
        verify_issuer *ti = &v->trusted[v->ntrusted++];
        if (!(ti->iss = strdup(item)))
            rc = socle_err_set(err, SOCLE_ENOMEM, "out of memory");
        else if (strlen(item) >= sizeof((auth_subject *)0)->issuer)
            rc = socle_err_set(err, SOCLE_EINVAL, "trusted_issuers: issuer name too long");
        else
            rc = verify_load_jwks(ti, eq + 1, err);
    }
    free(copy);
    return rc;
}

int auth_verifier_new(const auth_verifier_options *opt, auth_verifier **out, socle_err *err)
{
    *out = NULL;
    if (!opt->issuer || !*opt->issuer || !opt->audience || !*opt->audience)
        return socle_err_set(err, SOCLE_EINVAL, "the issuer and the audience must be configured");
    auth_verifier *v = calloc(1, sizeof *v);
    if (!v) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    v->server_key = opt->server_key;
    v->issuer = strdup(opt->issuer);
    v->audience = strdup(opt->audience);
    v->cache = auth_cache_new(opt->cache_entries > 0 ? opt->cache_entries : 65536);
    int rc =
        (!v->issuer || !v->audience || !v->cache) ? socle_err_set(err, SOCLE_ENOMEM, "out of memory") : 0;
    if (!rc && opt->trusted_issuers && *opt->trusted_issuers)
        rc = verify_load_trusted(v, opt->trusted_issuers, err);
    if (rc) {
        auth_verifier_free(v);
        return rc;
    }
    *out = v;
    return 0;
}

void auth_verifier_free(auth_verifier *v)
{
    if (!v) return;
    for (int i = 0; i < v->ntrusted; i++) {
        free(v->trusted[i].iss);
        for (int k = 0; k < v->trusted[i].nkeys; k++)
            crypto_key_free(v->trusted[i].keys[k]);
    }
    auth_cache_free(v->cache);
    free(v->issuer);
    free(v->audience);
    free(v);
}

/* The key for (iss, kid), or NULL with the reason in err. */
static const crypto_key *verify_pick_key(const auth_verifier *v, const char *iss, const char *kid,
                                         const char *alg, socle_err *err)
{
    if (!strcmp(iss, v->issuer)) {
        if (!v->server_key) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "unknown issuer"), NULL;
        if (kid && strcmp(kid, crypto_key_kid(v->server_key)))
            return socle_err_set(err, SOCLE_EUNAUTHORIZED, "unknown signing key"), NULL;
        return v->server_key;
    }
    for (int i = 0; i < v->ntrusted; i++) {
        const verify_issuer *ti = &v->trusted[i];
        if (strcmp(iss, ti->iss)) continue;
        const crypto_key *found = NULL;
        int candidates = 0;
        for (int k = 0; k < ti->nkeys; k++) {
            if (kid ? !strcmp(kid, crypto_key_kid(ti->keys[k])) : !strcmp(alg, crypto_key_alg(ti->keys[k]))) {
                if (!found) found = ti->keys[k];
                candidates++;
            }
        }
        /* Without a kid, only an unambiguous key will do. */
        if (!found || (!kid && candidates > 1))
            return socle_err_set(err, SOCLE_EUNAUTHORIZED, "unknown signing key"), NULL;
        return found;
    }
    return socle_err_set(err, SOCLE_EUNAUTHORIZED, "unknown issuer"), NULL;
}

/* A NumericDate claim in ms; 0 if absent, -1 if present but not a sane number. */
static int verify_time(json_t *claims, const char *name, int64_t *ms)
{
    json_t *v = json_object_get(claims, name);
    if (!v) return 0;
    double d = json_number_value(v);
    if (!json_is_number(v) || !(d >= 0 && d < 1e13)) return -1;
    *ms = (int64_t)floor(d * 1000.0);
    return 1;
}

/* Copy an optional string claim into dst; -1 if present but not a string that fits. */
static int verify_copy(json_t *claims, const char *name, char *dst, size_t room, int required)
{
    json_t *v = json_object_get(claims, name);
    if (!v) return required ? -1 : 0;
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    if (!s || n >= room || strlen(s) != n || (required && n == 0)) return -1;
    memcpy(dst, s, n + 1);
    return 0;
}

static int verify_audience(json_t *aud, const char *audience)
{
    if (json_is_string(aud)) return !strcmp(json_string_value(aud), audience);
    for (size_t i = 0; i < json_array_size(aud); i++) {
        json_t *a = json_array_get(aud, i);
        if (json_is_string(a) && !strcmp(json_string_value(a), audience)) return 1;
    }
    return 0;
}

static int verify_claims(const auth_verifier *v, json_t *claims, const char *iss, int64_t now,
                         auth_subject *out, socle_err *err)
{
    int64_t exp = 0, nbf = 0, iat = 0;
    int has_exp = verify_time(claims, "exp", &exp), has_nbf = verify_time(claims, "nbf", &nbf),
        has_iat = verify_time(claims, "iat", &iat);
    if (has_exp < 0 || has_nbf < 0 || has_iat < 0)
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "malformed token");
    if (!has_exp) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "token has no exp");
    if (now >= exp) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "token expired");
    if (has_nbf && nbf > now + AUTH_SKEW_MS)
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "token not yet valid");
    if (has_iat && iat > now + AUTH_SKEW_MS)
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "token issued in the future");
    if (!verify_audience(json_object_get(claims, "aud"), v->audience))
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "wrong audience");
    if (verify_copy(claims, "sub", out->sub, sizeof out->sub, 1))
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "token has no valid sub");
    json_t *kind = json_object_get(claims, "socle_kind");
    if (!kind) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "token has no socle_kind");
    out->kind = json_is_string(kind) ? auth_kind_parse(json_string_value(kind)) : AUTH_KIND_NONE;
    if (out->kind == AUTH_KIND_NONE) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "unknown socle_kind");
    if (verify_copy(claims, "profession", out->profession, sizeof out->profession, 0))
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "token claim profession is not valid");
    if (verify_copy(claims, "structure", out->structure, sizeof out->structure, 0))
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "token claim structure is not valid");
    if (verify_copy(claims, "jti", out->token_id, sizeof out->token_id, 0))
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "token claim jti is not valid");
    json_t *roles = json_object_get(claims, "roles");
    if (roles) {
        if (!json_is_array(roles))
            return socle_err_set(err, SOCLE_EUNAUTHORIZED, "token claim roles is not an array");
        if (json_array_size(roles) > AUTH_MAX_ROLES)
            return socle_err_set(err, SOCLE_EUNAUTHORIZED, "token has more than %d roles", AUTH_MAX_ROLES);
        size_t i;
        json_t *r;
        json_array_foreach(roles, i, r)
        {
            const char *s = json_string_value(r);
            size_t n = s ? json_string_length(r) : 0;
            if (!s || n == 0 || n >= sizeof out->roles[0] || strlen(s) != n)
                return socle_err_set(err, SOCLE_EUNAUTHORIZED, "token claim roles is not valid");
            memcpy(out->roles[out->nroles++], s, n + 1);
        }
    }
    strcpy(out->issuer, iss); /* length checked by the caller */
    out->expires_ms = exp;
    return 0;
}

/* Everything but the cache. */
static int verify_full(const auth_verifier *v, const char *jwt, int64_t now, auth_subject *out,
                       socle_err *err)
{
    char *hs = NULL, *ps = NULL;
    uint8_t *sig = NULL;
    size_t siglen, input_len;
    int rc = crypto_jws_split(jwt, &hs, &ps, &sig, &siglen, &input_len, err);
    if (rc) return rc;
    json_t *header = json_loads(hs, JSON_REJECT_DUPLICATES, NULL);
    json_t *claims = json_loads(ps, JSON_REJECT_DUPLICATES, NULL);
    free(hs);
    free(ps);
    json_t *kidv = json_object_get(header, "kid");
    const char *alg = json_string_value(json_object_get(header, "alg"));
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const crypto_key *key = NULL;
    if (!json_is_object(header) || !json_is_object(claims) || (kidv && !json_is_string(kidv)))
        rc = socle_err_set(err, SOCLE_EUNAUTHORIZED, "malformed token");
    else if (!alg || (strcmp(alg, "ES256") && strcmp(alg, "RS256")))
        rc = socle_err_set(err, SOCLE_EUNAUTHORIZED, "unsupported token algorithm (ES256 or RS256)");
    else if (json_object_get(header, "crit"))
        rc = socle_err_set(err, SOCLE_EUNAUTHORIZED, "unsupported critical header parameters");
    else if (!iss || !*iss || strlen(iss) >= sizeof out->issuer)
        rc = socle_err_set(err, SOCLE_EUNAUTHORIZED, "token has no valid iss");
    else if (!(key = verify_pick_key(v, iss, json_string_value(kidv), alg, err)))
        rc = SOCLE_EUNAUTHORIZED;
    else if (strcmp(alg, crypto_key_alg(key)))
        rc = socle_err_set(err, SOCLE_EUNAUTHORIZED, "token algorithm does not match the issuer's key");
    else if ((rc = crypto_verify(key, jwt, input_len, sig, siglen, err)) == 0)
        rc = verify_claims(v, claims, iss, now, out, err);
    json_decref(header);
    json_decref(claims);
    free(sig);
    return rc;
}

int auth_verify_token(auth_verifier *v, const char *jwt, auth_subject *out, socle_err *err)
{
    memset(out, 0, sizeof *out);
    if (!jwt || !*jwt) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "no bearer token");
    size_t n = strnlen(jwt, VERIFY_MAX_TOKEN + 1);
    if (n > VERIFY_MAX_TOKEN) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "token too large");
    uint8_t key[32];
    crypto_sha256(jwt, n, key);
    int64_t now = time_now_ms();
    if (auth_cache_get(v->cache, key, out)) {
        if (now < out->expires_ms) return 0;
        memset(out, 0, sizeof *out);
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "token expired");
    }
    int rc = verify_full(v, jwt, now, out, err);
    if (rc) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    auth_cache_put(v->cache, key, out, now);
    return 0;
}

int auth_verify_bearer(auth_verifier *v, const char *authorization, auth_subject *out, socle_err *err)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) || !authorization[7]) {
        memset(out, 0, sizeof *out);
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "no bearer token");
    }
    if (authorization[7] == ' ') {
        memset(out, 0, sizeof *out);
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "malformed token");
    }
    return auth_verify_token(v, authorization + 7, out, err);
}
