"""test_bundle.py - POST /fhir with Bundles: transaction (all or nothing, urn:uuid: references
rewritten) and batch (independent entries, one outcome each)."""

import uuid
import urllib.parse

import harness
from harness import matches, uid


def _status(entry):
    s = (entry.get("response") or {}).get("status", "")
    try:
        return int(s.split()[0])
    except (ValueError, IndexError):
        raise AssertionError("entry response status %r" % s)


def test_transaction_rewrites_urn_uuid(ctx):
    fam = ctx.secret("Transactionnelle")
    system = "urn:it:" + uid()
    pu, du = "urn:uuid:" + str(uuid.uuid4()), "urn:uuid:" + str(uuid.uuid4())
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": du, "resource": {"resourceType": "DocumentReference", "status": "current",
                                     "subject": {"reference": pu},
                                     "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]},
         "request": {"method": "POST", "url": "DocumentReference"}},
        {"fullUrl": pu, "resource": {"resourceType": "Patient", "identifier": [{"system": system, "value": "T1"}],
                                     "name": [{"family": fam}]},
         "request": {"method": "POST", "url": "Patient"}},
    ]}
    r = ctx.admin.post("/fhir", bundle, expect=200)
    b = r.json
    assert b["resourceType"] == "Bundle" and b["type"] == "transaction-response", b.get("type")
    assert len(b["entry"]) == 2, "transaction-response has %d entries" % len(b["entry"])
    locs = []
    for e in b["entry"]:
        assert _status(e) == 201, "entry status %r" % e["response"]
        locs.append(e["response"]["location"])
    # Entries answer in request order.
    assert "DocumentReference/" in locs[0] and "Patient/" in locs[1], locs
    pid = locs[1].split("Patient/")[1].split("/")[0]
    did = locs[0].split("DocumentReference/")[1].split("/")[0]
    doc = ctx.admin.get("/fhir/DocumentReference/" + did, expect=200).json
    assert doc["subject"]["reference"] == "Patient/" + pid, "urn:uuid not rewritten: %r" % doc["subject"]
    pat = ctx.admin.get("/fhir/Patient/" + pid, expect=200).json
    assert pat["name"][0]["family"] == fam


def test_transaction_all_or_nothing(ctx):
    system = "urn:it:" + uid()
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:" + str(uuid.uuid4()),
         "resource": {"resourceType": "Patient", "identifier": [{"system": system, "value": "ok"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:" + str(uuid.uuid4()),
         "resource": {"resourceType": "Patient", "birthDate": "1980-02-31x"},
         "request": {"method": "POST", "url": "Patient"}},
    ]}
    r = ctx.admin.post("/fhir", bundle)
    assert 400 <= r.status < 500, "transaction with an invalid entry: %r" % r
    b = ctx.admin.search("Patient", "identifier=%s|" % urllib.parse.quote(system)).json
    assert not matches(b), "the valid entry of a failed transaction was stored"
    # A failing PUT with If-Match rolls back a create too.
    p = ctx.admin.create({"resourceType": "Patient", "active": True})
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:" + str(uuid.uuid4()),
         "resource": {"resourceType": "Patient", "identifier": [{"system": system, "value": "ok2"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "Patient/" + p["id"], "resource": {"resourceType": "Patient", "id": p["id"], "active": False},
         "request": {"method": "PUT", "url": "Patient/" + p["id"], "ifMatch": 'W/"7"'}},
    ]}
    r = ctx.admin.post("/fhir", bundle, expect=412)
    assert not matches(ctx.admin.search("Patient", "identifier=%s|" % urllib.parse.quote(system)).json)
    assert ctx.admin.get("/fhir/Patient/" + p["id"], expect=200).json["active"] is True


def test_transaction_mixed_methods(ctx):
    p = ctx.admin.create({"resourceType": "Patient", "active": True})
    gone = ctx.admin.create({"resourceType": "Patient", "active": True})
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": p["id"], "active": False},
         "request": {"method": "PUT", "url": "Patient/" + p["id"]}},
        {"request": {"method": "DELETE", "url": "Patient/" + gone["id"]}},
        {"request": {"method": "GET", "url": "Patient/" + p["id"]}},
    ]}
    b = ctx.admin.post("/fhir", bundle, expect=200).json
    st = [_status(e) for e in b["entry"]]
    assert st[0] == 200 and st[1] in (200, 204), "statuses %s" % st
    assert ctx.admin.get("/fhir/Patient/" + p["id"]).json["active"] is False
    ctx.admin.get("/fhir/Patient/" + gone["id"], expect=410)


def test_batch_mixed_outcomes(ctx):
    system = "urn:it:" + uid()
    existing = ctx.admin.create({"resourceType": "Patient", "active": True})
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "Patient", "identifier": [{"system": system, "value": "b1"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "birthDate": "not-a-date"},
         "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/" + existing["id"]}},
        {"request": {"method": "GET", "url": "Patient/nope-" + uid()}},
        {"request": {"method": "GET", "url": "Patient?identifier=%s|" % urllib.parse.quote(system)}},
        {"request": {"method": "GET", "url": "NoSuchType/1"}},
    ]}
    b = ctx.admin.post("/fhir", bundle, expect=200).json
    assert b["type"] == "batch-response" and len(b["entry"]) == 6, (b.get("type"), len(b.get("entry", [])))
    st = [_status(e) for e in b["entry"]]
    assert st[0] == 201, st
    assert st[1] in (400, 422), st
    assert st[2] == 200 and b["entry"][2]["resource"]["id"] == existing["id"], st
    assert st[3] == 404, st
    assert st[4] == 200 and b["entry"][4]["resource"]["resourceType"] == "Bundle", st
    assert st[5] == 404, st
    assert b["entry"][1]["response"].get("outcome", {}).get("resourceType") == "OperationOutcome", \
        "failed batch entry without an OperationOutcome"
    # The valid entry was stored despite the invalid one.
    assert len(matches(ctx.admin.search("Patient", "identifier=%s|" % urllib.parse.quote(system)).json)) == 1


def test_bundle_errors(ctx):
    ctx.admin.post("/fhir", {"resourceType": "Bundle", "type": "collection", "entry": []}, expect=(400, 422))
    ctx.admin.post("/fhir", {"resourceType": "Patient"}, expect=(400, 422))
    ctx.admin.post("/fhir", {"resourceType": "Bundle", "type": "transaction",
                             "entry": [{"request": {"method": "POST", "url": "Patient"}}]}, expect=(400, 422))
    ctx.admin.post("/fhir", {"resourceType": "Bundle", "type": "batch",
                             "entry": [{"request": {"method": "PATCH", "url": "Patient/1"}}]}, expect=(200, 400, 405, 422))
    # An empty transaction is fine.
    b = ctx.admin.post("/fhir", {"resourceType": "Bundle", "type": "transaction", "entry": []}, expect=200).json
    assert b["type"] == "transaction-response"
    # Overlapping entries are refused, and nothing is written: one fullUrl twice (bdl-7), one resource
    # changed twice.
    p = ctx.admin.create({"resourceType": "Patient", "active": True})
    urn = "urn:uuid:%s-0000-4000-8000-000000000000" % uid(8)
    twice = [{"fullUrl": urn, "resource": {"resourceType": "Patient", "active": True},
              "request": {"method": "POST", "url": "Patient"}}] * 2
    r = ctx.admin.post("/fhir", {"resourceType": "Bundle", "type": "transaction", "entry": twice}, expect=400)
    assert "fullUrl" in str(r.json)
    both = [{"request": {"method": "DELETE", "url": "Patient/" + p["id"]}},
            {"resource": dict(p, active=False), "request": {"method": "PUT", "url": "Patient/" + p["id"]}}]
    ctx.admin.post("/fhir", {"resourceType": "Bundle", "type": "transaction", "entry": both}, expect=400)
    assert ctx.admin.get("/fhir/Patient/" + p["id"]).json["active"] is True


def test_bundle_policy(ctx):
    # The policy applies to every entry: a professional cannot create patients through a batch.
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "Patient", "active": True}, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Practitioner?_count=1"}},
    ]}
    r = ctx.pro.post("/fhir", bundle)
    if r.status == 200:
        st = [_status(e) for e in r.json["entry"]]
        assert st[0] == 403 and st[1] == 200, "batch entry statuses for a professional: %s" % st
    else:
        assert r.status == 403, r
    bundle["type"] = "transaction"
    r = ctx.pro.post("/fhir", bundle, expect=403)


def test_large_transaction(ctx):
    system = "urn:it:" + uid()
    entries = []
    for i in range(60):
        pu = "urn:uuid:" + str(uuid.uuid4())
        entries.append({"fullUrl": pu, "resource": {"resourceType": "Patient", "identifier": [{"system": system, "value": "p%d" % i}]},
                        "request": {"method": "POST", "url": "Patient"}})
        entries.append({"fullUrl": "urn:uuid:" + str(uuid.uuid4()),
                        "resource": {"resourceType": "List", "status": "current", "mode": "working",
                                     "identifier": [{"system": system, "value": "l%d" % i}], "subject": {"reference": pu}},
                        "request": {"method": "POST", "url": "List"}})
    b = ctx.admin.post("/fhir", {"resourceType": "Bundle", "type": "transaction", "entry": entries}, expect=200).json
    assert len(b["entry"]) == 120 and all(_status(e) == 201 for e in b["entry"])
    q = "identifier=%s|&_count=100" % urllib.parse.quote(system)
    lists = {e["resource"]["identifier"][0]["value"]: e["resource"]["subject"]["reference"]
             for e in matches(ctx.admin.search("List", q).json)}
    pats = {e["resource"]["identifier"][0]["value"]: "Patient/" + e["resource"]["id"]
            for e in matches(ctx.admin.search("Patient", q).json)}
    assert len(lists) == 60 and len(pats) == 60, (len(lists), len(pats))
    for i in range(60):
        assert lists["l%d" % i] == pats["p%d" % i], "List l%d points at %s, expected %s" % (i, lists["l%d" % i], pats["p%d" % i])
