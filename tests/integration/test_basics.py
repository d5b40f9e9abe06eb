"""test_basics.py - the validator itself, /healthz, /metrics, JWKS, the CapabilityStatement."""

import glob
import json
import os
import re

import harness

TYPES = ["Patient", "Practitioner", "PractitionerRole", "Organization", "Location", "HealthcareService",
         "DocumentReference", "List", "Binary", "AuditEvent", "Consent", "MedicationRequest", "MedicationDispense"]


def test_validator_rejects_invalid_resources(ctx):
    v = ctx.env.validator
    assert v.check({"resourceType": "Patient", "gender": 42}), "Patient with gender 42 accepted"
    assert v.check({"resourceType": "Patient", "birthDate": "1980-13-45"}), "bad birthDate accepted"
    assert v.check({"resourceType": "Patient", "unknownElement": 1}), "unknown element accepted"
    assert v.check({"resourceType": "NoSuchType"}), "unknown resourceType accepted"
    assert v.check({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {"resourceType": "Patient", "active": "yes"}}]}), \
        "Bundle with an invalid entry accepted"
    assert v.check({"resourceType": "Patient", "id": "a", "gender": "female"}) is None


def test_validator_accepts_ans_examples(ctx):
    files = sorted(glob.glob("/work/shared/conformance/pdsm/*.json")) or sorted(
        glob.glob(os.path.join(harness.ROOT, "tests", "schema", "examples", "*.json")))
    if not files:
        ctx.skip("no ANS examples on this machine")
    for f in files:
        with open(f, encoding="utf-8") as fh:
            res = json.load(fh)
        msg = ctx.env.validator.check(res)
        assert msg is None, "%s: %s" % (os.path.basename(f), msg)


def test_healthz(ctx):
    r = ctx.anon.get("/healthz", expect=200)
    assert r.json == {"status": "ok"} or (isinstance(r.json, dict) and r.json.get("status") == "ok"), r
    assert r.h("X-Request-Id")


def test_request_ids_differ(ctx):
    a = ctx.anon.get("/healthz", expect=200).h("X-Request-Id")
    b = ctx.anon.get("/healthz", expect=200).h("X-Request-Id")
    assert a != b, "two requests got the same X-Request-Id %r" % a


def test_metrics(ctx):
    ctx.admin.get("/fhir/Patient?_count=1", expect=200)
    ctx.anon.get("/fhir/Patient", expect=401)
    r = ctx.anon.get("/metrics", expect=200)
    ct = r.h("Content-Type") or ""
    assert ct.startswith("text/plain"), "metrics Content-Type %r" % ct
    text = r.body.decode()
    assert "socle_http_requests_total" in text, "no socle_http_requests_total in /metrics"
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
                        r'[-+]?([0-9.eE+-]+|NaN|[+-]?Inf)( [0-9]+)?$')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            assert not line or re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* ", line) or line.startswith("# "), line
            continue
        assert sample.match(line), "not a Prometheus sample line: %r" % line[:200]
    # Requests are counted by status: the 401 above and some 200.
    req = [l for l in text.splitlines() if l.startswith("socle_http_requests_total")]
    assert any('"401"' in l for l in req), "no 401 counted in socle_http_requests_total: %s" % req[:10]
    assert any('"200"' in l for l in req), "no 200 counted in socle_http_requests_total"
    total = sum(float(l.rsplit(" ", 1)[1]) for l in req)
    assert total >= 3, "socle_http_requests_total sums to %s after several requests" % total
    assert "_bucket" in text and "le=" in text, "no latency histogram in /metrics"
    # The issue asks for store time and open connections too.
    names = {l.split("{")[0].split(" ")[0] for l in text.splitlines() if l and not l.startswith("#")}
    assert any(n.startswith("socle_store") for n in names), "no store timing metric: %s" % sorted(names)
    assert any("connections" in n for n in names), "no open-connections metric: %s" % sorted(names)


def test_jwks(ctx):
    r = ctx.anon.get("/.well-known/jwks.json", expect=200)
    keys = r.json.get("keys")
    assert isinstance(keys, list) and keys, "no keys in JWKS: %r" % r
    k = keys[0]
    assert k.get("kty") == "EC" and k.get("crv") == "P-256" and k.get("x") and k.get("y"), "JWKS key %r" % k
    assert "d" not in k, "JWKS publishes the private key"


def test_metadata_without_token(ctx):
    r = ctx.anon.get("/fhir/metadata", expect=200)
    cs = r.json
    assert cs["resourceType"] == "CapabilityStatement", r
    assert cs.get("fhirVersion") == "4.0.1", "fhirVersion %r" % cs.get("fhirVersion")
    assert "json" in " ".join(cs.get("format", [])), "format %r" % cs.get("format")
    rest = cs["rest"][0]
    assert rest.get("mode") == "server"
    by_type = {res["type"]: res for res in rest.get("resource", [])}
    for t in TYPES:
        assert t in by_type, "CapabilityStatement does not list %s" % t
    extra = set(by_type) - set(TYPES)
    assert not extra, "CapabilityStatement lists unsupported types %s" % sorted(extra)
    pat = by_type["Patient"]
    inter = {i["code"] for i in pat.get("interaction", [])}
    for code in ("read", "vread", "update", "delete", "history-instance", "create", "search-type"):
        assert code in inter, "Patient interaction %s not listed (%s)" % (code, sorted(inter))
    params = {p["name"]: p.get("type") for p in pat.get("searchParam", [])}
    for name, kind in (("identifier", "token"), ("family", "string"), ("birthdate", "date"), ("gender", "token")):
        assert params.get(name) == kind, "Patient searchParam %s: %r (have %s)" % (name, params.get(name), sorted(params))
    ae = {i["code"] for i in by_type["AuditEvent"].get("interaction", [])}
    assert not ae & {"create", "update", "delete"}, "AuditEvent is read-only but lists %s" % sorted(ae)
    assert "PractitionerRole:organization" in by_type["PractitionerRole"].get("searchInclude", []), \
        "PractitionerRole searchInclude %r" % by_type["PractitionerRole"].get("searchInclude")
    assert "DocumentReference:patient" in by_type["Patient"].get("searchRevInclude", []), \
        "Patient searchRevInclude %r" % by_type["Patient"].get("searchRevInclude")
    # What is listed must actually work: every declared search parameter is accepted.
    for t in ("Patient", "Practitioner", "Organization"):
        for p in by_type[t].get("searchParam", []):
            if p.get("type") in ("token", "string", "reference"):
                ctx.admin.search(t, "%s=zzz-none&_count=1" % p["name"])


def test_metadata_head_and_accept(ctx):
    # application/json is accepted as an Accept value too.
    r = ctx.anon.get("/fhir/metadata", headers={"Accept": "application/json"}, expect=200)
    assert r.json["resourceType"] == "CapabilityStatement"
