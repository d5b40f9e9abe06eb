#!/usr/bin/env python3
"""dmp_load.py - data for the DMP benchmark (bench/dmp.sh), through the server's own API.

    dmp_load.py patients URL ADMIN_TOKEN IDENTITY_TOKEN BASE_CSV COUNT IDS_OUT
        the author in the directory, then COUNT qualified Patients from unique rows of the INS
        reference base (transaction bundles of 500); their ids go to IDS_OUT, one per line.
    dmp_load.py documents URL TOKEN IDS_FILE PER_PATIENT THREADS
        one ITI-65 bundle per patient with PER_PATIENT small text documents of five types.
    dmp_load.py feed-body BASE_CSV IDS_FILE OUT URL TOKEN
        one ITI-65 bundle with a 20 KB CDA (N3) for the first patient: the body wrk posts.
    dmp_load.py raw-commits DIR SECONDS
        the baseline: commits of 20 KB rows to a WAL SQLite database with synchronous=FULL, one
        per transaction, for SECONDS; prints commits/s.
"""

import base64
import csv
import hashlib
import http.client
import json
import os
import sqlite3
import sys
import threading
import time
import urllib.parse

AUTHOR = "810000000011"
TYPES = ["11490-0", "11502-2", "18748-4", "34133-9", "11488-4"]
NOS = "https://mos.esante.gouv.fr/NOS/"


def conn(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=300)


def post(c, path, token, body, method="POST"):
    c.request(method, path, body=json.dumps(body).encode(),
              headers={"Authorization": "Bearer " + token, "Content-Type": "application/fhir+json"})
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        raise SystemExit("%s %s: %d %s" % (method, path, r.status, data[:300]))
    return json.loads(data) if data else None


def patient_of(r):
    return {"resourceType": "Patient",
            "identifier": [{"use": "official", "system": "urn:oid:" + r["oid"], "value": r["matricule"]}],
            "name": [{"use": "official", "family": r["nom_naissance"], "given": r["prenoms"].split(" ")[:1],
                      "extension": [{"url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-birth-list-given-name",
                                     "valueString": r["prenoms"]}]}],
            "gender": "male" if r["sexe"] == "M" else "female", "birthDate": r["date_naissance"],
            "extension": [{"url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability",
                           "extension": [{"url": "identityReliability", "valueCoding": {
                               "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445", "code": "QUAL"}},
                               {"url": "validationMode", "valueCoding": {"code": "CN"}},
                               {"url": "validationDate", "valueDate": "2026-11-20"}]}]}


def unique_rows(base):
    rows = list(csv.DictReader(open(base, encoding="utf-8")))
    count = {}
    for r in rows:
        k = (r["nom_naissance"], r["sexe"], r["date_naissance"])
        count[k] = count.get(k, 0) + 1
    return [r for r in rows if count[(r["nom_naissance"], r["sexe"], r["date_naissance"])] == 1
            and r["matricule"][0] in "12" and "-00" not in r["date_naissance"]]


def patients(url, admin, identity, base, n, out):
    c = conn(url)
    post(c, "/fhir/Practitioner/" + AUTHOR, admin, {
        "resourceType": "Practitioner", "id": AUTHOR,
        "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": AUTHOR}],
        "name": [{"family": "AUTEUR", "given": ["Banc"]}]}, method="PUT")
    rows = unique_rows(base)[:n]
    if len(rows) < n:
        raise SystemExit("the base has only %d unique identities" % len(rows))
    ids = []
    for i in range(0, n, 500):
        b = {"resourceType": "Bundle", "type": "transaction",
             "entry": [{"resource": patient_of(r), "request": {"method": "POST", "url": "Patient"}}
                       for r in rows[i:i + 500]]}
        res = post(c, "/fhir", identity, b)
        ids += [e["response"]["location"].split("/")[1] for e in res["entry"]]
    with open(out, "w") as f:
        f.write("\n".join(ids) + "\n")


def docref(pid, type_code, data, content_type="text/plain", fmt="urn:ihe:iti:xds-sd:text:2008", day=1):
    return {"resourceType": "DocumentReference",
            "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.250.1.999.%d.%d" % (
                time.time_ns(), threading.get_ident() % 100000)},
            "status": "current",
            "type": {"coding": [{"system": "http://loinc.org", "code": type_code}]},
            "category": [{"coding": [{"system": NOS + "TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument", "code": "10"}]}],
            "subject": {"reference": "Patient/" + pid},
            "date": "2026-11-%02dT10:00:00+01:00" % (1 + day % 28),
            "author": [{"reference": "Practitioner/" + AUTHOR}],
            "securityLabel": [{"coding": [{"system": NOS + "TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument",
                                           "code": "N"}]}],
            "content": [{"attachment": {"contentType": content_type, "data": base64.b64encode(data).decode(),
                                        "size": len(data), "hash": base64.b64encode(hashlib.sha1(data).digest()).decode()},
                         "format": {"system": NOS + "TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode", "code": fmt}}],
            "context": {"facilityType": {"coding": [{"system": NOS + "TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite", "code": "SA01"}]},
                        "practiceSetting": {"coding": [{"system": NOS + "TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice",
                                                        "code": "ETABLISSEMENT"}]}}}


def bundle(pid, docs):
    entries = [{"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000000",
                "resource": {"resourceType": "List", "status": "current", "mode": "working",
                             "code": {"coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes",
                                                  "code": "submissionset"}]},
                             "subject": {"reference": "Patient/" + pid}, "date": "2026-11-20T10:00:00+01:00"},
                "request": {"method": "POST", "url": "List"}}]
    entries += [{"resource": d, "request": {"method": "POST", "url": "DocumentReference"}} for d in docs]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def documents(url, token, ids_file, per, threads):
    ids = [l.strip() for l in open(ids_file) if l.strip()]
    done = [0]
    lock = threading.Lock()

    def work(part):
        c = conn(url)
        for pid in part:
            docs = [docref(pid, TYPES[k % len(TYPES)], ("compte rendu %d de %s" % (k, pid)).encode(), day=k)
                    for k in range(per)]
            post(c, "/fhir", token, bundle(pid, docs))
            with lock:
                done[0] += 1
    t0 = time.time()
    ts = [threading.Thread(target=work, args=(ids[i::threads],)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.time() - t0
    print("%d documents for %d patients in %.0f s (%.0f documents/s)" % (len(ids) * per, len(ids), dt,
                                                                       len(ids) * per / max(dt, 0.001)))


def cda_20k(matricule):
    filler = "".join("<paragraph>Observation clinique %05d : examen sans particularité, suivi habituel.</paragraph>" % i
                     for i in range(220))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<ClinicalDocument xmlns="urn:hl7-org:v3"><typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>'
            '<id root="1.2.250.1.999.1"/><code code="11490-0" codeSystem="2.16.840.1.113883.6.1"/>'
            '<title>Lettre de liaison</title><effectiveTime value="20261120100000+0100"/>'
            '<confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>'
            '<recordTarget><patientRole><id root="1.2.250.1.213.1.4.10" extension="%s"/></patientRole></recordTarget>'
            '<author><time value="20261120100000+0100"/><assignedAuthor><id root="1.2.250.1.71.4.2.1" extension="%s"/>'
            '</assignedAuthor></author>'
            '<custodian><assignedCustodian><representedCustodianOrganization><id root="1.2.250.1.71.4.2.2" extension="1bench"/>'
            '</representedCustodianOrganization></assignedCustodian></custodian>'
            '<component><structuredBody><component><section><text>%s</text></section></component></structuredBody>'
            '</component></ClinicalDocument>' % (matricule, AUTHOR, filler)).encode("utf-8")


def feed_body(base, ids_file, out, url, token):
    """The feed body is for the first patient: its INS is read back from the server."""
    pid = open(ids_file).readline().strip()
    c = conn(url)
    c.request("GET", "/fhir/Patient/" + pid, headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    p = json.loads(r.read())
    ins = [i["value"] for i in p["identifier"] if i["system"].startswith("urn:oid:1.2.250.1.213.1.4.")][0]
    data = cda_20k(ins)
    d = docref(pid, "11490-0", data, content_type="text/xml", fmt="urn:ihe:iti:xds-sd:text:2008")
    with open(out, "w") as f:
        json.dump(bundle(pid, [d]), f)
    print("feed body: %d bytes, CDA %d bytes" % (os.path.getsize(out), len(data)))


def raw_commits(directory, seconds):
    path = os.path.join(directory, "raw.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE doc (id INTEGER PRIMARY KEY, body BLOB)")
    blob = os.urandom(20 * 1024)
    n = 0
    t0 = time.time()
    while time.time() - t0 < seconds:
        db.execute("BEGIN")
        db.execute("INSERT INTO doc (body) VALUES (?)", (blob,))
        db.execute("COMMIT")
        n += 1
    print("%.0f" % (n / (time.time() - t0)))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "patients":
        patients(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), sys.argv[7])
    elif cmd == "documents":
        documents(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    elif cmd == "feed-body":
        feed_body(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6])
    elif cmd == "raw-commits":
        raw_commits(sys.argv[2], float(sys.argv[3]))
    else:
        raise SystemExit(__doc__)
