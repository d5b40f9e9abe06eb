"""test_ins.py - the INS service: the synthetic reference base (generate, import with its report),
the INSi teleservice (00/01/02 by traits and by carte Vitale, verification, past INS in
insHistorique, bad input, who may call, audit and usage counters), and the RNIV rules on FHIR
Patient writes."""

import csv
import io
import json
import os

import harness
from harness import wait_for

OID_TEST = "1.2.250.1.213.1.4.10"
RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"


def key(thirteen):
    n = int(thirteen[:5] + thirteen[5:7].replace("2A", "19").replace("2B", "18") + thirteen[7:])
    return "%02d" % (97 - n % 97)


def _base(ctx):
    """Generate a 20,000-identity base and import it into the shared server's database, once."""
    b = getattr(ctx.env, "ins_base", None)
    if b:
        return b
    srv = ctx.srv
    path = os.path.join(ctx.env.root, "ins-base.csv")
    ctx.env.cli("ins", "generate", "--count", "20000", "--seed", "11", "--out", path)
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    p = ctx.env.cli("ins", "import", path, "--data", ctx.data, "--db", ctx.db, "--log-level", "warn", timeout=600)
    assert "20000 identities loaded, 0 rejected" in p.stdout, p.stdout
    by_traits = {}
    for r in rows:
        by_traits.setdefault((r["nom_naissance"], r["prenoms"], r["sexe"], r["date_naissance"]), []).append(r)
    unique = [r for r in rows if len(by_traits[(r["nom_naissance"], r["prenoms"], r["sexe"], r["date_naissance"])]) == 1
              and r["date_naissance"][5:] != "00-00" and "00" not in r["date_naissance"][5:]]
    homonyms = [v for v in by_traits.values() if len(v) > 1]
    twins = {}
    for r in rows:
        if r["rang_naissance"] == "2":
            twins[r["matricule_ouvrant_droit"] + r["date_naissance"]] = r
    ctx.env.ins_base = b = {"path": path, "rows": rows, "unique": unique, "homonyms": homonyms, "twins": list(twins.values())}
    return b


def _pro(ctx):
    return ctx.pro


def rechercher(client, body, expect=200):
    return client.post("/insi/v1/rechercher", body=json.dumps(body), ctype="application/json", expect=expect)


def verifier(client, body, expect=200):
    return client.post("/insi/v1/verifier", body=json.dumps(body), ctype="application/json", expect=expect)


def traits_of(r, **over):
    t = {"nomNaissance": r["nom_naissance"], "prenoms": r["prenoms"].split(" ")[:1], "sexe": r["sexe"],
         "dateNaissance": r["date_naissance"]}
    t.update(over)
    return t


def test_generate_is_deterministic_and_valid(ctx):
    d = ctx.env.new_data("ins-gen", pki=False)
    a, b, c = (os.path.join(d, n) for n in ("a.csv", "b.csv", "c.csv"))
    ctx.env.cli("ins", "generate", "--count", "5000", "--seed", "5", "--out", a)
    ctx.env.cli("ins", "generate", "--count", "5000", "--seed", "5", "--out", b)
    ctx.env.cli("ins", "generate", "--count", "5000", "--seed", "6", "--out", c)
    assert open(a, "rb").read() == open(b, "rb").read(), "the same seed must give the same file"
    assert open(a, "rb").read() != open(c, "rb").read(), "another seed must give another file"
    rows = list(csv.DictReader(open(a, encoding="utf-8")))
    assert len(rows) == 5000
    assert list(rows[0].keys()) == ["matricule", "oid", "nom_naissance", "prenoms", "sexe", "date_naissance",
                                    "lieu_naissance", "matricule_ouvrant_droit", "rang_naissance", "ins_historique"]
    places = set()
    with_past = 0
    for r in rows:
        if r["ins_historique"]:  # an earlier NIA of a person with a NIR
            past, oid = r["ins_historique"].split(":")
            assert key(past[:13]) == past[13:] and past[0] in "78" and r["matricule"][0] in "12", r
            assert oid == OID_TEST
            with_past += 1
        m = r["matricule"]
        assert len(m) == 15 and key(m[:13]) == m[13:], "bad key: %s" % m
        assert r["oid"] == OID_TEST, "synthetic data must use the test OID"
        assert r["sexe"] in ("M", "F") and m[0] in ("12" if r["sexe"] == "M" else "21") or m[0] in "78", m
        assert (m[0] in "17") == (r["sexe"] == "M"), "sex digit of %s vs %s" % (m, r["sexe"])
        if r["lieu_naissance"]:
            assert m[5:10] == r["lieu_naissance"], "NIR birth place of %s vs %s" % (m, r["lieu_naissance"])
            places.add(r["lieu_naissance"][:2])
        if r["matricule_ouvrant_droit"]:
            o = r["matricule_ouvrant_droit"]
            assert key(o[:13]) == o[13:]
    assert {"2A", "2B", "97", "99"} <= places, "Corsica, overseas and abroad births expected: %s" % sorted(places)
    assert any(r["rang_naissance"] == "2" for r in rows), "twins expected"
    assert 10 <= with_past <= 150, "about 1 %% of the persons have a past INS: %d" % with_past
    assert any(any(ch in r["nom_naissance"] + r["prenoms"] for ch in "ÉÈÀÇËÏÔÎÛÜ") for r in rows), "accents expected"
    bad = ctx.env.cli("ins", "generate", "--count", "0", "--out", a, check=False)
    assert bad.returncode == 2 and "--count" in bad.stderr


def test_import_report_and_idempotence(ctx):
    d = ctx.env.new_data("ins-import", pki=False)
    db = ctx.env.new_db(d)
    path = os.path.join(d, "base.csv")
    ctx.env.cli("ins", "generate", "--count", "300", "--seed", "2", "--out", path)
    good = "1" + "80" + "01" + "75056" + "123"
    with open(path, "a", encoding="utf-8") as f:
        f.write("%s%s,%s,Dupont,Jean,M,1980-01-17,75056,,\n" % (good, key(good), OID_TEST))       # line 302: ok
        f.write("%s%02d,%s,Dupont,Jean,M,1980-01-17,75056,,\n" % (good, (int(key(good)) % 97) + 1, OID_TEST))  # bad key
        f.write("%s%s,%s,Dupont,Jean,M,1980-02-30,75056,,\n" % (good, key(good), OID_TEST))       # 304 impossible date
        f.write("%s%s,%s,Dupont,Jean,X,1980-01-17,75056,,\n" % (good, key(good), OID_TEST))       # 305 sex
        f.write("%s%s,%s,Dup0nt,Jean,M,1980-01-17,75056,,\n" % (good, key(good), OID_TEST))       # 306 digit
        f.write("%s%s,1.2.250.1.213.1.4.8,Dupont,Jean,M,1980-01-17,75056,,\n" % (good, key(good)))  # 307 prod OID ok? (known)
        f.write("too,few,fields\n")                                                                # 308
        f.write("%s%s,%s,Dupont,Jean,M,1980-01-17,2C056,,\n" % (good, key(good), OID_TEST))       # 309 place
    p = ctx.env.cli("ins", "import", path, "--data", d, "--db", db, "--log-level", "warn")
    report = open(path + ".rejets.txt", encoding="utf-8").read()
    lines = report.strip().split("\n")
    assert [l.split(":")[0] for l in lines] == ["line 303", "line 304", "line 305", "line 306", "line 308", "line 309"], report
    assert "wrong key" in lines[0] and "date_naissance" in lines[1] and "sexe" in lines[2] and "digit" in lines[3]
    assert "lieu_naissance" in lines[5]
    assert "302 identities loaded, 6 rejected" in p.stdout, p.stdout
    # Again: the same identities, no duplicates (the matricule of line 302 was replaced by line 307).
    p = ctx.env.cli("ins", "import", path, "--data", d, "--db", db, "--log-level", "warn")
    assert "302 identities loaded, 6 rejected" in p.stdout, p.stdout
    bad_header = os.path.join(d, "bad.csv")
    open(bad_header, "w").write("a,b,c\n")
    p = ctx.env.cli("ins", "import", bad_header, "--data", d, "--db", db, check=False)
    assert p.returncode == 1 and "header" in p.stderr


def test_insi_search_by_traits(ctx):
    b = _base(ctx)
    pro = _pro(ctx)
    r = b["unique"][0]
    # Lower case and accents removed in the query still find the identity (RNIV normalisation).
    t = traits_of(r, nomNaissance=r["nom_naissance"].lower(), prenoms=[r["prenoms"].split(" ")[0].lower()])
    ans = rechercher(pro, {"traits": t}).json
    assert ans["cr"] == "00", ans
    assert ans["ins"] == {"matricule": r["matricule"], "oid": OID_TEST}
    assert ans["traits"]["prenoms"] == r["prenoms"].upper().split(" ") or len(ans["traits"]["prenoms"]) == len(r["prenoms"].split(" "))
    assert ans["traits"]["sexe"] == r["sexe"] and ans["traits"]["dateNaissance"] == r["date_naissance"]
    assert ans["traits"]["nomNaissance"].isupper()
    # Any birth first name finds it, the birth place when given must match.
    if len(r["prenoms"].split(" ")) > 1:
        assert rechercher(pro, {"traits": traits_of(r, prenoms=[r["prenoms"].split(" ")[-1]])}).json["cr"] == "00"
    if r["lieu_naissance"]:
        assert rechercher(pro, {"traits": traits_of(r, lieuNaissance=r["lieu_naissance"])}).json["cr"] == "00"
        other = "75056" if r["lieu_naissance"] != "75056" else "69123"
        assert rechercher(pro, {"traits": traits_of(r, lieuNaissance=other)}).json["cr"] == "01"
    # None: another birth date; the answer holds no identity.
    ans = rechercher(pro, {"traits": traits_of(r, dateNaissance="1899-01-01" if False else "1901-01-01")}).json
    assert ans["cr"] == "01" and "ins" not in ans and "traits" not in ans
    # Several: exact homonyms answer 02 and give no data.
    h = b["homonyms"][0][0]
    ans = rechercher(pro, {"traits": traits_of(h)}).json
    assert ans["cr"] == "02" and "ins" not in ans and "traits" not in ans, ans


def test_insi_search_by_carte_vitale(ctx):
    b = _base(ctx)
    pro = _pro(ctx)
    tw = b["twins"][0]
    q = {"matriculeOuvrantDroit": tw["matricule_ouvrant_droit"], "dateNaissance": tw["date_naissance"]}
    assert rechercher(pro, {"carteVitale": q}).json["cr"] == "02", "twins without a rank are several"
    ans = rechercher(pro, {"carteVitale": dict(q, rangNaissance=2)}).json
    assert ans["cr"] == "00" and ans["ins"]["matricule"] == tw["matricule"], ans
    assert rechercher(pro, {"carteVitale": dict(q, dateNaissance="1902-02-02")}).json["cr"] == "01"


def test_insi_verification(ctx):
    b = _base(ctx)
    pro = _pro(ctx)
    r = b["unique"][1]
    ins = {"matricule": r["matricule"], "oid": OID_TEST}
    ans = verifier(pro, {"ins": ins, "traits": traits_of(r)}).json
    assert ans == {"conforme": True, "ecarts": []}, ans
    other_sex = "F" if r["sexe"] == "M" else "M"
    ans = verifier(pro, {"ins": ins, "traits": traits_of(r, sexe=other_sex, nomNaissance="AUTRENOM")}).json
    assert ans["conforme"] is False and ans["ecarts"] == ["nomNaissance", "sexe"], ans
    ans = verifier(pro, {"ins": ins, "traits": traits_of(r, prenoms=["INCONNU"])}).json
    assert ans["ecarts"] == ["prenoms"], ans
    ans = verifier(pro, {"ins": {"matricule": r["matricule"], "oid": "1.2.250.1.213.1.4.11"}, "traits": traits_of(r)}).json
    assert ans["ecarts"] == ["ins"], "another OID is another identifier: %s" % ans


OID_NIA = "1.2.250.1.213.1.4.9"


def test_insi_past_ins(ctx):
    """insHistorique: the past INS of the file's ins_historique column, found under the active INS;
    a past matricule is never the active identity, and verifier does not find it conforming."""
    pro = _pro(ctx)
    d = ctx.env.new_data("ins-past", pki=False)
    path = os.path.join(d, "past.csv")
    active = "1850799135321"
    active += key(active)
    nia = "7850799135654"
    nia += key(nia)
    nia2 = "7850799135655"
    nia2 += key(nia2)
    person = ",%s,Passe-Histo,Marc Antoine,M,1985-07-04,99135,," % OID_TEST
    with open(path, "w", encoding="utf-8") as f:
        f.write("matricule,oid,nom_naissance,prenoms,sexe,date_naissance,lieu_naissance,matricule_ouvrant_droit,"
                "rang_naissance,ins_historique\n")
        f.write("%s%s,%s:%s %s:%s\n" % (active, person, nia, OID_NIA, nia2, OID_TEST))  # 2: two past INS
        f.write("%s%s,\n" % (nia, person))  # 3: the old NIA kept a row of its own
        f.write("%s%s,%s\n" % (nia2, person.replace("Marc", "Luc"), nia))  # 4: no OID
        f.write("%s%s,%s%02d:%s\n" % (nia2, person.replace("Marc", "Luc"), nia[:13], int(nia[13:]) % 97 + 1,
                                       OID_NIA))  # 5: bad key
        f.write("%s%s,%s:1.2.x\n" % (nia2, person.replace("Marc", "Luc"), nia))  # 6: bad OID
    p = ctx.env.cli("ins", "import", path, "--data", ctx.data, "--db", ctx.db, "--log-level", "warn")
    assert "2 identities loaded, 3 rejected" in p.stdout, p.stdout
    lines = open(path + ".rejets.txt", encoding="utf-8").read().strip().split("\n")
    assert [l.split(":")[0] for l in lines] == ["line 4", "line 5", "line 6"], lines
    assert all("ins_historique" in l for l in lines), lines
    assert "MATRICULE:OID" in lines[0] and "wrong key" in lines[1] and "oid" in lines[2], lines
    assert not any(nia in l for l in lines), "no matricule in the report's reasons"

    t = {"nomNaissance": "PASSE-HISTO", "prenoms": ["MARC"], "sexe": "M", "dateNaissance": "1985-07-04"}
    ans = rechercher(pro, {"traits": t}).json
    assert ans["cr"] == "00", "the past INS is not a second identity: %s" % ans
    assert ans["ins"] == {"matricule": active, "oid": OID_TEST}, ans
    assert ans["insHistorique"] == [{"matricule": nia, "oid": OID_NIA}, {"matricule": nia2, "oid": OID_TEST}], ans

    ans = verifier(pro, {"ins": {"matricule": active, "oid": OID_TEST}, "traits": t}).json
    assert ans == {"conforme": True, "ecarts": []}, ans
    ans = verifier(pro, {"ins": {"matricule": nia, "oid": OID_NIA}, "traits": t}).json
    assert ans["conforme"] is False and "matricule" in ans["ecarts"], ans
    ans = verifier(pro, {"ins": {"matricule": nia2, "oid": OID_TEST}, "traits": t}).json
    assert ans["conforme"] is False and ans["ecarts"] == ["matricule"], ans

    # A new import of the person replaces the history: the old NIA becomes an identity again.
    with open(path, "w", encoding="utf-8") as f:
        f.write("matricule,oid,nom_naissance,prenoms,sexe,date_naissance,lieu_naissance,matricule_ouvrant_droit,"
                "rang_naissance,ins_historique\n")
        f.write("%s%s,%s:%s\n" % (active, person, nia2, OID_TEST))
    p = ctx.env.cli("ins", "import", path, "--data", ctx.data, "--db", ctx.db, "--log-level", "warn")
    assert "1 identities loaded, 0 rejected" in p.stdout or "1 identity loaded, 0 rejected" in p.stdout, p.stdout
    ans = verifier(pro, {"ins": {"matricule": nia, "oid": OID_TEST}, "traits": t}).json
    assert ans == {"conforme": True, "ecarts": []}, ans
    assert rechercher(pro, {"traits": t}).json["cr"] == "02", "two active identities with the same traits now"

    # The generated base: a person with a past NIA is found with it.
    b = _base(ctx)
    r = next(r for r in b["unique"] if r["ins_historique"])
    ans = rechercher(pro, {"traits": traits_of(r)}).json
    past, oid = r["ins_historique"].split(":")
    assert ans["cr"] == "00" and ans["ins"]["matricule"] == r["matricule"], ans
    assert ans["insHistorique"] == [{"matricule": past, "oid": oid}], ans
    ans = verifier(pro, {"ins": {"matricule": past, "oid": oid}, "traits": traits_of(r)}).json
    assert ans == {"conforme": False, "ecarts": ["matricule"]}, ans


def test_insi_bad_input(ctx):
    b = _base(ctx)
    pro = _pro(ctx)
    r = b["unique"][2]

    def outcome(resp, status, where):
        assert resp.status == status, "expected %d, got %r" % (status, resp)
        assert resp.json["resourceType"] == "OperationOutcome"
        issue = resp.json["issue"][0]
        assert where in (issue.get("expression") or [""])[0] or where in issue.get("diagnostics", ""), resp.json
        return issue["diagnostics"]

    outcome(pro.post("/insi/v1/rechercher", body="{not json", ctype="application/json", expect=400), 400, "")
    outcome(rechercher(pro, {}, expect=400), 400, "traits or carteVitale")
    outcome(rechercher(pro, {"traits": traits_of(r), "carteVitale": {}}, expect=400), 400, "either")
    t = traits_of(r)
    del t["sexe"]
    outcome(rechercher(pro, {"traits": t}, expect=400), 400, "traits.sexe")
    outcome(rechercher(pro, {"traits": traits_of(r, nomNaissance="DUP0NT")}, expect=422), 422, "traits.nomNaissance")
    outcome(rechercher(pro, {"traits": traits_of(r, nomNaissance="DU\u0001PONT")}, expect=422), 422, "traits.nomNaissance")
    outcome(rechercher(pro, {"traits": traits_of(r, nomNaissance="X" * 300)}, expect=422), 422, "traits.nomNaissance")
    outcome(rechercher(pro, {"traits": traits_of(r, dateNaissance="1980-02-30")}, expect=422), 422, "traits.dateNaissance")
    outcome(rechercher(pro, {"traits": traits_of(r, dateNaissance="2999-01-01")}, expect=422), 422, "traits.dateNaissance")
    outcome(rechercher(pro, {"traits": traits_of(r, sexe="X")}, expect=422), 422, "traits.sexe")
    outcome(rechercher(pro, {"traits": traits_of(r, lieuNaissance="2C001")}, expect=422), 422, "traits.lieuNaissance")
    outcome(rechercher(pro, {"traits": traits_of(r, prenoms="JEAN")}, expect=400), 400, "traits.prenoms")
    # An empty first name would switch the first-name rule off (a search by three traits answered 00).
    outcome(rechercher(pro, {"traits": traits_of(r, prenoms=[""])}, expect=400), 400, "traits.prenoms")
    outcome(rechercher(pro, {"traits": traits_of(r, prenoms=["-"])}, expect=422), 422, "traits.prenoms")
    outcome(rechercher(pro, {"carteVitale": {"matriculeOuvrantDroit": "123", "dateNaissance": "1980-01-01"}},
                       expect=422), 422, "carteVitale.matriculeOuvrantDroit")
    bad = r["matricule"][:13] + "%02d" % ((int(r["matricule"][13:]) % 97) + 1)
    d = outcome(verifier(pro, {"ins": {"matricule": bad, "oid": OID_TEST}, "traits": traits_of(r)}, expect=422), 422,
                "ins.matricule")
    assert "key" in d
    outcome(verifier(pro, {"ins": {"matricule": r["matricule"], "oid": "1.2.3"}, "traits": traits_of(r)}, expect=422),
            422, "ins.oid")
    resp = pro.post("/insi/v1/rechercher", body=json.dumps({"traits": traits_of(r)}), ctype="text/plain", expect=415)
    assert resp.json["resourceType"] == "OperationOutcome"
    ctx.srv.assert_alive()


def test_insi_who_may_call(ctx):
    b = _base(ctx)
    r = b["unique"][3]
    body = {"traits": traits_of(r)}
    resp = rechercher(ctx.anon, body, expect=401)
    assert (resp.h("WWW-Authenticate") or "").startswith("Bearer")
    rechercher(ctx.patient, body, expect=403)
    assert rechercher(ctx.system, body).json["cr"] == "00", "software (system token) may call INSi"
    ctx.pro.get("/insi/v1/usage", expect=403)
    # Software's token is not the identitovigilance cell, nor the admin or the auditor.
    ctx.system.get("/insi/v1/usage", expect=403)
    ctx.system.get("/ins/v1/doublons", expect=403)
    ctx.system.post("/ins/v1/fusion", body=json.dumps({"survivant": "a", "doublon": "b"}), ctype="application/json",
                    expect=403)


def test_insi_audited_and_counted(ctx):
    b = _base(ctx)
    r = b["unique"][4]
    before = ctx.auditor.get("/insi/v1/usage").json["usage"]

    def calls(usage, result):
        return sum(u["appels"] for u in usage if u["utilisateur"] == "810000000042" and u["structure"] == "it-structure"
                   and u["operation"] == "rechercher" and u["resultat"] == result)
    rechercher(ctx.pro, {"traits": traits_of(r)})
    rechercher(ctx.pro, {"traits": traits_of(r)})
    rechercher(ctx.pro, {"traits": traits_of(r, dateNaissance="1901-01-01")})
    after = ctx.auditor.get("/insi/v1/usage").json["usage"]
    assert calls(after, "00") == calls(before, "00") + 2, after
    assert calls(after, "01") == calls(before, "01") + 1, after
    day = after[0]["jour"]
    assert all(u["jour"] == day for u in ctx.auditor.get("/insi/v1/usage?day=" + day).json["usage"])
    ctx.auditor.get("/insi/v1/usage?day=yesterday", expect=400)

    def events():
        bundle = ctx.auditor.get("/fhir/AuditEvent?action=insi-rechercher&agent=810000000042&_count=50").json
        evs = [e["resource"] for e in bundle.get("entry", [])]
        return evs if any(r["matricule"] in json.dumps(e) for e in evs) else None
    wait_for(events, "an AuditEvent naming the INS looked up")


# --- RNIV rules on the local identity repository (FHIR Patient) ---

def _patient(r, status=None, mode=None, attributes=(), ins=False, **over):
    p = {"resourceType": "Patient",
         "name": [{"use": "official", "family": r["nom_naissance"], "given": r["prenoms"].split(" ")[:1],
                   "extension": [{"url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-birth-list-given-name",
                                  "valueString": r["prenoms"]}]}],
         "gender": "male" if r["sexe"] == "M" else "female", "birthDate": r["date_naissance"],
         "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.7", "value": "IPP-" + harness.uid(8)}]}
    ext = []
    if status:
        sub = [{"url": "identityReliability", "valueCoding": {
            "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445", "code": status}}]
        if mode:
            sub.append({"url": "validationMode", "valueCoding": {"code": mode}})
            sub.append({"url": "validationDate", "valueDate": "2026-11-20"})
        ext.append({"url": RELIABILITY, "extension": sub})
    for a in attributes:
        ext.append({"url": RELIABILITY, "extension": [{"url": "identityReliability", "valueCoding": {
            "system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445", "code": a}}]})
    if ext:
        p["extension"] = ext
    if ins:
        p["identifier"].append({"use": "official", "system": "urn:oid:" + OID_TEST, "value": r["matricule"]})
    p.update(over)
    return p


def _identity_client(ctx):
    c = getattr(ctx.env, "ins_identity_client", None)
    if c is None:
        tok = ctx.env.token(ctx.data, "810000000099", "professional", roles=["identity"], profession="10",
                            structure="it-structure")
        c = ctx.env.ins_identity_client = ctx.srv.client(tok)
    return c


def _status(p):
    for e in p.get("extension", []):
        if e["url"] == RELIABILITY:
            for s in e["extension"]:
                if s["url"] == "identityReliability" and s["valueCoding"]["code"] in ("PROV", "RECUP", "VALI", "QUAL"):
                    return s["valueCoding"]["code"]
    return "PROV"


def _rule(resp, words):
    assert resp.status == 422, "expected 422, got %r" % resp
    d = resp.json["issue"][0]["diagnostics"]
    assert all(w in d for w in words), "the 422 should say %s: %s" % (words, d)


def test_rniv_transitions(ctx):
    b = _base(ctx)
    c = _identity_client(ctx)
    r = b["unique"][5]
    ctx.secret(r["nom_naissance"]) if len(r["nom_naissance"]) >= 6 else None
    # provisoire: anything goes, no INS.
    c.create(_patient(r))
    c.create(_patient(r, "PROV"))
    # validée needs a high-trust document.
    _rule(c.post("/fhir/Patient", _patient(r, "VALI"), expect=422), ["validée", "high-trust"])
    _rule(c.post("/fhir/Patient", _patient(r, "VALI", mode="AN"), expect=422), ["validée", "high-trust"])
    c.create(_patient(r, "VALI", mode="CN"))
    # récupérée only with INSi's traits.
    c.create(_patient(r, "RECUP"))
    _rule(c.post("/fhir/Patient", _patient(r, "RECUP", birthDate="1901-01-01"), expect=422), ["récupérée", "no identity"])
    h = b["homonyms"][0][0]
    _rule(c.post("/fhir/Patient", _patient(h, "RECUP"), expect=422), ["récupérée", "several"])
    # douteuse / fictive can be neither récupérée nor qualifiée.
    _rule(c.post("/fhir/Patient", _patient(r, "RECUP", attributes=["DOUT"]), expect=422), ["douteuse"])
    _rule(c.post("/fhir/Patient", _patient(r, "QUAL", mode="PA", attributes=["FICT"], ins=True), expect=422), ["fictive"])
    # The INS identifier only on a qualified identity.
    _rule(c.post("/fhir/Patient", _patient(r, "VALI", mode="CN", ins=True), expect=422), ["only by a qualifiée"])
    # qualifiée = validée + INSi.
    _rule(c.post("/fhir/Patient", _patient(r, "QUAL", mode="CN"), expect=422), ["INS identifier"])
    _rule(c.post("/fhir/Patient", _patient(r, "QUAL", ins=True), expect=422), ["high-trust"])
    other = b["unique"][6]
    wrong = _patient(r, "QUAL", mode="CN")
    wrong["identifier"].append({"system": "urn:oid:" + OID_TEST, "value": other["matricule"]})
    _rule(c.post("/fhir/Patient", wrong, expect=422), ["qualifiée", "traits"])
    bad_key = _patient(r, "QUAL", mode="CN")
    bad_key["identifier"].append({"system": "urn:oid:" + OID_TEST, "value": r["matricule"][:13] + "00"})
    _rule(c.post("/fhir/Patient", bad_key, expect=422), ["INS identifier", "key"])
    q = c.create(_patient(r, "QUAL", mode="CN", ins=True))
    assert _status(q) == "QUAL" and any(i["system"] == "urn:oid:" + OID_TEST for i in q["identifier"])


def test_rniv_trait_change_downgrades(ctx):
    b = _base(ctx)
    c = _identity_client(ctx)
    r = b["unique"][7]
    q = c.create(_patient(r, "QUAL", mode="PA", ins=True))
    # The same traits again (a new verification would agree): still qualified.
    same = dict(q)
    same.pop("meta", None)
    kept = c.put("/fhir/Patient/" + q["id"], same, expect=200).json
    assert _status(kept) == "QUAL"
    # A birth name typed differently, without a new INSi verification: downgraded to validée and
    # the INS is no longer carried.
    changed = dict(kept)
    changed.pop("meta", None)
    changed["name"] = [dict(changed["name"][0], family="AUTRE-NOM")]
    down = c.put("/fhir/Patient/" + q["id"], changed, expect=200).json
    assert _status(down) == "VALI", down
    assert not any(i["system"] == "urn:oid:" + OID_TEST for i in down.get("identifier", [])), down
    stored = c.get("/fhir/Patient/" + q["id"], expect=200).json
    assert _status(stored) == "VALI"


def test_rniv_policy(ctx):
    b = _base(ctx)
    r = b["unique"][8]
    # A professional without the identity role may not write identities.
    ctx.pro.post("/fhir/Patient", _patient(r), expect=403)
    ctx.patient.post("/fhir/Patient", _patient(r), expect=403)


# --- identitovigilance: duplicates, merge, unmerge ---

def _civ(ctx):
    c = getattr(ctx.env, "ins_civ_client", None)
    if c is None:
        tok = ctx.env.token(ctx.data, "810000000077", "professional", roles=["civ", "identity"], profession="10",
                            structure="it-structure")
        c = ctx.env.ins_civ_client = ctx.srv.client(tok)
    return c


def test_duplicates_merge_unmerge(ctx):
    civ = _civ(ctx)
    fam = ctx.secret("Vigilancier" + harness.uid(4).upper().replace("0", "A").replace("1", "B").replace("2", "C")
                     .replace("3", "D").replace("4", "E").replace("5", "F").replace("6", "G").replace("7", "H")
                     .replace("8", "I").replace("9", "J"))
    base = {"nom_naissance": fam, "prenoms": "Amélie", "sexe": "F", "date_naissance": "1972-03-08"}
    a = civ.create(_patient(base))
    # The same person typed twice: accents, a phonetic variant of the name, day and month swapped.
    b = civ.create(_patient(dict(base, prenoms="AMELIE")))
    c = civ.create(_patient(dict(base, date_naissance="1972-08-03")))
    other = civ.create(_patient(dict(base, nom_naissance="Zzyzx" + fam, prenoms="Bertrande", date_naissance="1990-01-01")))
    pairs = civ.get("/ins/v1/doublons?score=50").json["paires"]
    mine = {tuple(sorted((p["patient1"], p["patient2"]))): p for p in pairs}
    ab = mine.get(tuple(sorted(("Patient/" + a["id"], "Patient/" + b["id"]))))
    assert ab and ab["score"] == 100 and "dateNaissance" in ab["criteres"], pairs[:5]
    ac = mine.get(tuple(sorted(("Patient/" + a["id"], "Patient/" + c["id"]))))
    assert ac and "dateNaissanceInversee" in ac["criteres"] and ac["score"] < 100, ac
    assert not any("Patient/" + other["id"] in k for k in mine), "an unrelated identity is no duplicate"
    scores = [p["score"] for p in pairs]
    assert scores == sorted(scores, reverse=True), "best first"
    civ.get("/ins/v1/doublons?score=abc", expect=400)
    ctx.pro.get("/ins/v1/doublons", expect=403)
    p = ctx.env.cli("ins", "doublons", "--data", ctx.data, "--db", ctx.db, "--score", "90", "--log-level", "warn")
    assert "Patient/%s" % a["id"] in p.stdout and "Patient/%s" % b["id"] in p.stdout, p.stdout

    # Something refers to the duplicate b: a merge re-points it to a.
    obs = ctx.admin.create({"resourceType": "DocumentReference", "status": "current",
                            "subject": {"reference": "Patient/" + b["id"]},
                            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]})
    r = civ.post("/ins/v1/fusion", body=json.dumps({"survivant": a["id"], "doublon": "Patient/" + b["id"]}),
                 ctype="application/json", expect=200).json
    assert r["referencesModifiees"] == 1 and len(r["fusion"]) == 36, r
    o = ctx.admin.get("/fhir/DocumentReference/" + obs["id"]).json
    assert o["subject"]["reference"] == "Patient/" + a["id"], o
    gone = ctx.admin.get("/fhir/Patient/" + b["id"]).json
    assert gone["active"] is False and gone["link"] == [{"other": {"reference": "Patient/" + a["id"]}, "type": "replaced-by"}]
    surv = ctx.admin.get("/fhir/Patient/" + a["id"]).json
    assert {"other": {"reference": "Patient/" + b["id"]}, "type": "replaces"} in surv["link"]
    # Not twice, not into itself, not by a non-CIV.
    civ.post("/ins/v1/fusion", body=json.dumps({"survivant": a["id"], "doublon": b["id"]}), ctype="application/json",
             expect=422)
    civ.post("/ins/v1/fusion", body=json.dumps({"survivant": a["id"], "doublon": a["id"]}), ctype="application/json",
             expect=422)
    civ.post("/ins/v1/fusion", body=json.dumps({"survivant": a["id"], "doublon": "no such/id"}), ctype="application/json",
             expect=400)
    civ.post("/ins/v1/fusion", body=json.dumps({"survivant": a["id"], "doublon": "unknown-patient"}),
             ctype="application/json", expect=404)
    ctx.pro.post("/ins/v1/fusion", body=json.dumps({"survivant": a["id"], "doublon": c["id"]}), ctype="application/json",
                 expect=403)
    # Undo: the reference goes back, the links go.
    u = civ.post("/ins/v1/defusion", body=json.dumps({"fusion": r["fusion"]}), ctype="application/json", expect=200).json
    assert u["referencesRestaurees"] == 1, u
    assert ctx.admin.get("/fhir/DocumentReference/" + obs["id"]).json["subject"]["reference"] == "Patient/" + b["id"]
    back = ctx.admin.get("/fhir/Patient/" + b["id"]).json
    assert back["active"] is True and "link" not in back, back
    assert "link" not in ctx.admin.get("/fhir/Patient/" + a["id"]).json
    civ.post("/ins/v1/defusion", body=json.dumps({"fusion": r["fusion"]}), ctype="application/json", expect=422)
    civ.post("/ins/v1/defusion", body=json.dumps({"fusion": "00000000-0000-0000-0000-000000000000"}),
             ctype="application/json", expect=404)

    def traced():
        b_ = ctx.auditor.get("/fhir/AuditEvent?action=ins-fusion&_count=20").json
        return [e for e in b_.get("entry", []) if r["fusion"] in json.dumps(e)]
    wait_for(traced, "the merge in the audit trail")


def test_concurrent_merges_of_one_duplicate(ctx):
    # Two cells merging the same duplicate into two survivors at once: one merge only (on
    # PostgreSQL both used to read it unmerged; SQLite runs write transactions one at a time).
    civ = _civ(ctx)
    fam = ctx.secret("Concurrent" + "".join(chr(ord("A") + int(d)) for d in harness.uid(4) if d.isdigit()))
    base = {"nom_naissance": fam, "prenoms": "Odile", "sexe": "F", "date_naissance": "1961-04-05"}
    dup, b, c = (civ.create(_patient(base)) for _ in range(3))
    tok = ctx.env.token(ctx.data, "810000000077", "professional", roles=["civ", "identity"], profession="10",
                        structure="it-structure")
    cells = [ctx.srv.client(tok), ctx.srv.client(tok)]  # one connection each
    statuses = harness.all_at_once(2, lambda i: cells[i].post("/ins/v1/fusion", body=json.dumps(
        {"survivant": (b, c)[i]["id"], "doublon": dup["id"]}), ctype="application/json", expect=(200, 422)).status)
    assert sorted(statuses) == [200, 422], statuses
    merged = civ.get("/fhir/Patient/" + dup["id"]).json
    links = merged.get("link", [])
    assert len(links) == 1 and links[0]["type"] == "replaced-by", links
    # Patient.link is the merges' own: an update keeping it passes, one writing or removing it does not.
    civ.put("/fhir/Patient/" + dup["id"], merged, expect=200)
    forged = dict(civ.get("/fhir/Patient/" + c["id"]).json, active=False,
                  link=[{"other": {"reference": "Patient/" + b["id"]}, "type": "replaced-by"}])
    assert "Patient.link" in json.dumps(civ.put("/fhir/Patient/" + c["id"], forged, expect=422).json)
    civ.put("/fhir/Patient/" + dup["id"], {k: v for k, v in merged.items() if k != "link"}, expect=422)


def test_unmerge_window(ctx):
    d = ctx.env.new_data("ins-window")
    db = ctx.env.new_db(d)
    srv = ctx.env.server(d, db, ["--ins-unmerge-window-hours", "0"], name="ins-window")
    tok = ctx.env.token(d, "810000000078", "professional", roles=["civ", "identity"], profession="10")
    civ = srv.client(tok)
    base = {"nom_naissance": "Fenetre", "prenoms": "Paul", "sexe": "M", "date_naissance": "1960-01-01"}
    a = civ.create(_patient(base))
    b = civ.create(_patient(base))
    r = civ.post("/ins/v1/fusion", body=json.dumps({"survivant": a["id"], "doublon": b["id"]}), ctype="application/json",
                 expect=200).json
    import time
    time.sleep(0.05)
    out = civ.post("/ins/v1/defusion", body=json.dumps({"fusion": r["fusion"]}), ctype="application/json", expect=422)
    assert "window" in out.json["issue"][0]["diagnostics"]
    srv.stop_ok()


def test_insi_with_client_certificates(ctx):
    """Software and professionals may call INSi with a client certificate of the test PKI (mutual
    TLS) instead of a token; such a certificate gives no other power."""
    import http.client
    import ssl
    env = ctx.env
    d = env.new_data("ins-mtls")
    db = env.new_db(d)
    env.cli("pki", "client", "--data", d, "--name", "dpi", "--kind", "software", "--id", "logiciel-dpi")
    env.cli("pki", "client", "--data", d, "--name", "dr", "--kind", "professional", "--id", "810000000055")
    path = os.path.join(d, "base.csv")
    env.cli("ins", "generate", "--count", "500", "--seed", "4", "--out", path)
    env.cli("ins", "import", path, "--data", d, "--db", db, "--log-level", "warn")
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    r = next(x for x in rows if sum(1 for y in rows if (y["nom_naissance"], y["sexe"], y["date_naissance"]) ==
                                    (x["nom_naissance"], x["sexe"], x["date_naissance"])) == 1)
    srv = env.server(d, db, ["--tls-client-ca", os.path.join(d, "pki", "ca.pem")], tls=True, name="ins-mtls")
    body = json.dumps({"traits": traits_of(r)})

    def call(name, method="POST", path_="/insi/v1/rechercher"):
        c = ssl.create_default_context(cafile=os.path.join(d, "pki", "ca.pem"))
        if name:
            c.load_cert_chain(os.path.join(d, "pki", "clients", name + ".pem"),
                              os.path.join(d, "pki", "clients", name + ".key"))
        conn = http.client.HTTPSConnection("127.0.0.1", srv.port, context=c, timeout=60)
        conn.request(method, path_, body=body if method == "POST" else None,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, json.loads(data) if data else None

    for name in ("dpi", "dr"):
        st, ans = call(name)
        assert st == 200 and ans["cr"] == "00" and ans["ins"]["matricule"] == r["matricule"], (name, st, ans)
    st, ans = call(None)
    assert st == 401 and ans["resourceType"] == "OperationOutcome", (st, ans)
    # A software certificate is not the all-powerful "system" token.
    st, ans = call("dpi", "GET", "/fhir/Patient?_count=1")
    assert st == 403, (st, ans)
    usage_tok = env.token(d, "it-auditor", "professional", roles=["auditor"], profession="10")
    c = srv.client(usage_tok)
    usage = c.get("/insi/v1/usage").json["usage"]
    users = {u["utilisateur"] for u in usage}
    assert {"logiciel-dpi", "810000000055"} <= users, usage
    srv.stop_ok()


def _fusion(civ, survivor, merged, expect=200):
    return civ.post("/ins/v1/fusion", body=json.dumps({"survivant": survivor, "doublon": merged}),
                    ctype="application/json", expect=expect)


def test_merge_chains_and_exact_unmerge(ctx):
    civ = _civ(ctx)
    base = {"nom_naissance": "Chaine", "prenoms": "Rose", "sexe": "F", "date_naissance": "1955-05-05"}
    a, b, c = (civ.create(_patient(base)) for _ in range(3))
    # A document about B written by A: the merge moves only the reference to B, and the unmerge
    # moves back only that one.
    doc = ctx.admin.create({"resourceType": "DocumentReference", "status": "current",
                            "subject": {"reference": "Patient/" + b["id"]}, "author": [{"reference": "Patient/" + a["id"]}],
                            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]})
    m1 = _fusion(civ, a["id"], b["id"]).json
    m2 = _fusion(civ, a["id"], c["id"]).json
    links = ctx.admin.get("/fhir/Patient/" + a["id"]).json["link"]
    assert {"other": {"reference": "Patient/" + b["id"]}, "type": "replaces"} in links and \
        {"other": {"reference": "Patient/" + c["id"]}, "type": "replaces"} in links, links
    d = ctx.admin.get("/fhir/DocumentReference/" + doc["id"]).json
    assert d["subject"]["reference"] == d["author"][0]["reference"] == "Patient/" + a["id"], d
    # A merged Patient can be neither merged again nor a survivor.
    _fusion(civ, b["id"], a["id"], expect=422)
    _fusion(civ, c["id"], b["id"], expect=422)
    civ.post("/ins/v1/defusion", body=json.dumps({"fusion": m1["fusion"]}), ctype="application/json", expect=200)
    d = ctx.admin.get("/fhir/DocumentReference/" + doc["id"]).json
    assert d["subject"]["reference"] == "Patient/" + b["id"] and d["author"][0]["reference"] == "Patient/" + a["id"], d
    links = ctx.admin.get("/fhir/Patient/" + a["id"]).json["link"]
    assert links == [{"other": {"reference": "Patient/" + c["id"]}, "type": "replaces"}], links
    # The merged Patients no longer show up as duplicates of each other; the unmerged one does.
    pairs = civ.get("/ins/v1/doublons?score=90").json["paires"]
    flat = json.dumps(pairs)
    assert "Patient/" + c["id"] not in flat, "a merged identity is not a candidate duplicate any more"
    assert "Patient/" + b["id"] in flat
    civ.post("/ins/v1/defusion", body=json.dumps({"fusion": m2["fusion"]}), ctype="application/json", expect=200)
    assert "link" not in ctx.admin.get("/fhir/Patient/" + a["id"]).json
    # The civ role is for professionals only.
    tok = ctx.env.token(ctx.data, "1800175123499", "patient", roles=["civ"])
    ctx.srv.client(tok).get("/ins/v1/doublons", expect=403)


def test_homonyms_flagged_then_confirmed(ctx):
    c = _identity_client(ctx)
    civ = _civ(ctx)
    base = {"nom_naissance": "Homonymie", "prenoms": "Lucie Anne", "sexe": "F", "date_naissance": "1991-09-19"}
    first = c.create(_patient(base))
    assert "HOMD" not in json.dumps(first.get("extension", []))
    second = c.create(_patient(dict(base, nom_naissance="homonymie")))
    assert '"HOMD"' in json.dumps(second["extension"]), "the server flags a detected homonym"
    # Confirming (HOMA) is the identitovigilance cell's decision.
    homa = _patient(base, "PROV", attributes=["HOMA"])
    _rule(c.put("/fhir/Patient/" + second["id"], dict(homa, id=second["id"]), expect=422), ["HOMA", "civ"])
    done = civ.put("/fhir/Patient/" + second["id"], dict(homa, id=second["id"]), expect=200).json
    assert '"HOMA"' in json.dumps(done["extension"])


def _with_birth_place(p, code):
    p = dict(p)
    p["extension"] = list(p.get("extension", [])) + [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
        "valueAddress": {"extension": [{"url": "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-address-insee-code",
                                        "valueCoding": {"code": code}}], "country": "FRA"}}]
    return p


def test_rniv_birth_place(ctx):
    b = _base(ctx)
    c = _identity_client(ctx)
    r = next(x for x in b["unique"][20:] if x["lieu_naissance"])
    other = "75056" if r["lieu_naissance"] != "75056" else "69123"
    c.create(_with_birth_place(_patient(r, "QUAL", mode="CN", ins=True), r["lieu_naissance"]))
    _rule(c.post("/fhir/Patient", _with_birth_place(_patient(r, "QUAL", mode="CN", ins=True), other), expect=422),
          ["qualifiée", "traits"])
    _rule(c.post("/fhir/Patient", _with_birth_place(_patient(r, "RECUP"), other), expect=422), ["récupérée", "no identity"])
    c.create(_with_birth_place(_patient(r, "RECUP"), r["lieu_naissance"]))
