"""test_psc.py - Pro Santé Connect, socle's OpenID Connect provider: a certified relying-party
library (npm openid-client, pinned in tests/oidc/package.json) completes discovery, authorization
code with PKCE, the e-CPS login, token, userinfo, refresh, revocation and logout for the three
client authentication methods and both ID token algorithms; a plain HTTP client checks every
refusal (invalid_client, invalid_grant, PKCE, redirect URIs, replayed and expired codes, reused
and revoked refresh tokens, tokens of another audience, lockout), the CPS card login (a TLS
client certificate) and edge cases found in review (look-alike loopback redirect URIs, long scope
lists, non-UTF-8 state, Basic credentials against the body, long jtis, alg none)."""

import base64
import hashlib
import hmac
import html
import http.client
import json
import os
import re
import secrets
import sqlite3
import ssl
import struct
import subprocess
import time
import urllib.parse

from harness import all_at_once, assert_at_most_answered, short

HERE = os.path.dirname(os.path.abspath(__file__))
OIDC_DIR = os.path.join(os.path.dirname(HERE), "oidc")


def totp(secret_b32, at=None):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = struct.pack(">Q", int((at if at is not None else time.time()) // 30))
    h = hmac.new(key, counter, hashlib.sha1).digest()
    o = h[-1] & 15
    return "%06d" % ((struct.unpack(">I", h[o:o + 4])[0] & 0x7FFFFFFF) % 1000000)


def pkce():
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class Http:
    """Plain requests without following redirects (the login and the redirects are the test)."""

    def __init__(self, port, tls_context=None):
        self.port, self.ctx = port, tls_context

    def send(self, method, path, form=None, headers=None, body=None):
        conn = (http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=60) if self.ctx
                else http.client.HTTPConnection("127.0.0.1", self.port, timeout=60))
        h = dict(headers or {})
        if form is not None:
            body = urllib.parse.urlencode(form)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read().decode("utf-8", "replace")
        out = (r.status, dict((k.lower(), v) for k, v in r.getheaders()), data)
        conn.close()
        return out

    def json(self, method, path, form=None, headers=None):
        st, h, body = self.send(method, path, form, headers)
        return st, json.loads(body) if body else None


def _setup(env, name, count=40):
    d = env.new_data(name)
    db = env.new_db(d)
    out = os.path.join(d, "extracts")
    env.cli("annuaire", "generate", "--count", str(count), "--seed", "11", "--out", out)
    files = [os.path.join(out, n) for n in sorted(os.listdir(out))]
    env.cli("annuaire", "import", *files, "--data", d, "--db", db, "--log-level", "warn")
    ps = next(f for f in files if "PS_LibreAcces" in f)
    idnps = []
    for line in open(ps, encoding="utf-8").read().splitlines()[1:]:
        v = line.split("|")[2]
        if v not in idnps:
            idnps.append(v)
    return d, db, idnps


def _activate(env, d, db, http_, idnps):
    code = env.cli("psc", "enrol", "--idnps", idnps, "--data", d, "--db", db, "--log-level", "warn").stdout.strip()
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){3}", code), code
    st, _, page = http_.send("POST", "/oidc/ecps/activate", {"idnps": idnps, "activation_code": code.lower()})
    assert st == 200, (st, short(page))
    secret = re.search(r'id="secret">([A-Z2-7]+)<', page).group(1)
    # The activation code works once.
    st, _, _ = http_.send("POST", "/oidc/ecps/activate", {"idnps": idnps, "activation_code": code})
    assert st == 401, st
    return secret


def _client(env, d, db, cid, *extra):
    out = env.cli("oidc", "client", "add", "--id", cid, "--redirect-uri", "http://127.0.0.1:9/cb/" + cid,
                  "--logout-uri", "http://127.0.0.1:9/bye/" + cid, *extra, "--data", d, "--db", db,
                  "--log-level", "warn").stdout
    m = re.search(r"client_secret=(\S+)", out)
    if m:
        env.secrets.add(m.group(1))
    return m.group(1) if m else None


def _node_jwk():
    """An EC P-256 key pair as JWKs (private, public), made by Node's crypto."""
    js = ("const c=require('crypto');const {privateKey,publicKey}=c.generateKeyPairSync('ec',{namedCurve:'P-256'});"
          "const p=privateKey.export({format:'jwk'});const q=publicKey.export({format:'jwk'});p.kid=q.kid='k1';"
          "p.alg=q.alg='ES256';console.log(JSON.stringify([p,q]))")
    return json.loads(subprocess.run(["node", "-e", js], capture_output=True, text=True, check=True).stdout)


def _npm_ready():
    if not os.path.exists(os.path.join(OIDC_DIR, "node_modules", "openid-client", "package.json")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=OIDC_DIR, check=True,
                       capture_output=True, timeout=300)


def test_openid_client_flows(ctx):
    env = ctx.env
    _npm_ready()
    d, db, pros = _setup(env, "psc-rp")
    private, public = _node_jwk()
    jwks_path = os.path.join(d, "rp-jwks.json")
    json.dump({"keys": [public]}, open(jwks_path, "w"))
    clients = [
        {"client_id": "rp-basic", "method": "client_secret_basic", "alg": "ES256"},
        {"client_id": "rp-post", "method": "client_secret_post", "alg": "RS256"},
        {"client_id": "rp-jwt", "method": "private_key_jwt", "alg": "ES256", "private_jwk": private},
    ]
    for c in clients:
        extra = ["--auth-method", c["method"], "--id-token-alg", c["alg"]]
        if c["method"] == "private_key_jwt":
            extra += ["--jwks", jwks_path]
        c["client_secret"] = _client(env, d, db, c["client_id"], *extra)
        c["redirect_uri"] = "http://127.0.0.1:9/cb/" + c["client_id"]
        c["logout_uri"] = "http://127.0.0.1:9/bye/" + c["client_id"]
    srv = env.server(d, db, name="psc-rp")
    h = Http(srv.port)
    for i, c in enumerate(clients):
        idnps = pros[i]
        secret = _activate(env, d, db, h, idnps)
        cfg = {"issuer": srv.url + "/oidc", "client": c, "idnps": idnps, "totp_secret": secret}
        p = subprocess.run(["node", os.path.join(OIDC_DIR, "flow.js"), json.dumps(cfg)], capture_output=True,
                           text=True, timeout=120, cwd=OIDC_DIR)
        assert p.returncode == 0, "openid-client (%s): %s %s" % (c["method"], short(p.stdout), short(p.stderr, 2000))
        out = json.loads(p.stdout.strip().splitlines()[-1])
        assert out["sub"] == idnps and out["userinfo_sub"] == idnps and out["refreshed_sub"] == idnps, out
        assert out["acr"] == "eidas1" and out["amr"] == ["otp"] and out["nonce_ok"], out
        assert out["id_token_alg"] == c["alg"], out
        assert out["userinfo_exercices"] >= 1, out
        assert out["fhir_status"] == 200, "the PSC access token opens /fhir: %s" % out
        assert out["refresh_reuse"] == "invalid_grant" and out["refresh_after_reuse"] == "invalid_grant", out
        assert out["logout_status"] == 302 and out["logout_location"] == c["logout_uri"] + "?state=bye", out
    srv.stop_ok()


def _authorize(h, cid, challenge, **over):
    q = {"response_type": "code", "client_id": cid, "redirect_uri": "http://127.0.0.1:9/cb/" + cid,
         "scope": "openid scope_all", "state": "st-1", "nonce": "n-1", "code_challenge": challenge,
         "code_challenge_method": "S256"}
    q.update(over)
    q = {k: v for k, v in q.items() if v is not None}
    return h.send("GET", "/oidc/auth?" + urllib.parse.urlencode(q))


def _login(h, cid, challenge, idnps, otp, expect=302):
    st, _, page = _authorize(h, cid, challenge)
    assert st == 200, (st, short(page))
    request = html.unescape(re.search(r'name="request" value="([^"]+)"', page).group(1))
    st, hd, page = h.send("POST", "/oidc/login", {"request": request, "idnps": idnps, "otp": otp})
    assert st == expect, (st, short(page))
    if st != 302:
        return None
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(hd["location"]).query)
    assert q["state"] == ["st-1"] and q["iss"][0].endswith("/oidc"), q
    return q["code"][0]


def _basic(cid, secret):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (cid, secret)).encode()).decode()}


def test_refusals(ctx):
    env = ctx.env
    d, db, pros = _setup(env, "psc-bad")
    secret = _client(env, d, db, "rp")
    _client(env, d, db, "rp2")
    # Registration refuses what is unsafe; enrolment refuses who is not in the directory.
    for bad in (["--redirect-uri", "http://evil.example/cb"], ["--redirect-uri", "https://a.example/cb#x"],
                ["--redirect-uri", "https://a.example/cb", "--auth-method", "magic"]):
        p = env.cli("oidc", "client", "add", "--id", "x", *bad, "--data", d, "--db", db, check=False)
        assert p.returncode == 2, (bad, p.stderr)
    p = env.cli("psc", "enrol", "--idnps", "810000000000", "--data", d, "--db", db, check=False)
    assert p.returncode == 1 and "not in the directory" in p.stderr, p.stderr
    srv = env.server(d, db, ["--psc-login-max-failures", "3"], name="psc-bad")
    h = Http(srv.port)
    # A TOTP step is good once per professional: each login below uses its own professional or step.
    idnps, other = pros[0], pros[4]
    keys = {p: _activate(env, d, db, h, p) for p in pros[:3]}
    totp_secret = keys[idnps]
    verifier, challenge = pkce()

    # Authorization request errors: shown (unknown client, unregistered redirect) or redirected.
    st, hd, page = _authorize(h, "nobody", challenge)
    assert st == 400 and "location" not in hd, st
    st, hd, _ = _authorize(h, "rp", challenge, redirect_uri="http://127.0.0.1:9/cb/rp/x")
    assert st == 400 and "location" not in hd, st
    for over, error in (({"code_challenge": None}, "invalid_request"), ({"code_challenge_method": "plain"}, "invalid_request"),
                        ({"response_type": "token"}, "unsupported_response_type"), ({"scope": "profile"}, "invalid_scope"),
                        ({"prompt": "none"}, "login_required"), ({"response_type": None}, "invalid_request")):
        st, hd, _ = _authorize(h, "rp", challenge, **over)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(hd.get("location", "")).query)
        assert st == 302 and q.get("error") == [error] and q.get("state") == ["st-1"], (over, st, hd)

    # A good login and code exchange, then the code again: invalid_grant, and its tokens are revoked.
    code = _login(h, "rp", challenge, idnps, totp(totp_secret))
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9/cb/rp",
            "code_verifier": verifier}
    st, body = h.json("POST", "/oidc/token", dict(form, code_verifier="x" * 43), _basic("rp", secret))
    assert st == 400 and body["error"] == "invalid_grant" and "PKCE" in body["error_description"], body
    # The failed PKCE attempt consumed the code (a code is good once, whatever happens).
    code = _login(h, "rp", challenge, idnps, totp(totp_secret, time.time() + 30))
    form["code"] = code
    for headers, error in ((_basic("rp", "wrong"), "invalid_client"), (_basic("nobody", secret), "invalid_client"),
                           ({}, "invalid_client")):
        st, body = h.json("POST", "/oidc/token", form, headers)
        assert st == 401 and body["error"] == error, (st, body)
    st, body = h.json("POST", "/oidc/token", dict(form, client_id="rp", client_secret=secret))
    assert st == 401 and body["error"] == "invalid_client" and "client_secret_basic" in body["error_description"], body
    st, body = h.json("POST", "/oidc/token", dict(form, redirect_uri="http://127.0.0.1:9/cb/rp2"), _basic("rp", secret))
    assert st == 400 and body["error"] == "invalid_grant", body
    code = _login(h, "rp", challenge, pros[1], totp(keys[pros[1]]))
    form["code"] = code
    st, tokens = h.json("POST", "/oidc/token", form, _basic("rp", secret))
    assert st == 200 and tokens["token_type"] == "Bearer", tokens
    env.secrets.update([tokens["access_token"], tokens["refresh_token"]])
    st, body = h.json("POST", "/oidc/token", form, _basic("rp", secret))
    assert st == 400 and body["error"] == "invalid_grant" and "already used" in body["error_description"], body
    st, body = h.json("POST", "/oidc/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                      _basic("rp", secret))
    assert st == 400 and body["error"] == "invalid_grant", "a replayed code revokes what it gave: %s" % body
    st, body = h.json("POST", "/oidc/token", {"grant_type": "password"}, _basic("rp", secret))
    assert st == 400 and body["error"] == "unsupported_grant_type", body

    # Tokens of another audience: the ID token (aud = client) is no bearer token for the APIs.
    st, body = h.json("GET", "/oidc/userinfo", headers={"Authorization": "Bearer " + tokens["id_token"]})
    assert st == 401 and body["error"] == "invalid_token", body
    st, _, _ = h.send("GET", "/fhir/Practitioner/" + pros[1], headers={"Authorization": "Bearer " + tokens["id_token"]})
    assert st == 401, st
    st, info = h.json("GET", "/oidc/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert st == 200 and info["sub"] == pros[1], info

    # Revocation: the refresh token no longer works; another client cannot revoke it.
    used_otp = totp(keys[pros[2]])
    code = _login(h, "rp", challenge, pros[2], used_otp)
    st, tokens = h.json("POST", "/oidc/token", dict(form, code=code), _basic("rp", secret))
    assert st == 200, tokens
    st, _ = h.json("POST", "/oidc/revoke", {"token": tokens["refresh_token"]}, _basic("rp", "wrong"))
    assert st == 401
    st, _ = h.json("POST", "/oidc/revoke", {"token": tokens["refresh_token"]}, _basic("rp", secret))
    assert st == 200
    st, body = h.json("POST", "/oidc/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                      _basic("rp", secret))
    assert st == 400 and body["error"] == "invalid_grant" and "revoked" in body["error_description"], body

    # A replayed e-CPS code, wrong codes, and the lockout (3 failures here), per account.
    _login(h, "rp", challenge, pros[2], used_otp, expect=401)
    st, _, page = _authorize(h, "rp", challenge)
    request = html.unescape(re.search(r'name="request" value="([^"]+)"', page).group(1))
    for _ in range(2):
        st, _, page = h.send("POST", "/oidc/login", {"request": request, "idnps": other, "otp": "000000"})
        assert st == 401 and "incorrect" in page, st
    st, hd, page = h.send("POST", "/oidc/login", {"request": request, "idnps": other, "otp": "000000"})
    assert st == 429 and "retry-after" in hd, (st, hd)
    # An altered login request is refused.
    st, _, _ = h.send("POST", "/oidc/login", {"request": request[:-4] + "AAAA", "idnps": idnps, "otp": "123456"})
    assert st == 400, st
    # Every login, failure and token is in the audit trail.
    auditor = srv.client(env.token(d, "it-auditor", "professional", roles=["auditor"], profession="10"))
    for action in ("login", "token", "revoke"):
        b = auditor.get("/fhir/AuditEvent?action=%s&_count=50" % action).json
        assert b.get("entry"), "no %s in the audit trail" % action
    srv.stop_ok()


def test_expired_code_and_cps_login(ctx):
    env = ctx.env
    d, db, pros = _setup(env, "psc-cps", count=10)
    secret = _client(env, d, db, "rp")
    idnps = pros[0]
    env.cli("pki", "client", "--data", d, "--name", "card", "--kind", "professional", "--id", idnps)
    env.cli("pki", "client", "--data", d, "--name", "stranger", "--kind", "professional", "--id", "810000000055")
    ca = os.path.join(d, "pki", "ca.pem")
    srv = env.server(d, db, ["--tls-client-ca", ca, "--psc-code-ttl-s", "1", "--psc-refresh-ttl-s", "1"], tls=True,
                     name="psc-cps")

    def tls(name):
        c = ssl.create_default_context(cafile=ca)
        if name:
            c.load_cert_chain(os.path.join(d, "pki", "clients", name + ".pem"), os.path.join(d, "pki", "clients", name + ".key"))
        return Http(srv.port, c)

    verifier, challenge = pkce()

    def cps(name, challenge_=None):
        h = tls(name)
        st, _, page = _authorize(h, "rp", challenge_ or challenge)
        assert st == 200, st
        request = html.unescape(re.search(r'name="request" value="([^"]+)"', page).group(1))
        return h, h.send("POST", "/oidc/login/cps", {"request": request})

    for name, why in ((None, "client certificate"), ("stranger", "annuaire")):
        _, (st, _, page) = cps(name)
        assert st == 401 and why in page, (name, st, short(page))
    h, (st, hd, _) = cps("card")
    assert st == 302, st
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(hd["location"]).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:9/cb/rp",
            "code_verifier": verifier}
    st, tokens = h.json("POST", "/oidc/token", form, _basic("rp", secret))
    assert st == 200, tokens
    env.secrets.update([tokens["access_token"], tokens["refresh_token"]])
    claims = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[1] + "=="))
    assert claims["sub"] == idnps and claims["amr"] == ["x509"] and claims["nonce"] == "n-1", claims
    # The ID token carries the directory's identity claims, as userinfo gives them (the grant reads
    # them from the node's claims cache, parsed).
    st, info = h.json("GET", "/oidc/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert st == 200, info
    for k in ("preferred_username", "SubjectNameID", "given_name", "family_name"):
        assert k in info and claims.get(k) == info[k], (k, claims, info)
    # An expired code (the server's code lifetime is 1 s here).
    h, (st, hd, _) = cps("card")
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(hd["location"]).query)["code"][0]
    time.sleep(2.2)
    st, body = h.json("POST", "/oidc/token", dict(form, code=code), _basic("rp", secret))
    assert st == 400 and body["error"] == "invalid_grant" and "expired" in body["error_description"], body
    # An expired refresh token (its lifetime is 1 s here too).
    st, body = h.json("POST", "/oidc/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                      _basic("rp", secret))
    assert st == 400 and body["error"] == "invalid_grant" and "expired" in body["error_description"], body
    # A code_verifier outside the PKCE alphabet (RFC 7636 §4.1) is refused even when its hash matches.
    bad = "!" * 43
    h, (st, hd, _) = cps("card", base64.urlsafe_b64encode(hashlib.sha256(bad.encode()).digest()).rstrip(b"=").decode())
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(hd["location"]).query)["code"][0]
    st, body = h.json("POST", "/oidc/token", dict(form, code=code, code_verifier=bad), _basic("rp", secret))
    assert st == 400 and body["error"] == "invalid_grant" and "PKCE" in body["error_description"], body
    srv.stop_ok()


def _node_sign(private_jwk, header, payload):
    """A compact JWS of payload with an EC P-256 private JWK (ES256), signed by Node's crypto."""
    js = ("const c=require('crypto');const [jwk,h,p]=JSON.parse(process.argv[1]);"
          "const b=x=>Buffer.from(JSON.stringify(x)).toString('base64url');const input=b(h)+'.'+b(p);"
          "const s=c.sign('sha256',Buffer.from(input),{key:c.createPrivateKey({key:jwk,format:'jwk'}),"
          "dsaEncoding:'ieee-p1363'});console.log(input+'.'+s.toString('base64url'))")
    return subprocess.run(["node", "-e", js, json.dumps([private_jwk, header, payload])], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_edges(ctx):
    """Registration of look-alike loopback and header-splitting redirect URIs; scopes longer than any
    buffer (authorization and refresh); state and nonce that are not UTF-8; Basic credentials that
    disagree with the body or hide a NUL; long private_key_jwt jtis; alg none."""
    env = ctx.env
    d, db, pros = _setup(env, "psc-edge", count=10)
    for uri in ("http://127.0.0.1.evil.example/cb", "http://127.0.0.1:9@evil.example/cb",
                "http://localhost@evil.example/cb", "http://localhostevil.example/cb", "https://a.example/cb\r\nSet-Cookie:x=1", "https://a.example/\tcb"):
        p = env.cli("oidc", "client", "add", "--id", "x", "--redirect-uri", uri, "--data", d, "--db", db, check=False)
        assert p.returncode == 2, (uri, p.returncode, p.stderr)
    for uri in ("http://localhost:8080/cb", "http://[::1]/cb", "http://127.0.0.1?x=1"):
        env.cli("oidc", "client", "add", "--id", "ok", "--redirect-uri", uri, "--data", d, "--db", db)
    secret = _client(env, d, db, "rp", "--scope", "openid scope_all extra")
    _client(env, d, db, "rp2")
    private, public = _node_jwk()
    jwks_path = os.path.join(d, "rp-jwks.json")
    json.dump({"keys": [public]}, open(jwks_path, "w"))
    long_id = "c" * 127
    _client(env, d, db, long_id, "--auth-method", "private_key_jwt", "--jwks", jwks_path)
    srv = env.server(d, db, name="psc-edge")
    h = Http(srv.port)
    verifier, challenge = pkce()

    # A scope list longer than a fixed buffer is checked to its end (511 characters of whole scopes
    # first, so that a cut there leaves no half scope to trip on).
    long_scope = "openid " * 73
    st, hd, page = _authorize(h, "rp2", challenge, scope=long_scope + "extra")
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(hd.get("location", "")).query)
    assert st == 302 and q.get("error") == ["invalid_scope"], (st, short(page))
    # state and nonce must be UTF-8 (they travel in the signed JSON request).
    for over in ({"nonce": b"n\xff"}, {"state": b"s\xfe"}):
        st, hd, page = _authorize(h, "rp", challenge, **over)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(hd.get("location", "")).query)
        assert st == 302 and q.get("error") == ["invalid_request"], (over, st, short(page))

    # Client authentication: a body client_id that is not the Basic one, a NUL hidden in the secret.
    for form, headers in (({"grant_type": "password", "client_id": "rp2"}, _basic("rp", secret)),
                          ({"grant_type": "password"}, _basic("rp", secret + "%00tail"))):
        st, body = h.json("POST", "/oidc/token", form, headers)
        assert st == 401 and body["error"] == "invalid_client", (form, st, body)
    st, body = h.json("POST", "/oidc/token", {"grant_type": "password", "client_id": "rp"}, _basic("rp", secret))
    assert st == 400 and body["error"] == "unsupported_grant_type", body
    # An error answer always names its error, even when the request's text is not UTF-8.
    st, _, raw = h.send("POST", "/oidc/token", headers={"Content-Type": "application/x-www-form-urlencoded"},
                        body="a%FF=1&a%FF=2")
    assert st == 400 and json.loads(raw).get("error") == "invalid_request", (st, raw)

    # private_key_jwt: two long jtis that differ only at the end are two assertions; a replay, alg none
    # and an assertion for another audience are refused.
    token_url = srv.url + "/oidc/token"

    def assertion(jti, alg="ES256", aud=token_url):
        claims = {"iss": long_id, "sub": long_id, "aud": aud, "exp": int(time.time()) + 120, "jti": jti}
        jws = _node_sign(private, {"alg": "ES256", "kid": "k1"}, claims)
        if alg != "ES256":
            head = base64.urlsafe_b64encode(json.dumps({"alg": alg}).encode()).rstrip(b"=").decode()
            jws = head + "." + jws.split(".")[1] + "."
        return {"grant_type": "password", "client_assertion": jws,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}

    first = assertion("j" * 199 + "1")
    for form in (first, assertion("j" * 199 + "2")):
        st, body = h.json("POST", "/oidc/token", form)
        assert st == 400 and body["error"] == "unsupported_grant_type", body
    for form in (first, assertion("j2", alg="none"), assertion("j3", aud=srv.url + "/elsewhere")):
        st, body = h.json("POST", "/oidc/token", form)
        assert st == 401 and body["error"] == "invalid_client", body

    # Refresh: a long scope cannot widen the grant, nor drop openid; a refused refresh keeps the token.
    key = _activate(env, d, db, h, pros[0])
    code = _login(h, "rp", challenge, pros[0], totp(key))
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": "http://127.0.0.1:9/cb/rp"}
    st, tokens = h.json("POST", "/oidc/token", form, _basic("rp", secret))
    assert st == 200 and tokens["scope"] == "openid scope_all", tokens
    env.secrets.update([tokens["access_token"], tokens["refresh_token"]])
    for scope in (long_scope + "extra", "scope_all", ""):
        refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "scope": scope}
        st, body = h.json("POST", "/oidc/token", refresh, _basic("rp", secret))
        assert st == 400 and body["error"] == "invalid_scope", (scope, st, body)
    st, body = h.json("POST", "/oidc/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                              "scope": "openid"}, _basic("rp", secret))
    assert st == 200 and body["scope"] == "openid", body
    env.secrets.update([body["access_token"], body["refresh_token"]])
    # Only that access token was narrowed: the new refresh token keeps the grant's scope (RFC 6749 §6).
    st, body = h.json("POST", "/oidc/token", {"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                              "scope": "openid scope_all"}, _basic("rp", secret))
    assert st == 200 and body["scope"] == "openid scope_all", body
    env.secrets.update([body["access_token"], body["refresh_token"]])
    st, body = h.json("POST", "/oidc/token", {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                      _basic("rp", secret))
    assert st == 200 and body["scope"] == "openid scope_all", body
    env.secrets.update([body["access_token"], body["refresh_token"]])
    srv.stop_ok()


def test_curl_flow(ctx):
    """The whole login with curl, as an integrator would try it by hand: discovery, the authorization
    page, the e-CPS form, the code exchange with Basic credentials, userinfo, the token on /fhir."""
    env = ctx.env
    d, db, pros = _setup(env, "psc-curl", count=10)
    secret = _client(env, d, db, "rp")
    srv = env.server(d, db, name="psc-curl")
    idnps = pros[0]
    key = _activate(env, d, db, Http(srv.port), idnps)
    base = srv.url

    def curl(*args):
        p = subprocess.run(["curl", "-sS", "--max-time", "30", *args], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, (args[:3], p.stderr)
        return p.stdout

    conf = json.loads(curl(base + "/oidc/.well-known/openid-configuration"))
    assert conf["issuer"] == base + "/oidc" and "S256" in conf["code_challenge_methods_supported"], conf
    verifier, challenge = pkce()
    auth = conf["authorization_endpoint"] + "?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": "rp", "redirect_uri": "http://127.0.0.1:9/cb/rp", "scope": "openid",
        "state": "curl-state", "nonce": "curl-nonce", "code_challenge": challenge, "code_challenge_method": "S256"})
    page = curl(auth)
    request = html.unescape(re.search(r'name="request" value="([^"]+)"', page).group(1))
    head = curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "--data-urlencode", "request=" + request,
                "--data-urlencode", "idnps=" + idnps, "--data-urlencode", "otp=" + totp(key), base + "/oidc/login")
    status, location = head.split(" ", 1)
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert status == "302" and q["state"] == ["curl-state"], head
    tokens = json.loads(curl("-u", "rp:" + secret, "--data-urlencode", "grant_type=authorization_code",
                             "--data-urlencode", "code=" + q["code"][0], "--data-urlencode",
                             "redirect_uri=http://127.0.0.1:9/cb/rp", "--data-urlencode", "code_verifier=" + verifier,
                             conf["token_endpoint"]))
    assert tokens.get("token_type") == "Bearer", tokens
    env.secrets.update([tokens["access_token"], tokens["refresh_token"]])
    info = json.loads(curl("-H", "Authorization: Bearer " + tokens["access_token"], conf["userinfo_endpoint"]))
    assert info["SubjectNameID"] == idnps, info
    status = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer " + tokens["access_token"],
                  base + "/fhir/Practitioner/" + idnps)
    assert status == "200", status
    srv.stop_ok()


def test_failures_forgotten_after_quiet_period(ctx):
    """Failed logins are forgotten after psc_login_quiet_s without one (1 s here), so a shared
    address does not climb to long lockouts over time; failures in a row still lock."""
    env = ctx.env
    d, db, pros = _setup(env, "psc-quiet", count=10)
    _client(env, d, db, "rp")
    srv = env.server(d, db, ["--psc-login-max-failures", "3", "--psc-login-quiet-s", "1"], name="psc-quiet")
    h = Http(srv.port)
    verifier, challenge = pkce()
    st, _, page = _authorize(h, "rp", challenge)
    request = html.unescape(re.search(r'name="request" value="([^"]+)"', page).group(1))

    def attempt():
        return h.send("POST", "/oidc/login", {"request": request, "idnps": pros[0], "otp": "000000"})[0]

    assert [attempt(), attempt()] == [401, 401]
    time.sleep(2.2)  # longer than the quiet period: the two failures are forgotten
    assert [attempt(), attempt(), attempt()] == [401, 401, 401], "counting starts again after the quiet period"
    assert attempt() == 429, "three failures in a row lock the next attempt"
    srv.stop_ok()


def _request_blob(h, cid="rp"):
    """The signed request of a login page (what the login forms post back)."""
    _, challenge = pkce()
    st, _, page = _authorize(h, cid, challenge)
    assert st == 200, (st, short(page))
    return html.unescape(re.search(r'name="request" value="([^"]+)"', page).group(1))


def test_parallel_guesses_are_counted(ctx):
    """Wrong e-CPS codes sent all at once: each one is checked against the lockout and counted in
    one step, so no more than psc_login_max_failures of them (3 here) get an answer other than 429,
    however many run side by side."""
    env = ctx.env
    d, db, pros = _setup(env, "psc-burst", count=10)
    _client(env, d, db, "rp")
    srv = env.server(d, db, ["--psc-login-max-failures", "3", "--threads", "16", "--db-pool-size", "24"],
                     name="psc-burst")
    h = Http(srv.port)
    _activate(env, d, db, h, pros[0])
    request = _request_blob(h)
    statuses = all_at_once(32, lambda i: h.send("POST", "/oidc/login", {
        "request": request, "idnps": pros[0], "otp": "000000"})[0])
    assert_at_most_answered(statuses, 32, 3)
    srv.stop_ok()


def _fail_revocations(env, db, on):
    """Make the store refuse (on) or accept again (off) the revocation of refresh tokens: a trigger
    that aborts every UPDATE setting state 2 (revoked) in psc_refresh."""
    if db.startswith("sqlite:"):
        con = sqlite3.connect(db[len("sqlite:"):], timeout=30)
        con.execute("CREATE TRIGGER it_no_revoke BEFORE UPDATE ON psc_refresh WHEN NEW.state = 2"
                    " BEGIN SELECT RAISE(ABORT, 'it: revocation refused'); END" if on else
                    "DROP TRIGGER it_no_revoke")
        con.commit()
        con.close()
    elif on:
        env.psql("CREATE FUNCTION it_no_revoke() RETURNS trigger LANGUAGE plpgsql AS"
                 " $$BEGIN RAISE EXCEPTION 'it: revocation refused'; END$$;"
                 " CREATE TRIGGER it_no_revoke BEFORE UPDATE ON psc_refresh FOR EACH ROW WHEN (NEW.state = 2)"
                 " EXECUTE FUNCTION it_no_revoke()", url=db)
    else:
        env.psql("DROP TRIGGER it_no_revoke ON psc_refresh; DROP FUNCTION it_no_revoke()", url=db)


def test_revocation(ctx):
    """RFC 7009: a refresh token issued to another client is refused (400 invalid_grant, RFC 7009
    §2.1 and RFC 6749 §5.2) and stays valid; a store that cannot revoke answers 503 (the client
    keeps the token and tries again, §2.2.1); an unknown token is 200."""
    env = ctx.env
    d, db, pros = _setup(env, "psc-revoke", count=10)
    secret = _client(env, d, db, "rp")
    secret2 = _client(env, d, db, "rp2")
    srv = env.server(d, db, name="psc-revoke")
    h = Http(srv.port)
    key = _activate(env, d, db, h, pros[0])
    verifier, challenge = pkce()
    code = _login(h, "rp", challenge, pros[0], totp(key))
    st, tokens = h.json("POST", "/oidc/token", {"grant_type": "authorization_code", "code": code,
                                                "redirect_uri": "http://127.0.0.1:9/cb/rp", "code_verifier": verifier},
                        _basic("rp", secret))
    assert st == 200, tokens
    env.secrets.update([tokens["access_token"], tokens["refresh_token"]])

    def refresh(token):
        st, body = h.json("POST", "/oidc/token", {"grant_type": "refresh_token", "refresh_token": token},
                          _basic("rp", secret))
        assert st == 200, (st, body)
        env.secrets.update([body["access_token"], body["refresh_token"]])
        return body["refresh_token"]

    st, body = h.json("POST", "/oidc/revoke", {"token": tokens["refresh_token"]}, _basic("rp2", secret2))
    assert st == 400 and body["error"] == "invalid_grant", (st, body)
    token = refresh(tokens["refresh_token"])  # not revoked
    st, body = h.json("POST", "/oidc/revoke", {"token": "no-such-token"}, _basic("rp2", secret2))
    assert st == 200, (st, body)

    _fail_revocations(env, db, True)
    st, body = h.json("POST", "/oidc/revoke", {"token": token}, _basic("rp", secret))
    _fail_revocations(env, db, False)
    assert st == 503 and body["error"] == "temporarily_unavailable", (st, body)
    token = refresh(token)  # still valid: nothing was revoked
    st, _ = h.json("POST", "/oidc/revoke", {"token": token}, _basic("rp", secret))
    assert st == 200, st
    st, body = h.json("POST", "/oidc/token", {"grant_type": "refresh_token", "refresh_token": token}, _basic("rp", secret))
    assert st == 400 and body["error"] == "invalid_grant" and "revoked" in body["error_description"], body
    srv.stop_ok()


def test_active_unknown_cannot_log_in(ctx):
    """A Practitioner of the directory whose active flag is absent (unknown in FHIR) is treated as not
    active, the stricter reading, everywhere: the login refuses it (not the token endpoint later)."""
    env = ctx.env
    d, db, pros = _setup(env, "psc-active", count=10)
    secret = _client(env, d, db, "rp")
    srv = env.server(d, db, name="psc-active")
    h = Http(srv.port)
    key = _activate(env, d, db, h, pros[0])
    admin = srv.client(env.token(d, "it-admin", "system", roles=["admin"]))
    prac = admin.get("/fhir/Practitioner/" + pros[0], expect=200).json
    del prac["active"]
    admin.put("/fhir/Practitioner/" + pros[0], prac, expect=200)
    verifier, challenge = pkce()
    code = _login(h, "rp", challenge, pros[0], totp(key), expect=401)
    assert code is None
    p = env.cli("psc", "enrol", "--idnps", pros[0], "--data", d, "--db", db, check=False)
    assert p.returncode == 1 and "not in the directory" in p.stderr, p.stderr
    # Once active again, the same professional logs in and gets tokens.
    prac["active"] = True
    admin.put("/fhir/Practitioner/" + pros[0], prac, expect=200)
    code = _login(h, "rp", challenge, pros[0], totp(key, time.time() + 30))
    st, tokens = h.json("POST", "/oidc/token", {"grant_type": "authorization_code", "code": code,
                                                "redirect_uri": "http://127.0.0.1:9/cb/rp", "code_verifier": verifier},
                        _basic("rp", secret))
    assert st == 200, tokens
    env.secrets.update([tokens["access_token"], tokens["refresh_token"]])
    srv.stop_ok()
