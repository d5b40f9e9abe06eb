"""test_dmp.py - the DMP: ITI-65 provide (metadata coded, all or nothing, size and hash, CDA header
cross-checks, replace), ITI-67/66 find filtered by the access policy (counts included), ITI-68
retrieve, withdrawal and metadata update by the author, the patient's controls (mask, block,
authorise, médecin traitant, oppose, close, reopen), the access modes (normal, bris de glace,
centre 15), the published PDSm and CDA examples, and the traces a patient reads."""

import base64
import copy
import csv
import hashlib
import json
import os
import xml.etree.ElementTree as ET

import harness
from harness import wait_for
from test_ins import _patient

ROOT = harness.ROOT
CONFORMANCE = os.path.join(os.path.dirname(ROOT), "shared", "conformance")
OID_TEST = "1.2.250.1.213.1.4.10"
OID_NIR = "1.2.250.1.213.1.4.8"
LOINC = "http://loinc.org"
NOS = "https://mos.esante.gouv.fr/NOS/"
CLASS = NOS + "TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
VISIBILITY = NOS + "TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument"
FORMAT = NOS + "TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode"
SECTOR = NOS + "TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite"
SETTING = NOS + "TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice"
LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"

# The professionals of the directory (IDNPS, profession).
AUTHOR, GP, NURSE, PHARMA, KINE, OTHER, SAMU, COLLEAGUE = (
    "810000000011", "810000000022", "810000000033", "810000000044", "810000000055", "810000000066",
    "810000000077", "810000000088")
PROFESSION = {AUTHOR: "10", GP: "10", NURSE: "60", PHARMA: "21", KINE: "70", OTHER: "10", SAMU: "10",
              COLLEAGUE: "10"}
CDA_PATIENT = {"matricule": "279035121518989", "oid": OID_TEST, "nom_naissance": "PAT-TROIS",
               "prenoms": "DOMINIQUE", "sexe": "F", "date_naissance": "1979-03-28", "lieu_naissance": "51215",
               "matricule_ouvrant_droit": "279035121518989", "rang_naissance": "1"}
PDSM_PATIENT = {"matricule": "180017505600103", "oid": OID_NIR, "nom_naissance": "CLAIRE", "prenoms": "MARTIN",
                "sexe": "M", "date_naissance": "1980-01-15", "lieu_naissance": "75056",
                "matricule_ouvrant_droit": "180017505600103", "rang_naissance": "1"}


def _cda_authors(path):
    """The author ids (extension) of a CDA document's header, read with the standard library."""
    ns = {"h": "urn:hl7-org:v3"}
    root = ET.parse(path).getroot()
    return [i.get("extension") for i in root.findall("h:author/h:assignedAuthor/h:id", ns) if i.get("extension")]


def _practitioner(idnps, rpps=None):
    ids = [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": idnps}]
    if rpps:
        ids.append({"system": "https://rpps.esante.gouv.fr", "value": rpps})
    return {"resourceType": "Practitioner", "id": idnps, "identifier": ids,
            "name": [{"family": "PRO-" + idnps[-4:], "given": ["Test"]}]}


class Dmp:
    """A server of its own with an INS base, professionals in the directory, qualified patients."""

    def __init__(self, ctx, flags=(), name="dmp", ports=None):
        env = self.env = ctx.env
        self.data = env.new_data(name)
        self.db = env.new_db(self.data)
        base = os.path.join(self.data, "base.csv")
        env.cli("ins", "generate", "--count", "2000", "--seed", "31", "--out", base)
        with open(base, "a", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(CDA_PATIENT.keys()))
            w.writerow(CDA_PATIENT)
            w.writerow(PDSM_PATIENT)
        env.cli("ins", "import", base, "--data", self.data, "--db", self.db, "--log-level", "warn", timeout=300)
        self.srv = env.server(self.data, self.db, ["--max-body-bytes", "8388608"] + list(flags), name=name, ports=ports)
        self.admin = self.srv.client(env.token(self.data, "dmp-admin", "system", roles=["admin"]))
        self.identity = self.srv.client(env.token(self.data, "810000000099", "professional", roles=["identity"],
                                                  profession="10", structure="it-identity"))
        self.cda_author = _cda_authors(os.path.join(CONFORMANCE, "cda", "LDL-SES_2022.01.xml"))[0]
        self.cda_authors = sorted({a for n in os.listdir(os.path.join(CONFORMANCE, "cda"))
                                   for a in _cda_authors(os.path.join(CONFORMANCE, "cda", n))})
        for idnps in list(PROFESSION) + self.cda_authors:
            self.admin.put("/fhir/Practitioner/" + idnps, _practitioner(idnps), expect=(200, 201))
        self.admin.put("/fhir/Practitioner/81011848351", _practitioner("81011848351", "1011848351"), expect=(200, 201))
        self.pro = {}
        for idnps, profession in PROFESSION.items():
            roles = ["centre-15"] if idnps == SAMU else []
            structure = "structure-a" if idnps in (AUTHOR, COLLEAGUE) else "structure-" + idnps[-2:]
            self.pro[idnps] = self.srv.client(env.token(self.data, idnps, "professional", roles=roles,
                                                        profession=profession, structure=structure))
        self.rows = [r for r in csv.DictReader(open(base, encoding="utf-8"))
                     if r["matricule"].startswith(("1", "2")) and not r["date_naissance"].endswith("-00")]
        self.used = set()

    def patient(self, qualified=True, row=None, pid=None):
        """A new Patient (qualified by default): (id, INS matricule)."""
        if row is None:
            seen = {(r["nom_naissance"], r["sexe"], r["date_naissance"]) for r in self.rows if r["matricule"] in self.used}
            for r in self.rows:
                k = (r["nom_naissance"], r["sexe"], r["date_naissance"])
                if r["matricule"] not in self.used and k not in seen and \
                        sum(1 for x in self.rows if (x["nom_naissance"], x["sexe"], x["date_naissance"]) == k) == 1:
                    row = r
                    break
        self.used.add(row["matricule"])
        if qualified:
            p = _patient(row, "QUAL", mode="CN", ins=True)
            if row["oid"] != OID_TEST:
                p["identifier"][-1]["system"] = "urn:oid:" + row["oid"]
        else:
            p = _patient(row, "PROV")
        if pid:
            p["id"] = pid
            out = self.identity.put("/fhir/Patient/" + pid, p, expect=(200, 201)).json
        else:
            out = self.identity.create(p)
        return out["id"], row["matricule"]

    def patient_client(self, ins, representative=False):
        roles = ["representant-legal"] if representative else []
        return self.srv.client(self.env.token(self.data, ins, "patient", roles=roles))


def _dmp(ctx):
    d = getattr(ctx.env, "dmp_main", None)
    if d is None:
        d = ctx.env.dmp_main = Dmp(ctx)
    return d


def _docref(patient, author, text="compte rendu", type_code="11490-0", klass="10", labels=("N",), **over):
    data = text.encode("utf-8")
    doc = {
        "resourceType": "DocumentReference",
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:" + harness.uid(8)},
        "status": "current",
        "type": {"coding": [{"system": LOINC, "code": type_code}]},
        "category": [{"coding": [{"system": CLASS, "code": klass}]}],
        "subject": {"reference": "Patient/" + patient},
        "date": "2026-11-20T10:00:00+01:00",
        "author": [{"reference": "Practitioner/" + author}],
        "securityLabel": [{"coding": [{"system": VISIBILITY, "code": c}]} for c in labels],
        "content": [{"attachment": {"contentType": "text/plain", "data": base64.b64encode(data).decode(),
                                    "size": len(data), "hash": base64.b64encode(hashlib.sha1(data).digest()).decode(),
                                    "title": "Document"},
                     "format": {"system": FORMAT, "code": "urn:ihe:iti:xds-sd:text:2008"}}],
        "context": {"facilityType": {"coding": [{"system": SECTOR, "code": "SA01"}]},
                    "practiceSetting": {"coding": [{"system": SETTING, "code": "ETABLISSEMENT"}]},
                    "period": {"start": "2026-11-19T08:00:00+01:00"}},
    }
    doc.update(over)
    return doc


def _bundle(patient, docs, binaries=()):
    entries = [{"fullUrl": "urn:uuid:" + harness.uid(8) + "-0000-4000-8000-000000000000",
                "resource": {"resourceType": "List", "status": "current", "mode": "working",
                             "code": {"coding": [{"system": LIST_TYPES, "code": "submissionset"}]},
                             "subject": {"reference": "Patient/" + patient}, "date": "2026-11-20T10:00:00+01:00",
                             "entry": []},
                "request": {"method": "POST", "url": "List"}}]
    for d in docs:
        url = "urn:uuid:%s-1111-4111-8111-111111111111" % harness.uid(8)
        entries[0]["resource"]["entry"].append({"item": {"reference": url}})
        entries.append({"fullUrl": url, "resource": d, "request": {"method": "POST", "url": "DocumentReference"}})
    for full_url, b in binaries:
        entries.append({"fullUrl": full_url, "resource": b, "request": {"method": "POST", "url": "Binary"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _provide(client, patient, docs, expect=200, binaries=()):
    r = client.post("/fhir", _bundle(patient, docs, binaries), expect=expect)
    if expect == 200:
        assert r.json["type"] == "transaction-response", r.json
        return [e["response"]["location"].split("/")[1] for e in r.json["entry"]
                if e["response"]["location"].startswith("DocumentReference/")]
    return r


def _find(client, query, expect=200):
    r = client.search("DocumentReference", query, expect=expect)
    if expect != 200:
        return r
    return sorted(e["resource"]["id"] for e in r.json.get("entry", [])), r.json["total"]


def _op(client, path, expect=200, **params):
    body = {"resourceType": "Parameters", "parameter": []}
    for k, v in params.items():
        body["parameter"].append({"name": k, "valueBoolean" if isinstance(v, bool) else "valueString": v})
    return client.post("/fhir/" + path, body, expect=expect)


def _outcome(r):
    return json.dumps(r.json)


# --- ITI-65, ITI-67, ITI-68 -------------------------------------------------------------------


def test_provide_find_retrieve(ctx):
    d = _dmp(ctx)
    pid, ins = d.patient()
    author = d.pro[AUTHOR]
    ids = _provide(author, pid, [_docref(pid, AUTHOR, "lettre de liaison"),
                                 _docref(pid, AUTHOR, "imagerie", type_code="18748-4", klass="31",
                                         date="2026-11-21T10:00:00+01:00")])
    assert len(ids) == 2
    found, total = _find(author, "patient=Patient/" + pid)
    assert found == sorted(ids) and total == 2
    found, total = _find(author, "patient.identifier=urn:oid:%s|%s" % (OID_TEST, ins))
    assert total == 2, "the patient's INS finds the documents"
    assert _find(author, "patient=%s&type=%s|18748-4" % (pid, LOINC))[1] == 1
    assert _find(author, "patient=%s&type=11490-0,%s|18748-4" % (pid, LOINC))[1] == 2
    assert _find(author, "patient=%s&type=11490-0&type=18748-4" % pid)[1] == 0, "two type parameters: both must hold"
    assert _find(author, "patient=%s&category=10" % pid)[1] == 1
    assert _find(author, "patient=%s&date=ge2026-11-21" % pid)[1] == 1
    assert _find(author, "patient=%s&date=lt2026-11-21" % pid)[1] == 1
    assert _find(author, "patient=%s&status=current&setting=ETABLISSEMENT&facility=SA01" % pid)[1] == 2
    assert _find(author, "patient=%s&author=Practitioner/%s" % (pid, AUTHOR))[1] == 2
    assert _find(author, "patient=%s&format=urn:ihe:iti:xds-sd:pdf:2008" % pid)[1] == 0
    # _sort and paging: one per page, newest first, a next link, the total of every page.
    r = author.search("DocumentReference", "patient=%s&_sort=-date&_count=1" % pid).json
    assert r["total"] == 2 and len(r["entry"]) == 1 and r["entry"][0]["resource"]["type"]["coding"][0]["code"] == "18748-4"
    nxt = harness.link(r, "next")
    assert nxt, "a next link"
    r2 = author.get(nxt, expect=200).json
    assert len(r2["entry"]) == 1 and r2["entry"][0]["resource"]["id"] != r["entry"][0]["resource"]["id"]
    assert not harness.link(r2, "next")
    asc = author.search("DocumentReference", "patient=%s&_sort=date" % pid).json
    assert asc["entry"][0]["resource"]["type"]["coding"][0]["code"] == "11490-0"
    # The stored reference points to a Binary (the inline data moved), with size and hash.
    doc = author.get("/fhir/DocumentReference/" + ids[0], expect=200).json
    att = doc["content"][0]["attachment"]
    assert "data" not in att and att["url"].startswith("Binary/"), att
    raw = author.get("/fhir/" + att["url"], headers={"Accept": "*/*"}, expect=200)
    assert raw.h("Content-Type").startswith("text/plain") and raw.body.decode() in ("lettre de liaison", "imagerie")
    assert base64.b64encode(hashlib.sha1(raw.body).digest()).decode() == att["hash"]
    as_json = author.get("/fhir/" + att["url"], expect=200).json
    assert as_json["resourceType"] == "Binary" and base64.b64decode(as_json["data"]) == raw.body
    # ITI-66: the submission set.
    lists = author.search("List", "patient=%s&code=submissionset" % pid).json
    assert lists["total"] == 1 and lists["entry"][0]["resource"]["code"]["coding"][0]["code"] == "submissionset"
    # Search needs the patient; documents are never written outside ITI-65.
    assert "patient" in _outcome(author.search("DocumentReference", "type=11490-0", expect=400))
    assert "ITI-65" in _outcome(author.post("/fhir/DocumentReference", _docref(pid, AUTHOR), expect=405))
    author.post("/fhir/Binary", {"resourceType": "Binary", "contentType": "text/plain", "data": "eA=="}, expect=405)


def test_provide_refuses_bad_metadata(ctx):
    d = _dmp(ctx)
    pid, _ = d.patient()
    author = d.pro[AUTHOR]
    cases = [
        (lambda x: x.pop("type"), 422, "DocumentReference.type"),
        (lambda x: x.update(type={"coding": [{"system": LOINC, "code": "99999-9"}]}), 422, "DocumentReference.type"),
        (lambda x: x.update(category=[{"coding": [{"system": CLASS, "code": "77"}]}]), 422, "DocumentReference.category"),
        (lambda x: x.pop("securityLabel"), 422, "DocumentReference.securityLabel"),
        (lambda x: x.update(securityLabel=[{"coding": [{"system": VISIBILITY, "code": "SECRET"}]}]), 422,
         "DocumentReference.securityLabel"),
        (lambda x: x["content"][0].pop("format"), 422, "DocumentReference.content.format"),
        (lambda x: x["context"].pop("facilityType"), 422, "DocumentReference.context.facilityType"),
        (lambda x: x["context"].update(practiceSetting={"text": "hôpital"}), 422,
         "DocumentReference.context.practiceSetting"),
        (lambda x: x.pop("date"), 422, "DocumentReference.date"),
        (lambda x: x.pop("masterIdentifier"), 422, "DocumentReference.masterIdentifier"),
        (lambda x: x.pop("author"), 422, "DocumentReference.author"),
        (lambda x: x.update(author=[{"reference": "Practitioner/819999999999"}]), 422, "DocumentReference.author"),
        (lambda x: x.update(subject={"reference": "Patient/no-such-patient"}), 422, "DocumentReference.subject"),
        (lambda x: x["content"][0]["attachment"].update(data="not base64!"), 422, "attachment.data"),
        (lambda x: x["content"][0]["attachment"].update(size=999), 422, "attachment.size"),
        (lambda x: x["content"][0]["attachment"].update(hash="2jmj7l5rSw0yVb/vlWAYkK/YBwk="), 422, "attachment.hash"),
        (lambda x: x.update(securityLabel=[{"coding": [{"system": VISIBILITY, "code": "MASQUE_PS"}]},
                                           {"coding": [{"system": VISIBILITY, "code": "INVISIBLE_PATIENT"}]}]), 422,
         "cannot be combined"),
    ]
    for change, status, named in cases:
        good = _docref(pid, AUTHOR, "premier")
        bad = _docref(pid, AUTHOR, "second")
        change(bad)
        r = _provide(author, pid, [good, bad], expect=status)
        assert named in _outcome(r), (named, r.json)
        assert "Bundle.entry[2]" in _outcome(r), "the failing entry is named: %s" % _outcome(r)
    # All or nothing: none of the good documents of those bundles was stored.
    assert _find(author, "patient=" + pid)[1] == 0
    # An unqualified identity cannot be fed; neither can a bundle with no submission set.
    prov, _ = d.patient(qualified=False)
    assert "not qualified" in _outcome(_provide(author, prov, [_docref(prov, AUTHOR)], expect=422))
    b = _bundle(pid, [_docref(pid, AUTHOR)])
    b["entry"].append(copy.deepcopy(b["entry"][0]))
    assert "exactly one SubmissionSet" in _outcome(author.post("/fhir", b, expect=422))


def test_provide_size_limit(ctx):
    d = getattr(ctx.env, "dmp_small", None) or Dmp(ctx, flags=["--dmp-max-document-bytes", "1000"], name="dmp-small")
    ctx.env.dmp_small = d
    pid, _ = d.patient()
    r = _provide(d.pro[AUTHOR], pid, [_docref(pid, AUTHOR, "x" * 2000)], expect=413)
    assert "larger than 1000 bytes" in _outcome(r)
    _provide(d.pro[AUTHOR], pid, [_docref(pid, AUTHOR, "x" * 900)])


def test_replace_update_withdraw(ctx):
    d = _dmp(ctx)
    pid, _ = d.patient()
    author, colleague, other = d.pro[AUTHOR], d.pro[COLLEAGUE], d.pro[OTHER]
    (old,) = _provide(author, pid, [_docref(pid, AUTHOR, "v1")])
    new = _docref(pid, AUTHOR, "v2", relatesTo=[{"code": "replaces", "target": {"reference": "DocumentReference/" + old}}])
    (new_id,) = _provide(author, pid, [new])
    assert author.get("/fhir/DocumentReference/" + old, expect=200).json["status"] == "superseded"
    assert _find(author, "patient=%s&status=current" % pid) == ([new_id], 1)
    assert _find(author, "patient=%s&status=superseded" % pid) == ([old], 1)
    found = author.search("DocumentReference", "patient=%s&status=superseded" % pid).json["entry"][0]["resource"]
    assert found["status"] == "superseded" and found["meta"]["versionId"] == "2", found["meta"]
    # Only its author replaces a document: another professional's replacement is refused, audited.
    forged = _docref(pid, OTHER, "forged", relatesTo=[{"code": "replaces", "target": {"reference": "DocumentReference/" + new_id}}])
    assert "only the author" in _outcome(_provide(other, pid, [forged], expect=403))
    assert _find(author, "patient=%s&status=current" % pid) == ([new_id], 1)
    # A superseded document cannot be replaced again.
    again = _docref(pid, AUTHOR, "v3", relatesTo=[{"code": "replaces", "target": {"reference": "DocumentReference/" + old}}])
    assert "not current" in _outcome(_provide(author, pid, [again], expect=422))
    # Metadata update: only the author, only securityLabel.
    doc = author.get("/fhir/DocumentReference/" + new_id, expect=200).json
    doc["securityLabel"] = [{"coding": [{"system": VISIBILITY, "code": "R"}]}]
    colleague.put("/fhir/DocumentReference/" + new_id, doc, expect=403)
    author.put("/fhir/DocumentReference/" + new_id, doc, expect=200)
    doc = author.get("/fhir/DocumentReference/" + new_id, expect=200).json
    doc["description"] = "changed"
    assert "securityLabel" in _outcome(author.put("/fhir/DocumentReference/" + new_id, doc, expect=422))
    # Withdraw: not by another professional; by the author it leaves every search and read.
    other.delete("/fhir/DocumentReference/" + new_id, expect=403)
    author.delete("/fhir/DocumentReference/" + new_id, expect=204)
    assert _find(author, "patient=%s&status=current" % pid) == ([], 0)
    author.get("/fhir/DocumentReference/" + new_id, expect=404)
    # The trace remains.
    evs = wait_for(lambda: [e for e in d.admin.search("AuditEvent", "patient=" + pid).json.get("entry", [])
                            if "delete" in json.dumps(e)], "the withdrawal in the audit trail")
    assert evs


def test_software_writes_go_through_the_dmp(ctx):
    # Software with a system token keeps the generic interactions, but a DMP document is updated and
    # withdrawn through the DMP (its search index follows), and its Binary and List are never rewritten.
    d = _dmp(ctx)
    pid, _ = d.patient()
    author = d.pro[AUTHOR]
    (doc,) = _provide(author, pid, [_docref(pid, AUTHOR, "logiciel")])
    stored = author.get("/fhir/DocumentReference/" + doc).json
    binary = stored["content"][0]["attachment"]["url"].split("/")[-1]
    (lst,) = [e["resource"]["id"] for e in author.search("List", "patient=" + pid).json["entry"]]
    body = d.admin.get("/fhir/Binary/" + binary, headers={"Accept": "application/fhir+json"}).json
    d.admin.put("/fhir/Binary/" + binary, body, expect=405)
    d.admin.delete("/fhir/List/" + lst, expect=405)
    changed = dict(stored, description="rewritten by software")
    assert "securityLabel" in _outcome(d.admin.put("/fhir/DocumentReference/" + doc, changed, expect=422))
    d.admin.delete("/fhir/DocumentReference/" + doc, expect=204)
    assert _find(author, "patient=%s&status=current" % pid) == ([], 0), "withdrawn from the DMP's searches"
    author.get("/fhir/Binary/" + binary, expect=404)


def test_patient_deposits_class_90(ctx):
    # The patient feeds their own record with documents of class 90 (déposé par le patient), and
    # nothing else; not another patient's record. An authorised professional reads the deposit.
    d = _dmp(ctx)
    pid, ins = d.patient()
    patient = d.patient_client(ins)
    mine = _docref(pid, AUTHOR, "mes directives anticipées", klass="90")
    mine["author"] = [{"reference": "Patient/" + pid}]
    (doc,) = _provide(patient, pid, [mine])
    assert _find(patient, "patient=" + pid) == ([doc], 1)
    other_class = _docref(pid, AUTHOR, "faux compte rendu", klass="10")
    other_class["author"] = [{"reference": "Patient/" + pid}]
    assert "class 90" in _outcome(_provide(patient, pid, [other_class], expect=403))
    # A deposit is the patient's: it cannot name a professional as its author.
    forged = _docref(pid, AUTHOR, "ordonnance", klass="90")
    assert "author" in _outcome(_provide(patient, pid, [forged], expect=422))
    someone, _ = d.patient()
    theirs = _docref(someone, AUTHOR, "pas le mien", klass="90")
    theirs["author"] = [{"reference": "Patient/" + someone}]
    _provide(patient, someone, [theirs], expect=403)
    _op(patient, "Patient/%s/$dmp-authorize" % pid, professional=NURSE)
    assert _find(d.pro[NURSE], "patient=" + pid) == ([doc], 1)


# --- who reads what ---------------------------------------------------------------------------


def test_access_authorisation_and_care_team(ctx):
    d = _dmp(ctx)
    pid, ins = d.patient()
    _provide(d.pro[AUTHOR], pid, [_docref(pid, AUTHOR)])
    patient = d.patient_client(ins)
    other = d.pro[OTHER]
    # Normal mode without authorisation: refused; the care team (same structure as the feeder) reads.
    assert "authorisation" in _outcome(_find(other, "patient=" + pid, expect=403))
    assert _find(d.pro[COLLEAGUE], "patient=" + pid)[1] == 1
    # The patient authorises, then revokes.
    _op(patient, "Patient/%s/$dmp-authorize" % pid, professional=OTHER)
    assert _find(other, "patient=" + pid)[1] == 1
    _op(patient, "Patient/%s/$dmp-revoke" % pid, professional=OTHER)
    _find(other, "patient=" + pid, expect=403)
    # Only the patient controls the record.
    _op(other, "Patient/%s/$dmp-authorize" % pid, professional=OTHER, expect=403)
    _op(d.admin, "Patient/%s/$dmp-authorize" % pid, professional=OTHER, expect=403)
    _op(d.patient_client("100000000000000"), "Patient/%s/$dmp-authorize" % pid, professional=OTHER, expect=403)
    assert "not in the directory" in _outcome(_op(patient, "Patient/%s/$dmp-authorize" % pid,
                                                  professional="819999999990", expect=422))
    # A co-author outside the care team and without authorisation reads the document they wrote
    # (the author always reads), though not the rest of the record.
    cosigned = _docref(pid, AUTHOR, "co-signed")
    cosigned["author"].append({"reference": "Practitioner/" + OTHER})
    (cowritten,) = _provide(d.pro[AUTHOR], pid, [cosigned])
    other.get("/fhir/DocumentReference/" + cowritten, expect=200)
    assert _find(other, "patient=" + pid) == ([cowritten], 1), "a search shows them what they wrote, nothing more"
    # The patient is told that a structure joined the care team, and may take it out: its
    # professionals then need an authorisation, even after the structure feeds again.
    notes = json.dumps(patient.get("/fhir/Patient/%s/$dmp-notifications" % pid).json)
    assert "care-team" in notes and "structure-a" in notes, notes[:600]
    _op(patient, "Patient/%s/$dmp-revoke" % pid, structure="structure-a")
    _find(d.pro[COLLEAGUE], "patient=" + pid, expect=403)
    _provide(d.pro[AUTHOR], pid, [_docref(pid, AUTHOR, "encore")])
    _find(d.pro[COLLEAGUE], "patient=" + pid, expect=403)
    _op(d.pro[AUTHOR], "Patient/%s/$dmp-authorize" % pid, structure="structure-a", expect=403)
    _op(patient, "Patient/%s/$dmp-authorize" % pid, structure="structure-a")
    assert _find(d.pro[COLLEAGUE], "patient=" + pid)[1] == 3
    # The médecin traitant reads without an explicit authorisation.
    gp = d.pro[GP]
    _find(gp, "patient=" + pid, expect=403)
    _op(patient, "Patient/%s/$dmp-medecin-traitant" % pid, professional=GP)
    assert _find(gp, "patient=" + pid)[1] == 3


def test_access_matrix(ctx):
    d = _dmp(ctx)
    pid, ins = d.patient()
    author = d.pro[AUTHOR]
    ids = dict(zip(["cr", "bio", "certificat", "dispensation"], _provide(author, pid, [
        _docref(pid, AUTHOR, "cr", type_code="11490-0", klass="10"),
        _docref(pid, AUTHOR, "bio", type_code="11502-2", klass="10"),
        _docref(pid, AUTHOR, "certificat", type_code="11490-0", klass="52"),
        _docref(pid, AUTHOR, "dispensation", type_code="11490-0", klass="43")])))
    patient = d.patient_client(ins)
    for pro in (NURSE, PHARMA, KINE):
        _op(patient, "Patient/%s/$dmp-authorize" % pid, professional=pro)
    seen = {k: _find(d.pro[k], "patient=" + pid) for k in (NURSE, PHARMA, KINE)}
    # Nurse: comptes rendus and dispensation, not the certificate.
    assert seen[NURSE] == (sorted([ids["cr"], ids["bio"], ids["dispensation"]]), 3)
    # Pharmacist: of class 10 only biology; dispensation yes; certificate no.
    assert seen[PHARMA] == (sorted([ids["bio"], ids["dispensation"]]), 2)
    # Kiné: comptes rendus, not dispensation nor certificate. The totals count only what is shown.
    assert seen[KINE] == (sorted([ids["cr"], ids["bio"]]), 2)
    body = d.pro[KINE].search("DocumentReference", "patient=" + pid).json
    assert "withheld" not in json.dumps(body) and "outcome" not in json.dumps(body), "nothing hints at hidden documents"
    d.pro[KINE].get("/fhir/DocumentReference/" + ids["certificat"], expect=404)
    d.pro[NURSE].get("/fhir/DocumentReference/" + ids["certificat"], expect=404)
    # The submission set (ITI-66 and read) lists only the documents the reader sees.
    listed = lambda lst: sorted(e["item"]["reference"].split("/")[-1] for e in lst.get("entry", []))
    (found,) = [e["resource"] for e in d.pro[KINE].search("List", "patient=" + pid).json["entry"]]
    assert listed(found) == sorted([ids["cr"], ids["bio"]]), found
    assert listed(d.pro[KINE].get("/fhir/List/" + found["id"]).json) == sorted([ids["cr"], ids["bio"]])
    assert ids["certificat"] not in json.dumps(d.pro[NURSE].get("/fhir/List/" + found["id"]).json)
    assert len(d.pro[AUTHOR].get("/fhir/List/" + found["id"]).json["entry"]) == 4, "the author sees the whole set"
    assert d.pro[AUTHOR].get("/fhir/DocumentReference/" + ids["certificat"], expect=200)


def test_mask_block_and_author(ctx):
    d = _dmp(ctx)
    pid, ins = d.patient()
    patient = d.patient_client(ins)
    (doc, plain) = _provide(d.pro[AUTHOR], pid, [_docref(pid, AUTHOR, "masquable"), _docref(pid, AUTHOR, "visible")])
    _op(patient, "Patient/%s/$dmp-authorize" % pid, professional=OTHER)
    _op(patient, "Patient/%s/$dmp-medecin-traitant" % pid, professional=GP)
    _op(patient, "DocumentReference/%s/$dmp-mask" % doc)
    assert d.pro[AUTHOR].get("/fhir/DocumentReference/" + doc, expect=200).json["securityLabel"][-1]["coding"][0]["code"] == "MASQUE_PS"
    assert _find(d.pro[OTHER], "patient=" + pid) == ([plain], 1), "masked: hidden from an authorised professional"
    assert _find(d.pro[GP], "patient=" + pid)[1] == 2, "the médecin traitant still sees it"
    found = {e["resource"]["id"]: e["resource"] for e in d.pro[GP].search("DocumentReference", "patient=" + pid).json["entry"]}
    assert "MASQUE_PS" in json.dumps(found[doc]["securityLabel"]), "searches return the current version"
    assert _find(d.pro[AUTHOR], "patient=" + pid)[1] == 2, "its author still sees it"
    assert _find(patient, "patient=" + pid)[1] == 2, "the patient sees it"
    _op(d.pro[OTHER], "DocumentReference/%s/$dmp-unmask" % doc, expect=403)
    # The author may not lift the patient's mask through a metadata update.
    unmasked = d.pro[AUTHOR].get("/fhir/DocumentReference/" + doc, expect=200).json
    unmasked["securityLabel"] = [{"coding": [{"system": VISIBILITY, "code": "N"}]}]
    assert "only the patient" in _outcome(d.pro[AUTHOR].put("/fhir/DocumentReference/" + doc, unmasked, expect=403))
    assert _find(d.pro[OTHER], "patient=" + pid) == ([plain], 1), "still masked"
    # Nor by replacing it with an unmasked version.
    replacement = _docref(pid, AUTHOR, "masquable v2", relatesTo=[{"code": "replaces", "target": {"reference": "DocumentReference/" + doc}}])
    assert "MASQUE_PS" in _outcome(_provide(d.pro[AUTHOR], pid, [replacement], expect=403))
    # Bris de glace does not reveal a masked document.
    _op(d.pro[SAMU], "Patient/%s/$dmp-emergency-access" % pid, mode="bris_de_glace", reason="coma, urgence vitale")
    assert _find(d.pro[SAMU], "patient=" + pid) == ([plain], 1)
    _op(patient, "DocumentReference/%s/$dmp-unmask" % doc)
    assert _find(d.pro[OTHER], "patient=" + pid)[1] == 2
    # Block: an authorised professional reads nothing, not even in an emergency; the author keeps their own.
    _op(patient, "Patient/%s/$dmp-block" % pid, professional=OTHER)
    assert "blocked" in _outcome(_find(d.pro[OTHER], "patient=" + pid, expect=403))
    _op(d.pro[OTHER], "Patient/%s/$dmp-emergency-access" % pid, mode="bris_de_glace", reason="urgence", expect=403)
    _op(patient, "Patient/%s/$dmp-unblock" % pid, professional=OTHER)
    assert _find(d.pro[OTHER], "patient=" + pid)[1] == 2
    _op(patient, "Patient/%s/$dmp-block" % pid, professional=AUTHOR)
    _find(d.pro[AUTHOR], "patient=" + pid, expect=403)
    d.pro[AUTHOR].get("/fhir/DocumentReference/" + doc, expect=403)


def test_emergency_modes(ctx):
    d = _dmp(ctx)
    pid, ins = d.patient()
    patient = d.patient_client(ins)
    (doc,) = _provide(d.pro[AUTHOR], pid, [_docref(pid, AUTHOR)])
    other, samu = d.pro[OTHER], d.pro[SAMU]
    _find(other, "patient=" + pid, expect=403)
    # Bris de glace needs a reason; with one it opens, is audited with it, and the patient is notified.
    assert "reason" in _outcome(_op(other, "Patient/%s/$dmp-emergency-access" % pid, mode="bris_de_glace", expect=400))
    _op(other, "Patient/%s/$dmp-emergency-access" % pid, mode="bris_de_glace", reason="détresse respiratoire")
    assert _find(other, "patient=" + pid)[1] == 1
    other.get("/fhir/DocumentReference/" + doc, expect=200)
    notes = patient.get("/fhir/Patient/%s/$dmp-notifications" % pid, expect=200).json
    kinds = [[p["valueCode"] for p in n["part"] if p["name"] == "kind"][0] for n in notes["parameter"]]
    assert "emergency-access" in kinds and "first-access" in kinds, kinds
    # Once per professional, however many reads came before the (deferred) notice was written.
    assert kinds.count("first-access") == 1, kinds
    d.pro[OTHER].get("/fhir/Patient/%s/$dmp-notifications" % pid, expect=403)
    evs = wait_for(lambda: [e for e in d.admin.search("AuditEvent", "patient=%s&agent=%s" % (pid, OTHER)).json.get("entry", [])
                            if "détresse respiratoire" in json.dumps(e, ensure_ascii=False)],
                   "the emergency access with its reason in the audit trail")
    assert evs
    wait_for(lambda: [e for e in d.admin.search("AuditEvent", "patient=%s&agent=%s" % (pid, OTHER)).json.get("entry", [])
                      if "mode=bris_de_glace" in json.dumps(e)], "reads audited with their mode")
    # Centre 15: only medical regulation; the patient may oppose each mode.
    gp = d.pro[GP]
    assert "centre-15" in _outcome(_op(gp, "Patient/%s/$dmp-emergency-access" % pid, mode="centre_15",
                                       reason="régulation", expect=403))
    _op(samu, "Patient/%s/$dmp-emergency-access" % pid, mode="centre_15", reason="régulation SAMU")
    assert _find(samu, "patient=" + pid)[1] == 1
    pid2, ins2 = d.patient()
    patient2 = d.patient_client(ins2)
    _provide(d.pro[AUTHOR], pid2, [_docref(pid2, AUTHOR)])
    _op(patient2, "Patient/%s/$dmp-emergency-opposition" % pid2, mode="bris_de_glace", oppose=True)
    _op(patient2, "Patient/%s/$dmp-emergency-opposition" % pid2, mode="centre_15", oppose=True)
    assert "opposed" in _outcome(_op(gp, "Patient/%s/$dmp-emergency-access" % pid2, mode="bris_de_glace",
                                     reason="urgence", expect=403))
    _op(samu, "Patient/%s/$dmp-emergency-access" % pid2, mode="centre_15", reason="régulation", expect=403)
    _op(patient2, "Patient/%s/$dmp-emergency-opposition" % pid2, mode="bris_de_glace", oppose=False)
    _op(gp, "Patient/%s/$dmp-emergency-access" % pid2, mode="bris_de_glace", reason="urgence")
    assert _find(gp, "patient=" + pid2)[1] == 1


def test_patient_and_representatives(ctx):
    d = _dmp(ctx)
    pid, ins = d.patient()
    author = d.pro[AUTHOR]
    normal, hidden, secret = _provide(author, pid, [
        _docref(pid, AUTHOR, "normal"), _docref(pid, AUTHOR, "diagnostic grave", labels=("N", "INVISIBLE_PATIENT")),
        _docref(pid, AUTHOR, "connexion secrète", labels=("N", "INVISIBLE_REPRESENTANTS_LEGAUX"))])
    patient, rep = d.patient_client(ins), d.patient_client(ins, representative=True)
    assert _find(patient, "patient=" + pid) == (sorted([normal, secret]), 2)
    assert _find(rep, "patient=" + pid) == ([normal], 1)
    patient.get("/fhir/DocumentReference/" + hidden, expect=404)
    rep.get("/fhir/DocumentReference/" + secret, expect=404)
    patient.get("/fhir/DocumentReference/" + secret, expect=200)
    # Masking what one cannot see is impossible; the professionals still read it.
    _op(patient, "DocumentReference/%s/$dmp-mask" % hidden, expect=404)
    assert _find(author, "patient=" + pid)[1] == 3
    # The author announces the result: the patient now sees it.
    doc = author.get("/fhir/DocumentReference/" + hidden, expect=200).json
    doc["securityLabel"] = [{"coding": [{"system": VISIBILITY, "code": "N"}]}]
    author.put("/fhir/DocumentReference/" + hidden, doc, expect=200)
    assert _find(patient, "patient=" + pid)[1] == 3
    # A patient reads only their own record.
    other_pid, _ = d.patient()
    _provide(author, other_pid, [_docref(other_pid, AUTHOR)])
    _find(patient, "patient=" + other_pid, expect=403)


def test_record_lifecycle(ctx):
    d = _dmp(ctx)
    pid, ins = d.patient()
    patient = d.patient_client(ins)
    author = d.pro[AUTHOR]
    (doc,) = _provide(author, pid, [_docref(pid, AUTHOR)])
    _op(author, "Patient/%s/$dmp-close" % pid, expect=403)
    _op(patient, "Patient/%s/$dmp-close" % pid)
    assert "closed" in _outcome(_provide(author, pid, [_docref(pid, AUTHOR)], expect=403))
    assert "closed" in _outcome(_find(author, "patient=" + pid, expect=403))
    _find(patient, "patient=" + pid, expect=403)
    # Nor does anything in it change: its author neither withdraws nor updates a document.
    assert "closed" in _outcome(author.delete("/fhir/DocumentReference/" + doc, expect=403))
    _op(patient, "Patient/%s/$dmp-reopen" % pid)
    assert _find(author, "patient=" + pid)[1] == 1
    # Opposition: nothing is fed or read; a patient may oppose before any record exists.
    pid2, ins2 = d.patient()
    _op(d.patient_client(ins2), "Patient/%s/$dmp-oppose" % pid2)
    assert "opposed" in _outcome(_provide(author, pid2, [_docref(pid2, AUTHOR)], expect=403))
    _op(d.patient_client(ins2), "Patient/%s/$dmp-reopen" % pid2)
    _provide(author, pid2, [_docref(pid2, AUTHOR)])
    # A patient without a qualified identity has no record to control.
    prov, _ = d.patient(qualified=False)
    _op(patient, "Patient/%s/$dmp-oppose" % prov, expect=404)


def test_patient_reads_the_traces(ctx):
    d = _dmp(ctx)
    pid, ins = d.patient()
    patient = d.patient_client(ins)
    (doc,) = _provide(d.pro[AUTHOR], pid, [_docref(pid, AUTHOR)])
    d.pro[COLLEAGUE].get("/fhir/DocumentReference/" + doc, expect=200)

    def mine():
        b = patient.search("AuditEvent", "").json
        return [e for e in b.get("entry", []) if COLLEAGUE in json.dumps(e)]
    evs = wait_for(mine, "the colleague's read in the patient's traces")
    text = json.dumps(evs)
    assert "structure-a" in text and "mode=normal" in text, text[:600]
    other, _ = d.patient()
    assert "own record" in _outcome(patient.search("AuditEvent", "patient=" + other, expect=403))
    # Nobody else's traces come back to the patient.
    all_evs = patient.search("AuditEvent", "_count=200").json.get("entry", [])
    assert all(("Patient/" + pid) in json.dumps(e) for e in all_evs), "only the patient's own record"
    # A result not yet announced leaves no trace the patient sees: not its feed, nor its reads, nor
    # the care team its structure would have joined.
    (hidden,) = _provide(d.pro[OTHER], pid, [_docref(pid, OTHER, "grave", labels=("N", "INVISIBLE_PATIENT"))])
    assert "structure-66" not in json.dumps(patient.get("/fhir/Patient/%s/$dmp-notifications" % pid).json)
    assert _find(d.pro[OTHER], "patient=" + pid) == ([hidden], 1), "not in the care team: only what it wrote"
    d.pro[COLLEAGUE].get("/fhir/DocumentReference/" + hidden, expect=200)
    patient.get("/fhir/DocumentReference/" + hidden, expect=404)
    wait_for(lambda: hidden in json.dumps(d.admin.search("AuditEvent", "patient=%s&_count=200" % pid).json),
             "the hidden document's traces in the trail")
    everything = patient.search("AuditEvent", "_count=200").json
    assert hidden not in json.dumps(everything)
    assert doc in json.dumps(everything), "the other traces stay"
    # Nor do the pages tell how many were left out: each is full until the last, and the next links
    # walk exactly the events the patient sees.
    walked, url = [], "/fhir/AuditEvent?_count=2"
    while url:
        page = patient.get(url).json
        ids = [e["resource"]["id"] for e in page.get("entry", [])]
        nxt = [l["url"] for l in page.get("link", []) if l["relation"] == "next"]
        assert len(ids) == 2 or not nxt, (ids, nxt)
        walked += ids
        url = nxt[0][nxt[0].index("/fhir/"):] if nxt else None
    seen = [e["resource"]["id"] for e in everything["entry"]]
    # (the walk's own searches are traced too: newer events at its head)
    assert [i for i in walked if int(i) <= max(int(x) for x in seen)] == seen, (walked, seen)


# --- the published examples -------------------------------------------------------------------


def _cda_bundle(pid, path, author, type_code, fmt="urn:ihe:iti:xds-sd:text:2008", klass="10"):
    data = open(path, "rb").read()
    doc = _docref(pid, author, type_code=type_code, klass=klass)
    att = doc["content"][0]["attachment"]
    att.update(contentType="text/xml", size=len(data), hash=base64.b64encode(hashlib.sha1(data).digest()).decode())
    att.pop("data")
    att["url"] = "urn:uuid:99999999-9999-4999-8999-%012d" % (abs(hash(path)) % 10 ** 12)
    doc["content"][0]["format"]["code"] = fmt
    binary = {"resourceType": "Binary", "contentType": "text/xml", "data": base64.b64encode(data).decode()}
    return doc, (att["url"], binary)


def test_cda_examples(ctx):
    d = _dmp(ctx)
    pid, ins = d.patient(row=CDA_PATIENT)
    feeder = d.srv.client(d.env.token(d.data, d.cda_author, "professional", profession="10", structure="cda-structure"))
    types = {"VSM_1.4_2022.01.xml": "SYNTH", "BIO-CR-BIO_2024.01_TSH_1.xml": "11502-2",
             "BIO-CR-BIO_2024.01_CR-2nde-intention-PDF.xml": "11502-2", "IMG_CR_IMG_2024.01.xml": "18748-4",
             "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml": "18748-4", "LDL-SES_2022.01.xml": "11490-0",
             "DOC_NON_STRUCTURE_CDA-R2-N1.xml": "11502-2"}
    fed = 0
    for name, type_code in types.items():
        path = os.path.join(CONFORMANCE, "cda", name)
        author = _cda_authors(path)[0]
        client = d.srv.client(d.env.token(d.data, author, "professional", profession="10", structure="cda-structure"))
        doc, binary = _cda_bundle(pid, path, author, type_code)
        if type_code == "SYNTH":
            doc["type"]["coding"][0]["system"] = NOS + "TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire"
        _provide(client, pid, [doc], binaries=[binary])
        fed += 1
    assert fed == 7
    assert _find(feeder, "patient=" + pid)[1] == fed, "the care team (same structure) reads all seven"
    # Cross-checks: the header's code, patient and author against the metadata.
    path = os.path.join(CONFORMANCE, "cda", "LDL-SES_2022.01.xml")
    doc, binary = _cda_bundle(pid, path, d.cda_author, "11502-2")
    assert "differs from the CDA header's code" in _outcome(_provide(feeder, pid, [doc], binaries=[binary], expect=422))
    other, _ = d.patient()
    doc, binary = _cda_bundle(other, path, d.cda_author, "11490-0")
    assert "qualified INS" in _outcome(_provide(feeder, other, [doc], binaries=[binary], expect=422))
    doc, binary = _cda_bundle(pid, path, AUTHOR, "11490-0")
    assert "not an author of the CDA" in _outcome(_provide(d.pro[AUTHOR], pid, [doc], binaries=[binary], expect=422))
    # Hostile XML: an entity bomb and an external entity are refused, the server stays up.
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
            '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><ClinicalDocument xmlns="urn:hl7-org:v3">&lol3;</ClinicalDocument>')
    xxe = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           '<ClinicalDocument xmlns="urn:hl7-org:v3">&x;</ClinicalDocument>')
    for text in (bomb, xxe, "<ClinicalDocument xmlns='urn:hl7-org:v3'><unclosed></ClinicalDocument>"):
        doc = _docref(pid, d.cda_author, text, type_code="11490-0")
        doc["content"][0]["attachment"]["contentType"] = "text/xml"
        r = _provide(feeder, pid, [doc], expect=422)
        assert "CDA" in _outcome(r), _outcome(r)
    assert _find(feeder, "patient=" + pid)[1] == fed


def _pdsm(name):
    base = os.path.join(CONFORMANCE, "pdsm")
    path = os.path.join(base, "add-exemples-iti65", name)
    return json.load(open(path if os.path.exists(path) else os.path.join(base, name), encoding="utf-8"))


def _pdsm_load_bundle(pid):
    """doc-old of the example (made current) with its Binary, loaded by id (PUT entries of a provide
    bundle)."""
    old = _pdsm("DocumentReference-doc-old.json")
    old["status"] = "current"
    b = _bundle(pid, [])
    b["entry"][0]["resource"]["entry"] = [{"item": {"reference": "DocumentReference/doc-old"}}]
    b["entry"].append({"resource": old, "request": {"method": "PUT", "url": "DocumentReference/doc-old"}})
    b["entry"].append({"resource": _pdsm("Binary-6789.json"), "request": {"method": "PUT", "url": "Binary/6789"}})
    return b


def _pdsm_setup(d):
    """The example's patient (its INS qualified here) and author, and the bundle that loads doc-old."""
    p = _pdsm("Patient-fr-patient-123.json")
    pid, ins = d.patient(row=PDSM_PATIENT, pid=p["id"])
    feeder = d.srv.client(d.env.token(d.data, "81011848351", "professional", profession="10", structure="pdsm"))
    return pid, _pdsm_load_bundle(pid), feeder


def test_pdsm_examples_checked(ctx):
    """With the size and hash check on (the default), the published examples are refused, naming it."""
    d = _dmp(ctx)
    pid, b, feeder = _pdsm_setup(d)
    r = feeder.post("/fhir", b, expect=422)
    assert "attachment.size" in _outcome(r), _outcome(r)


def test_pdsm_examples_accepted(ctx):
    """With dmp_check_hash off, the replace bundle of the PDSm guide is accepted as published."""
    d = Dmp(ctx, flags=["--dmp-check-hash", "false"], name="dmp-examples")
    pid, b, feeder = _pdsm_setup(d)
    feeder.post("/fhir", b, expect=200)
    replace = _pdsm("Bundle-bundle-exemple-comprehensiveprovidedocument-replace.json")
    r = feeder.post("/fhir", replace, expect=200)
    statuses = [e["response"]["status"] for e in r.json["entry"]]
    assert statuses == ["201 Created", "201 Created", "200 OK", "201 Created"], statuses
    assert feeder.get("/fhir/DocumentReference/doc-old", expect=200).json["status"] == "superseded"
    current = feeder.search("DocumentReference", "patient=%s&status=current" % pid).json
    assert current["total"] == 1
    new = current["entry"][0]["resource"]
    assert new["relatesTo"][0]["target"]["reference"] == "DocumentReference/doc-old"
    raw = feeder.get("/fhir/" + new["content"][0]["attachment"]["url"], headers={"Accept": "*/*"}, expect=200)
    assert raw.body == b"Hello" and raw.h("Content-Type").startswith("application/pdf")
    # Loading the same documents again is a conflict, not an overwrite.
    feeder.post("/fhir", _pdsm_load_bundle(pid), expect=409)
