"""test_auth.py - bearer tokens (missing, garbage, expired, wrong audience/issuer/key, forged) and the
foundation policy (who may read what; refusals are 403 and audited)."""

import base64
import json
import time

import harness
from harness import wait_for


def _b64(obj):
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()


def _unb64(s):
    return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))


def _assert_401(r):
    assert r.status == 401, "expected 401, got %r" % r
    w = r.h("WWW-Authenticate") or ""
    assert w.startswith("Bearer"), "WWW-Authenticate %r" % w
    assert 'realm="socle"' in w, "WWW-Authenticate without realm: %r" % w
    assert 'error="invalid_token"' in w, "WWW-Authenticate without error=invalid_token: %r" % w
    assert r.json and r.json.get("resourceType") == "OperationOutcome", r


def test_no_token_401(ctx):
    r = ctx.anon.get("/fhir/Patient")
    _assert_401(r)
    r = ctx.anon.post("/fhir/Patient", {"resourceType": "Patient"})
    _assert_401(r)
    r = ctx.anon.get("/fhir/Practitioner?_count=1")
    _assert_401(r)


def test_garbage_tokens_401(ctx):
    c = ctx.srv.client(None)
    for bad in ("abc", "abc.def.ghi", "....", "e30.e30.", "x" * 5000, ctx.tokens["admin"] + "x",
                ctx.tokens["admin"][:-4], "Basic dXNlcjpwYXNz"):
        _assert_401(c.get("/fhir/Patient?_count=1", headers={"Authorization": "Bearer " + bad}))
    # Other schemes and an empty bearer are refused the same way.
    for h in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "bearer" + ctx.tokens["admin"]):
        _assert_401(c.get("/fhir/Patient?_count=1", headers={"Authorization": h}))


def test_expired_token_401(ctx):
    tok = ctx.env.token(ctx.data, "it-admin-short", "system", roles=["admin"], ttl=1)
    time.sleep(2.2)
    _assert_401(ctx.srv.client(tok).get("/fhir/Patient?_count=1"))


def test_wrong_audience_401(ctx):
    tok = ctx.env.token(ctx.data, "it-admin", "system", roles=["admin"], extra=["--audience", "someone-else"])
    assert _unb64(tok.split(".")[1]).get("aud") in ("someone-else", ["someone-else"]), "token issue ignored --audience"
    _assert_401(ctx.srv.client(tok).get("/fhir/Patient?_count=1"))


def test_unknown_issuer_401(ctx):
    tok = ctx.env.token(ctx.data, "it-admin", "system", roles=["admin"], extra=["--issuer", "https://evil.example"])
    assert _unb64(tok.split(".")[1]).get("iss") == "https://evil.example", "token issue ignored --issuer"
    _assert_401(ctx.srv.client(tok).get("/fhir/Patient?_count=1"))


def test_other_key_401(ctx):
    other = ctx.env.new_data("otherkey", pki=False)
    tok = ctx.env.token(other, "it-admin", "system", roles=["admin"])
    _assert_401(ctx.srv.client(tok).get("/fhir/Patient?_count=1"))


def test_forged_tokens_401(ctx):
    h, p, s = ctx.tokens["pro"].split(".")
    claims = _unb64(p)
    # Elevate the roles without re-signing.
    forged = dict(claims, roles=["admin"])
    _assert_401(ctx.srv.client(h + "." + _b64(forged) + "." + s).get("/fhir/Patient?_count=1"))
    # alg none, and an HMAC token "signed" with the public key.
    _assert_401(ctx.srv.client(_b64({"alg": "none", "typ": "JWT"}) + "." + _b64(forged) + ".").get("/fhir/Patient?_count=1"))
    _assert_401(ctx.srv.client(_b64({"alg": "HS256", "typ": "JWT"}) + "." + _b64(forged) + "." + s).get("/fhir/Patient?_count=1"))
    # The signature of one token on another payload.
    _assert_401(ctx.srv.client(h + "." + ctx.tokens["admin"].split(".")[1] + "." + s).get("/fhir/Patient?_count=1"))


def test_valid_token_claims(ctx):
    c = _unb64(ctx.tokens["pro"].split(".")[1])
    for k in ("iss", "sub", "aud", "exp", "iat", "jti"):
        assert k in c, "token lacks claim %s: %s" % (k, sorted(c))
    assert c["sub"] == "810000000042" and c.get("socle_kind") == "professional", c
    assert c.get("profession") == "10" and c.get("structure") == "it-structure", c
    a = _unb64(ctx.tokens["admin"].split(".")[1])
    assert "admin" in a.get("roles", []), a
    hdr = _unb64(ctx.tokens["pro"].split(".")[0])
    assert hdr.get("alg") == "ES256", hdr


def test_policy_professional(ctx):
    name = ctx.secret("Policyfamilyé")
    p = ctx.admin.create({"resourceType": "Patient", "name": [{"family": name, "given": ["Ignace"]}]})
    pid = p["id"]
    ctx.pro.get("/fhir/Patient/" + pid, expect=403)
    ctx.pro.get("/fhir/Patient?_id=" + pid, expect=403)
    ctx.pro.post("/fhir/Patient", {"resourceType": "Patient"}, expect=403)
    ctx.pro.get("/fhir/AuditEvent", expect=403)
    ctx.pro.get("/fhir/Practitioner", expect=200)
    ctx.pro.get("/fhir/Organization?_count=5", expect=200)
    for t in ("PractitionerRole", "Location", "HealthcareService"):
        ctx.pro.get("/fhir/" + t, expect=200)
    # Reading the directory is allowed, writing it is not.
    ctx.pro.post("/fhir/Practitioner", {"resourceType": "Practitioner"}, expect=403)

    # The refusal is audited: the auditor finds it by agent, outcome 4 (minor failure).
    def refused():
        b = ctx.auditor.search("AuditEvent", "agent=810000000042&_count=100").json
        return [e["resource"] for e in b.get("entry", []) if e["resource"].get("outcome") == "4"]
    events = wait_for(refused, "AuditEvent of the 403 for agent 810000000042")
    ev = events[0]
    who = json.dumps(ev.get("agent", []))
    assert "810000000042" in who, "refusal event agent %s" % who


def test_policy_patient_kind(ctx):
    p = ctx.admin.create({"resourceType": "Patient", "active": True})
    ctx.patient.get("/fhir/Patient/" + p["id"], expect=403)
    ctx.patient.get("/fhir/Practitioner", expect=200)


def test_policy_system_and_roles(ctx):
    # kind system: everything except reading the audit trail.
    p = ctx.system.create({"resourceType": "Patient", "active": True})
    ctx.system.get("/fhir/Patient/" + p["id"], expect=200)
    ctx.system.get("/fhir/AuditEvent", expect=403)
    # auditor: the audit trail, not patient data.
    ctx.auditor.get("/fhir/AuditEvent?_count=1", expect=200)
    ctx.auditor.get("/fhir/Patient/" + p["id"], expect=403)
    # admin: everything.
    ctx.admin.get("/fhir/AuditEvent?_count=1", expect=200)
    ctx.admin.get("/fhir/Patient/" + p["id"], expect=200)
