"""test_crud.py - Patient create/read/vread/update/delete/history, versions and ETags, conditional
create, Prefer: return=minimal."""

import json
import re
import time

import harness
from harness import uid

SYS = "urn:socle:test:ipp"  # a local identifier system (an INS needs a qualified identity)


def _patient(family, given="Zoé", **extra):
    p = {"resourceType": "Patient", "name": [{"family": family, "given": [given]}], "gender": "female",
         "birthDate": "1974-03-12"}
    p.update(extra)
    return p


def _etag_version(r):
    et = r.h("ETag")
    assert et, "%r: no ETag" % r
    m = re.fullmatch(r'W/"([^"]+)"', et)
    assert m, "ETag %r is not W/\"n\"" % et
    return m.group(1)


def test_decimals_kept(ctx):
    """A decimal comes back as it was sent (37.2, not 37.200000000000003)."""
    body = {"resourceType": "DocumentReference", "status": "current",
            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}],
            "extension": [{"url": "http://example.org/t", "valueDecimal": 37.2},
                          {"url": "http://example.org/u", "valueDecimal": 0.1}]}
    r = ctx.admin.post("/fhir/DocumentReference", body, expect=201)
    raw = r.body.decode("utf-8")
    assert '"valueDecimal":37.2' in raw.replace(" ", "") and '"valueDecimal":0.1' in raw.replace(" ", ""), raw
    again = ctx.admin.get("/fhir/DocumentReference/" + r.json["id"]).body.decode("utf-8").replace(" ", "")
    assert '"valueDecimal":37.2,' in again or '"valueDecimal":37.2}' in again, again


def test_create_read(ctx):
    fam = ctx.secret("Lefèvre-Öztürk")
    body = _patient(fam, identifier=[{"system": SYS, "value": "2" + uid(6)}])
    r = ctx.admin.post("/fhir/Patient", body, expect=201)
    p = r.json
    pid = p["id"]
    assert re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", pid), "server id %r" % pid
    assert p["meta"]["versionId"] == "1", p["meta"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", p["meta"]["lastUpdated"]), p["meta"]
    assert _etag_version(r) == "1"
    loc = r.h("Location") or ""
    assert loc.startswith("http") and loc.endswith("/fhir/Patient/%s/_history/1" % pid), "Location %r" % loc
    assert r.h("Last-Modified"), "no Last-Modified on create"
    assert p["name"][0]["family"] == fam, "UTF-8 family changed: %r" % p["name"][0]["family"]
    # Read: same content, ETag, the location works.
    g = ctx.admin.get("/fhir/Patient/" + pid, expect=200)
    assert _etag_version(g) == "1"
    assert g.json["name"] == body["name"] and g.json["birthDate"] == "1974-03-12" and g.json["gender"] == "female"
    assert g.json["identifier"] == body["identifier"]
    assert g.h("Last-Modified")
    ctx.admin.get(loc, expect=200)


def test_create_ignores_client_id_and_meta(ctx):
    r = ctx.admin.post("/fhir/Patient", dict(_patient("Idclient"), id="client-chosen",
                                                meta={"versionId": "42", "lastUpdated": "2001-01-01T00:00:00Z"}),
                       expect=201)
    assert r.json["id"] != "client-chosen", "create kept the client's id"
    assert r.json["meta"]["versionId"] == "1"
    assert not r.json["meta"]["lastUpdated"].startswith("2001"), "create kept the client's lastUpdated"


def test_read_missing_404(ctx):
    ctx.admin.get("/fhir/Patient/does-not-exist-" + uid(), expect=404)
    ctx.admin.get("/fhir/Patient/does-not-exist-%s/_history/1" % uid(), expect=404)


def test_prefer_return_minimal(ctx):
    r = ctx.admin.post("/fhir/Patient", _patient("Minimal"), headers={"Prefer": "return=minimal"}, expect=201)
    assert not r.body, "return=minimal but a body of %d bytes" % len(r.body)
    loc = r.h("Location")
    assert loc and "/_history/1" in loc
    ctx.admin.get(loc, expect=200)


def test_update_versions_and_if_match(ctx):
    fam = ctx.secret("Versionnée")
    p = ctx.admin.create(_patient(fam))
    pid = p["id"]
    p2 = dict(p, gender="male")
    del p2["meta"]
    r = ctx.admin.put("/fhir/Patient/" + pid, p2, headers={"If-Match": 'W/"1"'}, expect=200)
    assert r.json["meta"]["versionId"] == "2" and _etag_version(r) == "2", r.json["meta"]
    assert r.json["gender"] == "male"
    # Stale If-Match: 412, and nothing changed.
    p3 = dict(p2, gender="other")
    ctx.admin.put("/fhir/Patient/" + pid, p3, headers={"If-Match": 'W/"1"'}, expect=412)
    g = ctx.admin.get("/fhir/Patient/" + pid, expect=200)
    assert g.json["gender"] == "male" and g.json["meta"]["versionId"] == "2"
    # Without If-Match: last writer wins.
    r = ctx.admin.put("/fhir/Patient/" + pid, p3, expect=200)
    assert r.json["meta"]["versionId"] == "3"
    # vread each version.
    v1 = ctx.admin.get("/fhir/Patient/%s/_history/1" % pid, expect=200)
    assert v1.json["gender"] == "female" and v1.json["meta"]["versionId"] == "1" and _etag_version(v1) == "1"
    v2 = ctx.admin.get("/fhir/Patient/%s/_history/2" % pid, expect=200)
    assert v2.json["gender"] == "male"
    ctx.admin.get("/fhir/Patient/%s/_history/9" % pid, expect=404)
    # History: newest first.
    h = ctx.admin.get("/fhir/Patient/%s/_history" % pid, expect=200).json
    assert h["resourceType"] == "Bundle" and h["type"] == "history", h.get("type")
    vids = [e["resource"]["meta"]["versionId"] for e in h["entry"]]
    assert vids == ["3", "2", "1"], "history versions %s, expected newest first 3,2,1" % vids
    h = ctx.admin.get("/fhir/Patient/%s/_history?_count=2" % pid, expect=200).json
    assert [e["resource"]["meta"]["versionId"] for e in h["entry"]] == ["3", "2"], "_count=2 on history"


def test_update_same_content_still_versions_or_not(ctx):
    # Whatever the server does with a no-op update, the ETag and the body agree.
    p = ctx.admin.create(_patient("Noop"))
    body = {k: v for k, v in p.items() if k != "meta"}
    r = ctx.admin.put("/fhir/Patient/" + p["id"], body, expect=200)
    assert _etag_version(r) == r.json["meta"]["versionId"]


def test_update_as_create(ctx):
    pid = "it-" + uid(12)
    r = ctx.admin.put("/fhir/Patient/" + pid, dict(_patient("Putcreate"), id=pid), expect=201)
    assert r.json["id"] == pid and r.json["meta"]["versionId"] == "1"
    assert (r.h("Location") or "").endswith("/fhir/Patient/%s/_history/1" % pid), r.h("Location")
    ctx.admin.get("/fhir/Patient/" + pid, expect=200)


def test_update_id_mismatch_400(ctx):
    p = ctx.admin.create(_patient("Mismatch"))
    ctx.admin.put("/fhir/Patient/" + p["id"], dict(_patient("Mismatch"), id="other-id"), expect=400)
    ctx.admin.put("/fhir/Patient/" + p["id"], _patient("Mismatch"), expect=400)  # no id in the body
    g = ctx.admin.get("/fhir/Patient/" + p["id"], expect=200)
    assert g.json["meta"]["versionId"] == "1"


def test_update_bad_if_match(ctx):
    p = ctx.admin.create(_patient("Ifmatch"))
    body = dict(_patient("Ifmatch"), id=p["id"])
    r = ctx.admin.put("/fhir/Patient/" + p["id"], body, headers={"If-Match": "garbage"})
    assert r.status in (400, 412), "malformed If-Match: %r" % r
    r = ctx.admin.put("/fhir/Patient/" + p["id"], body, headers={"If-Match": 'W/"99999999999999999999999"'})
    assert r.status in (400, 412), r


def test_delete(ctx):
    fam = ctx.secret("Supprimée")
    p = ctx.admin.create(_patient(fam))
    pid = p["id"]
    r = ctx.admin.delete("/fhir/Patient/" + pid, expect=204)
    assert not r.body
    ctx.admin.get("/fhir/Patient/" + pid, expect=410)
    ctx.admin.delete("/fhir/Patient/" + pid, expect=204)       # already deleted
    ctx.admin.delete("/fhir/Patient/never-" + uid(), expect=204)  # never existed
    # The old version stays readable; history shows the deletion first.
    ctx.admin.get("/fhir/Patient/%s/_history/1" % pid, expect=200)
    h = ctx.admin.get("/fhir/Patient/%s/_history" % pid, expect=200).json
    assert len(h["entry"]) == 2, "history after delete has %d entries" % len(h["entry"])
    first = h["entry"][0]
    assert "resource" not in first or (first.get("request") or {}).get("method") == "DELETE", \
        "newest history entry is not the deletion: %s" % harness.short(str(first))
    # Not found by search any more.
    b = ctx.admin.search("Patient", "_id=" + pid).json
    assert not harness.matches(b), "deleted Patient still found by search"
    # Update after delete brings it back with a new version.
    r = ctx.admin.put("/fhir/Patient/" + pid, dict(_patient(fam), id=pid), expect=(200, 201))
    assert int(r.json["meta"]["versionId"]) >= 3, r.json["meta"]
    ctx.admin.get("/fhir/Patient/" + pid, expect=200)


def test_type_and_system_history(ctx):
    before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    a = ctx.admin.create(_patient("Histtype"))
    h = ctx.admin.get("/fhir/Patient/_history?_count=5", expect=200).json
    assert h["type"] == "history" and 1 <= len(h["entry"]) <= 5, len(h.get("entry", []))
    assert h["entry"][0]["resource"]["id"] == a["id"], "type history is not newest first"
    h = ctx.admin.get("/fhir/Patient/_history?_since=" + before, expect=200).json
    assert a["id"] in [e["resource"]["id"] for e in h["entry"] if "resource" in e]
    h = ctx.admin.get("/fhir/_history?_count=3", expect=200).json
    assert h["type"] == "history" and 1 <= len(h["entry"]) <= 3
    h = ctx.admin.get("/fhir/Patient/_history?_since=2999-01-01T00:00:00Z", expect=200).json
    assert not h.get("entry"), "history since the future is not empty"


def test_conditional_create(ctx):
    val = "1" + uid(8)
    q = "identifier=%s|%s" % (SYS, val)
    body = _patient("Conditionnel", identifier=[{"system": SYS, "value": val}])
    r1 = ctx.admin.post("/fhir/Patient", body, headers={"If-None-Exist": q}, expect=201)
    r2 = ctx.admin.post("/fhir/Patient", body, headers={"If-None-Exist": q}, expect=200)
    assert r2.json["id"] == r1.json["id"], "conditional create with 1 match returned another resource"
    b = ctx.admin.search("Patient", q).json
    assert len(harness.matches(b)) == 1, "conditional create made a duplicate"
    ctx.admin.post("/fhir/Patient", body, expect=201)  # plain create: now two match
    ctx.admin.post("/fhir/Patient", body, headers={"If-None-Exist": q}, expect=412)
    assert len(harness.matches(ctx.admin.search("Patient", q).json)) == 2
    # One Patient matching forty times fills the first page of the condition's search on its own:
    # the second match, on the next page, still makes it ambiguous.
    fam = "Cond" + uid(6)
    ctx.admin.create(_patient(fam + "a", name=[{"family": fam + "a", "given": [fam + "%02d" % i for i in range(40)]}]))
    ctx.admin.create(_patient(fam + "z"))
    cond = "name=" + fam
    ctx.admin.post("/fhir/Patient", _patient(fam + "b"), headers={"If-None-Exist": cond}, expect=412)
    # A malformed condition is the caller's fault, and so are parameters that are not conditions
    # (with _summary=count the search returned no resource, and the server created one).
    for cond in (q + "&_summary=count", q + "&_count=1", "_sort=family&" + q):
        r = ctx.admin.post("/fhir/Patient", body, headers={"If-None-Exist": cond})
        assert r.status == 400, "If-None-Exist %s: %r" % (cond, r)
    r = ctx.admin.post("/fhir/Patient", body, headers={"If-None-Exist": "nosuchparam=1"})
    assert r.status == 400, "If-None-Exist with an unknown parameter: %r" % r
    # The match is not a way round the policy: in a transaction, a caller who may neither create nor
    # read Patients learns nothing of an existing one (it used to get 200 and its id, untraced).
    one = "1" + uid(8)
    ctx.admin.create(_patient("Existant", identifier=[{"system": SYS, "value": one}]))
    entry = {"fullUrl": "urn:uuid:%s-0000-4000-8000-000000000000" % uid(8), "resource": _patient("Sonde"),
             "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=%s|%s" % (SYS, one)}}
    ctx.pro.post("/fhir", {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}, expect=403)
    # Answered to a caller who may read it, and traced as a read.
    r = ctx.admin.post("/fhir", {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}, expect=200)
    found = r.json["entry"][0]["response"]
    assert found["status"].startswith("200") and found["location"].startswith("Patient/"), found
    pid = found["location"].split("/")[1]
    harness.wait_for(lambda: "If-None-Exist matched" in json.dumps(
        ctx.admin.search("AuditEvent", "patient=Patient/%s&_count=100" % pid).json), "the match traced as a read")


def test_delete_trace_and_history_paging(ctx):
    # The trace of a deletion names its patient; history pages keep _since.
    p = ctx.admin.create(_patient("Versionne"))
    c = ctx.admin.create({"resourceType": "Consent", "status": "active", "scope": {"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": "Patient/" + p["id"]}})
    ctx.admin.delete("/fhir/Consent/" + c["id"], expect=204)
    harness.wait_for(lambda: any("delete" in json.dumps(e) and c["id"] in json.dumps(e) for e in ctx.admin.search(
        "AuditEvent", "patient=Patient/%s&_count=100" % p["id"]).json.get("entry", [])), "the deletion in the patient's traces")
    for i in range(3):
        ctx.admin.put("/fhir/Patient/" + p["id"], dict(_patient("Versionne %d" % i), id=p["id"]), expect=200)
    page = ctx.admin.get("/fhir/Patient/%s/_history?_since=2000-01-01T00:00:00Z&_count=1" % p["id"]).json
    nxt = harness.link(page, "next")
    assert nxt and "_since=2000-01-01T00:00:00Z" in nxt, nxt
    # A :contains value is bounded: a clear 400, not a 500 from SQLite's pattern limit.
    r = ctx.admin.request("POST", "/fhir/Practitioner/_search", ("name:contains=" + "a" * 60000).encode(),
                          ctype="application/x-www-form-urlencoded")
    assert r.status == 400, r


def test_etag_on_every_read(ctx):
    for t, body in (("Organization", {"resourceType": "Organization", "name": "Org etag"}),
                    ("Practitioner", {"resourceType": "Practitioner", "active": True})):
        o = ctx.admin.create(body)
        r = ctx.pro.get("/fhir/%s/%s" % (t, o["id"]), expect=200)
        assert _etag_version(r) == "1"
