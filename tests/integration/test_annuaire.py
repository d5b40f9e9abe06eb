"""test_annuaire.py - the health directory: `socle annuaire generate` writes the public extract
formats (RPPS activities, MSSanté mailboxes, FINESS), deterministic per seed; `socle annuaire
import` loads them as FHIR Practitioner, PractitionerRole and Organization, applies differences on
re-import and reports rejected lines; the resources are searchable with the ANS Annuaire
parameters by anyone authenticated and writable only by the admin role."""

import os
import urllib.parse

OID_IDNPS = "urn:oid:1.2.250.1.71.4.2.1"


def _luhn_ok(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


def test_generate_extracts(ctx):
    env = ctx.env
    d = env.new_data("annuaire", pki=False)
    a, b = os.path.join(d, "a"), os.path.join(d, "b")
    env.cli("annuaire", "generate", "--count", "300", "--seed", "9", "--out", a)
    env.cli("annuaire", "generate", "--count", "300", "--seed", "9", "--out", b)
    names = sorted(os.listdir(a))
    assert names == sorted(os.listdir(b)) and len(names) == 3, names
    for n in names:
        assert open(os.path.join(a, n), "rb").read() == open(os.path.join(b, n), "rb").read(), "%s differs" % n
    ps = next(n for n in names if n.startswith("PS_LibreAcces_Personne_activite_"))
    lines = open(os.path.join(a, ps), encoding="utf-8").read().splitlines()
    header = lines[0].split("|")
    assert header[-1] == "" and len(header) == 53, "52 columns and a trailing |: %d" % (len(header) - 1)
    assert header[:3] == ["Type d'identifiant PP", "Identifiant PP", "Identification nationale PP"], header[:3]
    rpps = {l.split("|")[1] for l in lines[1:] if l.split("|")[0] == "8"}
    assert len(rpps) >= 250, "professionals: %d" % len(rpps)
    assert all(len(r) == 11 and _luhn_ok(r) for r in rpps), "every RPPS passes Luhn"
    assert all(l.endswith("|") for l in lines)
    mss = next(n for n in names if n.startswith("Extraction_Correspondance_MSSante_"))
    mlines = open(os.path.join(a, mss), encoding="utf-8").read().splitlines()
    assert len(mlines[0].split("|")) == 32 and mlines[0].startswith("Type de BAL|Adresse BAL|")
    assert all(".demo.mssante.example" in l.split("|")[1] for l in mlines[1:]), "clearly fake mailbox domain"
    bad = env.cli("annuaire", "generate", "--count", "0", "--out", a, check=False)
    assert bad.returncode == 2


def _extracts(env, d, count, seed):
    out = os.path.join(d, "extracts-%d" % seed)
    env.cli("annuaire", "generate", "--count", str(count), "--seed", str(seed), "--out", out)
    names = sorted(os.listdir(out))
    ps = os.path.join(out, next(n for n in names if n.startswith("PS_LibreAcces")))
    mss = os.path.join(out, next(n for n in names if n.startswith("Extraction_Correspondance_MSSante")))
    fin = os.path.join(out, next(n for n in names if n.startswith("etalab")))
    return ps, mss, fin


def _summary(p):
    """The counts of the import's summary line: {'new': n, 'changed': n, ...}."""
    line = next(l for l in p.stdout.splitlines() if " lines: " in l)
    words = line.replace(";", ",").replace(":", ",").split(",")
    out = {}
    for w in words:
        parts = w.split()
        if len(parts) >= 2 and parts[0].isdigit():
            out[" ".join(parts[1:])] = int(parts[0])
    return out


def test_import_search_and_differences(ctx):
    env = ctx.env
    d = env.new_data("annuaire-import")
    db = env.new_db(d)
    ps, mss, fin = _extracts(env, d, 150, 4)
    p = env.cli("annuaire", "import", ps, mss, fin, "--data", d, "--db", db, "--log-level", "warn")
    first = _summary(p)
    assert first["professionals"] == 150 and first["lines rejected"] == 0, p.stdout
    assert first["new"] == first["professionals"] + first["activities"] + first["structures"], first
    assert os.path.exists(ps + ".rejets.txt") and open(ps + ".rejets.txt").read() == ""

    lines = open(ps, encoding="utf-8").read().splitlines()
    cols = lines[1].split("|")
    idnps, family, rpps = cols[2], cols[7], cols[1]
    srv = env.server(d, db, name="annuaire")
    pro = srv.client(env.token(d, "810000000042", "professional", profession="10"))
    # Practitioner by IDNPS and by RPPS, by name (accents and case folded).
    b = pro.search("Practitioner", "identifier=%s|%s" % (OID_IDNPS, idnps)).json
    assert [e["resource"]["id"] for e in b["entry"]] == [idnps], b
    prac = b["entry"][0]["resource"]
    assert {"IDNPS", "RPPS"} <= {i["type"]["coding"][0]["code"] for i in prac["identifier"]}, prac["identifier"]
    assert prac["name"][0]["family"] == family
    b = pro.search("Practitioner", "identifier=https://rpps.esante.gouv.fr|" + rpps).json
    assert b["total"] == 1 if "total" in b else len(b["entry"]) == 1
    b = pro.search("Practitioner", "name=" + urllib.parse.quote(family.lower()) + "&_count=100").json
    assert idnps in [e["resource"]["id"] for e in b["entry"]]
    # Its roles, with the structure included; profession as PractitionerRole.role.
    b = pro.search("PractitionerRole", "practitioner=Practitioner/%s&_include=PractitionerRole:organization" % idnps).json
    roles = [e["resource"] for e in b["entry"] if e["search"]["mode"] == "match"]
    orgs = [e["resource"] for e in b["entry"] if e["search"]["mode"] == "include"]
    assert roles and orgs, b
    prof = cols[9]
    assert any(c["coding"][0]["code"] == prof for c in roles[0]["code"]), roles[0]["code"]
    b = pro.search("PractitionerRole", "role=https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/"
                   "TRE-G15-ProfessionSante|%s&family=%s&_count=100" % (prof, urllib.parse.quote(family))).json
    assert roles[0]["id"] in [e["resource"]["id"] for e in b["entry"]]
    # Organizations by city and postal code; mailboxes by address and type.
    city = orgs[0]["address"][0]["city"]
    b = pro.search("Organization", "address-city=%s&_count=200" % urllib.parse.quote(city)).json
    assert orgs[0]["id"] in [e["resource"]["id"] for e in b["entry"]]
    per = [l.split("|") for l in open(mss, encoding="utf-8").read().splitlines()[1:] if l.startswith("PER|")]
    org = [l.split("|") for l in open(mss, encoding="utf-8").read().splitlines()[1:] if l.startswith("ORG|")]
    b = pro.search("Practitioner", "mailbox-mss=" + urllib.parse.quote(per[0][1])).json
    assert [e["resource"]["id"] for e in b["entry"]] == [per[0][4]], (per[0], b)
    b = pro.search("Organization", "mailbox-mss:exact=%s&mailbox-mss-type=ORG" % urllib.parse.quote(org[0][1])).json
    assert len(b["entry"]) == 1, b
    b = pro.search("Organization", "mailbox-mss:exact=%s&mailbox-mss-type=PER" % urllib.parse.quote(org[0][1])).json
    assert not b.get("entry"), b
    # Only the admin role writes the directory.
    for who in (pro, ctx_system_client(env, d, srv)):
        out = who.post("/fhir/Practitioner", {"resourceType": "Practitioner", "active": True}, expect=403).json
        assert out["resourceType"] == "OperationOutcome"
        who.request("DELETE", "/fhir/Practitioner/" + idnps, expect=403)
    admin = srv.client(env.token(d, "it-admin", "system", roles=["admin"]))
    admin.create({"resourceType": "Organization", "name": "Ajout manuel"})

    # Re-import while serving: unchanged; then without one professional: gone (410), history kept.
    p = env.cli("annuaire", "import", ps, mss, fin, "--data", d, "--db", db, "--log-level", "warn")
    again = _summary(p)
    assert again["new"] == 0 and again["changed"] == 0 and again["gone"] == 0, again
    assert again["unchanged"] == first["new"], again
    kept = [l for l in lines if "|%s|" % idnps not in l]
    with open(ps, "w", encoding="utf-8") as f:
        f.write("\n".join(kept) + "\n")
    p = env.cli("annuaire", "import", ps, mss, fin, "--data", d, "--db", db, "--log-level", "warn")
    assert _summary(p)["gone"] >= 2, p.stdout
    pro.get("/fhir/Practitioner/" + idnps, expect=410)
    h = pro.get("/fhir/Practitioner/%s/_history" % idnps).json
    assert len(h.get("entry", [])) == 2, h
    srv.stop_ok()


def ctx_system_client(env, d, srv):
    return srv.client(env.token(d, "it-system", "system"))


def test_import_refusals(ctx):
    env = ctx.env
    d = env.new_data("annuaire-bad", pki=False)
    db = env.new_db(d)
    ps, mss, fin = _extracts(env, d, 20, 5)
    lines = open(ps, encoding="utf-8").read().splitlines()
    with open(ps, "a", encoding="utf-8") as f:
        cols = lines[1].split("|")
        cols[2] = "810000000000"  # a wrong RPPS key
        f.write("|".join(cols) + "\n")
        f.write("8|too|few|\n")
    n = len(lines)
    p = env.cli("annuaire", "import", ps, mss, fin, "--data", d, "--db", db, "--log-level", "warn", check=False)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    report = open(ps + ".rejets.txt", encoding="utf-8").read().splitlines()
    assert report[0].startswith("line %d: Identification nationale PP" % (n + 1)), report
    assert report[1].startswith("line %d: " % (n + 2)) and "fields where the header has 53" in report[1], report
    # Refused before anything is written: a file that is no extract, MSSanté alone, a kind twice.
    junk = os.path.join(d, "junk.txt")
    open(junk, "w").write("hello|world|\n")
    for args, words in (((junk,), "header"), ((mss,), "together with the PS_LibreAcces"),
                        ((ps, ps), "both PS_LibreAcces")):
        p = env.cli("annuaire", "import", *args, "--data", d, "--db", db, "--log-level", "warn", check=False)
        assert p.returncode == 2 and words in p.stderr, (args, p.returncode, p.stderr)
    # A truncated file would remove most of the directory: refused unless allowed.
    with open(ps, "w", encoding="utf-8") as f:
        f.write("\n".join(lines[:3]) + "\n")
    p = env.cli("annuaire", "import", ps, mss, fin, "--data", d, "--db", db, "--log-level", "warn", check=False)
    assert p.returncode == 1 and "would be gone" in p.stderr, p.stderr
    p = env.cli("annuaire", "import", ps, mss, fin, "--data", d, "--db", db, "--log-level", "warn", "--max-gone", "100")
    assert _summary(p)["gone"] > 10, p.stdout
