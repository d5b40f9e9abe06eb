"""test_types.py - every supported resource type can be created, read, updated, searched and deleted
with a minimal valid R4 body; AuditEvent is read-only."""

import harness


def _bodies(pid, prac, org):
    subj = {"reference": "Patient/" + pid}
    med = {"coding": [{"system": "http://www.whocc.no/atc", "code": "N02BE01", "display": "paracetamol"}]}
    return [
        {"resourceType": "Practitioner", "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810000000101"}],
         "name": [{"family": "Testpraticien", "given": ["Ana"]}]},
        {"resourceType": "PractitionerRole", "active": True, "practitioner": {"reference": "Practitioner/" + prac},
         "organization": {"reference": "Organization/" + org}},
        {"resourceType": "Organization", "name": "Clinique des Tests", "active": True},
        {"resourceType": "Location", "name": "Salle 12", "status": "active",
         "managingOrganization": {"reference": "Organization/" + org}},
        {"resourceType": "HealthcareService", "name": "Cardiologie", "active": True,
         "providedBy": {"reference": "Organization/" + org}},
        {"resourceType": "DocumentReference", "status": "current", "subject": subj,
         "content": [{"attachment": {"contentType": "text/plain", "data": "Ym9uam91cg=="}}]},
        {"resourceType": "List", "status": "current", "mode": "working", "subject": subj, "title": "Dossier"},
        {"resourceType": "Binary", "contentType": "application/pdf", "data": "JVBERi0xLjQK"},
        {"resourceType": "Consent", "status": "active",
         "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
         "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
         "patient": subj,
         "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]}},
        {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
         "medicationCodeableConcept": med, "subject": subj, "authoredOn": "2024-02-01"},
        {"resourceType": "MedicationDispense", "status": "completed", "medicationCodeableConcept": med,
         "subject": subj, "whenHandedOver": "2024-02-02T10:00:00+01:00"},
    ]


def test_all_types_crud(ctx):
    fam = ctx.secret("Typologie")
    pid = ctx.admin.create({"resourceType": "Patient", "name": [{"family": fam}]})["id"]
    prac = ctx.admin.create({"resourceType": "Practitioner", "active": True})["id"]
    org = ctx.admin.create({"resourceType": "Organization", "name": "Org types"})["id"]
    seen = set()
    for body in _bodies(pid, prac, org):
        t = body["resourceType"]
        seen.add(t)
        created = ctx.admin.create(body)
        rid = created["id"]
        assert created["resourceType"] == t and created["meta"]["versionId"] == "1", (t, created.get("meta"))
        got = ctx.admin.get("/fhir/%s/%s" % (t, rid), expect=200).json
        for k, v in body.items():
            assert got.get(k) == v, "%s.%s round trip: sent %r, got %r" % (t, k, v, got.get(k))
        upd = dict(got)
        del upd["meta"]
        upd["language"] = "fr-FR"
        r = ctx.admin.put("/fhir/%s/%s" % (t, rid), upd, expect=200)
        assert r.json["meta"]["versionId"] == "2" and r.json["language"] == "fr-FR", t
        b = ctx.admin.search(t, "_id=" + rid).json
        assert harness.ids(harness.matches(b)) == [rid], "%s?_id= found %s" % (t, harness.ids(harness.matches(b)))
        ctx.admin.get("/fhir/%s/%s/_history" % (t, rid), expect=200)
        ctx.admin.delete("/fhir/%s/%s" % (t, rid), expect=204)
        ctx.admin.get("/fhir/%s/%s" % (t, rid), expect=410)
    assert len(seen) == 11


def test_wrong_type_in_url(ctx):
    # A resource posted to another type's endpoint is refused (422), and nothing is stored.
    ctx.admin.post("/fhir/Organization", {"resourceType": "Patient", "active": True}, expect=422)
    ctx.admin.post("/fhir/Binary", {"resourceType": "Organization", "name": "x"}, expect=422)


def test_auditevent_read_only(ctx):
    ae = {"resourceType": "AuditEvent", "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110110"},
          "recorded": "2024-01-01T00:00:00Z", "agent": [{"requestor": True}], "source": {"observer": {"display": "x"}}}
    ctx.admin.post("/fhir/AuditEvent", ae, expect=405)
    b = ctx.admin.search("AuditEvent", "_count=1").json
    entries = harness.matches(b)
    assert entries, "no AuditEvent at all after the previous tests"
    aid = entries[0]["resource"]["id"]
    r = ctx.admin.get("/fhir/AuditEvent/" + aid, expect=200)
    assert r.json["resourceType"] == "AuditEvent" and r.json["id"] == aid
    ctx.admin.put("/fhir/AuditEvent/" + aid, dict(r.json), expect=405)
    ctx.admin.delete("/fhir/AuditEvent/" + aid, expect=405)
    ctx.admin.get("/fhir/AuditEvent/999999999999", expect=404)
