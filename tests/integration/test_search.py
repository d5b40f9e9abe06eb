"""test_search.py - FHIR search: token, string (accents, :exact, :contains), date prefixes, _id,
_lastUpdated, _sort, paging by next links, _summary=count, _include/_revinclude, strict/lenient
handling of unknown parameters, POST _search."""

import time
import urllib.parse

import harness
from harness import ids, matches, uid

q = urllib.parse.quote


def _mk(ctx, system, family, birth, gender="female", given="Ève", value=None):
    body = {"resourceType": "Patient", "identifier": [{"system": system, "value": value or uid(8)}],
            "name": [{"family": family, "given": [given]}], "birthDate": birth, "gender": gender}
    return ctx.admin.create(body)


def _found(ctx, query, type_="Patient"):
    b = ctx.admin.search(type_, query).json
    return sorted(ids(matches(b)))


def test_token_identifier(ctx):
    sysa, sysb = "urn:it:" + uid(), "urn:it:" + uid()
    a = _mk(ctx, sysa, ctx.secret("Tokenné"), "1990-01-01", value="V1")
    b = _mk(ctx, sysb, "Tokenné", "1990-01-01", value="V1")
    assert _found(ctx, "identifier=%s|V1" % q(sysa)) == [a["id"]]
    assert _found(ctx, "identifier=%s|V1" % q(sysb)) == [b["id"]]
    assert _found(ctx, "identifier=%s|" % q(sysa)) == [a["id"]], "system| (any value)"
    assert _found(ctx, "identifier=%s|V2" % q(sysa)) == []
    assert a["id"] in _found(ctx, "identifier=V1"), "code without system"
    assert _found(ctx, "identifier=%s|V1,%s|V1" % (q(sysa), q(sysb))) == sorted([a["id"], b["id"]]), "OR with ,"
    assert _found(ctx, "identifier=%s|V1&identifier=%s|V1" % (q(sysa), q(sysb))) == [], "AND of repeats"


def test_token_gender(ctx):
    s = "urn:it:" + uid()
    f = _mk(ctx, s, "Genré", "1990-01-01", "female")
    m = _mk(ctx, s, "Genré", "1990-01-01", "male")
    base = "identifier=%s|&" % q(s)
    assert _found(ctx, base + "gender=female") == [f["id"]]
    assert _found(ctx, base + "gender=male") == [m["id"]]
    assert _found(ctx, base + "gender=" + q("http://hl7.org/fhir/administrative-gender|male")) == [m["id"]]
    assert _found(ctx, base + "gender=unknown") == []


def test_string_family_accents(ctx):
    s = "urn:it:" + uid()
    fam = ctx.secret("Lefèvre")
    p = _mk(ctx, s, fam, "1980-05-05")
    other = _mk(ctx, s, ctx.secret("Lefebvre"), "1980-05-05")
    base = "identifier=%s|&" % q(s)
    assert _found(ctx, base + "family=lefevre") == [p["id"]], "accent/case-insensitive"
    assert _found(ctx, base + "family=LEFÈVRE".replace("È", q("È"))) == [p["id"]]
    assert _found(ctx, base + "family=lef") == sorted([p["id"], other["id"]]), "starts with"
    assert _found(ctx, base + "family=fèvre".replace("è", q("è"))) == [], "default is starts-with, not contains"
    assert _found(ctx, base + "family:exact=" + q("Lefèvre")) == [p["id"]]
    assert _found(ctx, base + "family:exact=lefevre") == [], ":exact is case- and accent-sensitive"
    assert _found(ctx, base + "family:exact=Lef") == [], ":exact is not a prefix match"
    assert _found(ctx, base + "family:contains=FEV") == [p["id"]], ":contains folded substring"
    assert _found(ctx, base + "family:contains=ebv") == [other["id"]]
    assert _found(ctx, base + "name=eve") == sorted([p["id"], other["id"]]), "name matches given names too"


def test_date_prefixes(ctx):
    s = "urn:it:" + uid()
    a = _mk(ctx, s, "Datée", "1950-03-04")["id"]
    b = _mk(ctx, s, "Datée", "1980-06-15")["id"]
    c = _mk(ctx, s, "Datée", "2001-12-31")["id"]
    base = "identifier=%s|&" % q(s)
    cases = [
        ("birthdate=1980-06-15", [b]),
        ("birthdate=eq1980-06-15", [b]),
        ("birthdate=1980", [b]),
        ("birthdate=1980-06", [b]),
        ("birthdate=ne1980-06-15", [a, c]),
        ("birthdate=gt1980-06-15", [c]),
        ("birthdate=ge1980-06-15", [b, c]),
        ("birthdate=lt1980-06-15", [a]),
        ("birthdate=le1980-06-15", [a, b]),
        ("birthdate=lt1980", [a]),
        ("birthdate=gt1980", [c]),
        ("birthdate=ge1950-03-04&birthdate=le2001-12-31", [a, b, c]),
        ("birthdate=gt1950-03-04&birthdate=lt2001-12-31", [b]),
        ("birthdate=1950-03-04,2001-12-31", [a, c]),
        ("birthdate=1999-01-01", []),
    ]
    for query, want in cases:
        got = _found(ctx, base + query)
        assert got == sorted(want), "%s: got %d matches %s, expected %s" % (query, len(got), got, sorted(want))
    ctx.admin.search("Patient", base + "birthdate=notadate", expect=400)
    ctx.admin.search("Patient", base + "birthdate=xx1980", expect=400)


def test_id_and_last_updated(ctx):
    s = "urn:it:" + uid()
    t0 = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2))
    a = _mk(ctx, s, "Identifiée", "1970-01-01")["id"]
    b = _mk(ctx, s, "Identifiée", "1970-01-01")["id"]
    assert _found(ctx, "_id=" + a) == [a]
    assert _found(ctx, "_id=%s,%s" % (a, b)) == sorted([a, b])
    assert _found(ctx, "_id=nope-" + uid()) == []
    base = "identifier=%s|&" % q(s)
    assert _found(ctx, base + "_lastUpdated=gt" + q(t0)) == sorted([a, b])
    assert _found(ctx, base + "_lastUpdated=lt" + q(t0)) == []
    assert _found(ctx, base + "_lastUpdated=lt2000-01-01") == []
    assert _found(ctx, base + "_lastUpdated=ge2000-01-01") == sorted([a, b])


def test_sort(ctx):
    s = "urn:it:" + uid()
    x = _mk(ctx, s, "Cbis", "1990-01-01")["id"]
    time.sleep(0.01)  # distinct lastUpdated instants for the _lastUpdated order below
    y = _mk(ctx, s, "Abis", "2010-01-01")["id"]
    time.sleep(0.01)
    z = _mk(ctx, s, "Bbis", "1970-01-01")["id"]
    base = "identifier=%s|&" % q(s)

    def order(qs):
        return ids(matches(ctx.admin.search("Patient", base + qs).json))
    assert order("_sort=birthdate") == [z, x, y], "_sort=birthdate"
    assert order("_sort=-birthdate") == [y, x, z], "_sort=-birthdate"
    assert order("_sort=family") == [y, z, x], "_sort=family"
    assert order("_sort=-family") == [x, z, y], "_sort=-family"
    assert order("_sort=_lastUpdated") == [x, y, z], "_sort=_lastUpdated"
    assert order("_sort=-_lastUpdated") == [z, y, x], "_sort=-_lastUpdated"
    ctx.admin.search("Patient", base + "_sort=nosuchparam", expect=400)


def test_paging_next_links(ctx):
    s = "urn:it:" + uid()
    made = {_mk(ctx, s, ctx.secret("Paginée"), "1960-01-%02d" % (i + 1))["id"] for i in range(25)}
    for query in ("identifier=%s|&_count=10" % q(s), "identifier=%s|&_count=10&_sort=-birthdate" % q(s),
                  "identifier=%s|&_count=10&_sort=family" % q(s)):
        pages, entries = ctx.admin.search_all("Patient", query)
        sizes = [len(matches(p)) for p in pages]
        assert sizes == [10, 10, 5], "%s: page sizes %s, expected [10, 10, 5]" % (query, sizes)
        got = ids(entries)
        assert len(set(got)) == 25, "%s: duplicates across pages (%d distinct of %d)" % (query, len(set(got)), len(got))
        assert set(got) == made, "%s: pages miss resources" % query
        for p in pages[:-1]:
            nxt = harness.link(p, "next")
            assert nxt.startswith("http") and "_cursor=" in nxt, "next link %r" % nxt
            assert harness.link(p, "self"), "no self link"
        assert harness.link(pages[-1], "next") is None
        if "birthdate" in query:
            bd = [e["resource"]["birthDate"] for e in entries]
            assert bd == sorted(bd, reverse=True), "sort order lost across pages"
    # A tampered cursor is the caller's fault.
    nxt = harness.link(ctx.admin.search("Patient", "identifier=%s|&_count=10" % q(s)).json, "next")
    bad = nxt.replace("_cursor=", "_cursor=x")
    r = ctx.admin.get(bad)
    assert r.status == 400, "tampered _cursor: %r" % r
    cursor = nxt.split("_cursor=")[1]
    flipped = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    r = ctx.admin.get(nxt.replace(cursor, flipped))
    assert r.status == 400, "altered _cursor: %r" % r
    # The cursor is sealed: it does not show the last row's identifier (the key of this search, a
    # value of a resource the caller might not be allowed to read), in clear or in hex.
    first = ctx.admin.search("Patient", "identifier=%s|&_count=1" % q(s)).json
    value = matches(first)[0]["resource"]["identifier"][0]["value"]
    link = urllib.parse.unquote(harness.link(first, "next"))
    assert value not in link and value.encode().hex() not in link, "identifier readable in the next link"
    ctx.admin.search("Patient", "identifier=%s|&_count=-1" % q(s), expect=400)
    ctx.admin.search("Patient", "identifier=%s|&_count=abc" % q(s), expect=400)


def test_summary_count(ctx):
    s = "urn:it:" + uid()
    for i in range(7):
        _mk(ctx, s, "Comptée", "1960-02-%02d" % (i + 1))
    b = ctx.admin.search("Patient", "identifier=%s|&_summary=count" % q(s)).json
    assert b.get("total") == 7, "total %r, expected 7" % b.get("total")
    assert not b.get("entry"), "_summary=count returned entries"
    b = ctx.admin.search("Patient", "identifier=%s|&gender=male&_summary=count" % q(s)).json
    assert b.get("total") == 0


def test_several_parameters(ctx):
    # One parameter lists the candidates, the others are checked per candidate: the same answers
    # whatever the order and kind of the parameters, with paging, sorting and _summary=count.
    s, fam = "urn:it:" + uid(), "Multiple" + uid(4)
    org = ctx.admin.create({"resourceType": "Organization", "name": "Org " + uid(4)})
    made = []
    for i in range(12):
        body = {"resourceType": "Patient", "identifier": [{"system": s, "value": "v%d" % i}],
                "name": [{"family": fam + ("-bis" if i % 3 == 0 else ""), "given": ["Zoé"]}],
                "birthDate": "1971-03-%02d" % (1 + i % 4), "gender": "female" if i % 2 else "male"}
        if i < 6:
            body["managingOrganization"] = {"reference": "Organization/" + org["id"]}
        made.append(ctx.admin.create(body)["id"])

    def want(pred):
        return sorted(made[i] for i in range(12) if pred(i))
    cases = [
        ("gender=female&family=%s" % q(fam), lambda i: i % 2 == 1),
        ("family=%s&gender=female&identifier=%s|" % (q(fam), q(s)), lambda i: i % 2 == 1),
        ("birthdate=1971-03-02&family:exact=%s&identifier=%s|" % (q(fam), q(s)), lambda i: i % 4 == 1 and i % 3),
        ("organization=Organization/%s&gender=male,female&birthdate=ne1971-03-01" % org["id"], lambda i: i < 6 and i % 4),
        ("identifier=%s|v3,%s|v4,%s|v5&family=%s-bis" % (q(s), q(s), q(s), q(fam)), lambda i: i in (3,)),
        ("_id=%s,%s,%s&gender=male" % (made[0], made[1], made[2]), lambda i: i in (0, 2)),
        ("organization.name=Org&identifier=%s|&birthdate=le1971-03-02" % q(s), lambda i: i < 6 and i % 4 in (0, 1)),
    ]
    for query, pred in cases:
        got = _found(ctx, query + "&_count=100")
        assert got == want(pred), "%s: %d found, %d expected" % (query, len(got), len(want(pred)))
        b = ctx.admin.search("Patient", query + "&_summary=count").json
        assert b.get("total") == len(want(pred)), "%s&_summary=count: %r" % (query, b.get("total"))
    pages, entries = ctx.admin.search_all("Patient", "gender=female&identifier=%s|&_count=2&_sort=-birthdate" % q(s))
    assert sorted(ids(entries)) == want(lambda i: i % 2 == 1), "paged: %r" % ids(entries)
    bd = [e["resource"]["birthDate"] for e in entries]
    assert bd == sorted(bd, reverse=True), "sort order lost across pages"


def test_include_revinclude(ctx):
    org = ctx.admin.create({"resourceType": "Organization", "name": "Org incluse " + uid(4)})
    prac = ctx.admin.create({"resourceType": "Practitioner", "active": True})
    role = ctx.admin.create({"resourceType": "PractitionerRole", "practitioner": {"reference": "Practitioner/" + prac["id"]},
                             "organization": {"reference": "Organization/" + org["id"]}})
    b = ctx.admin.search("PractitionerRole", "_id=%s&_include=PractitionerRole:organization" % role["id"]).json
    got = {(e["resource"]["resourceType"], e["resource"]["id"], (e.get("search") or {}).get("mode")) for e in b["entry"]}
    assert ("PractitionerRole", role["id"], "match") in got, got
    assert ("Organization", org["id"], "include") in got, "_include did not bring the Organization: %s" % got
    assert not any(t == "Practitioner" for t, _, _ in got), "_include brought more than asked"
    # Reference search.
    b = ctx.admin.search("PractitionerRole", "organization=Organization/" + org["id"]).json
    assert ids(matches(b)) == [role["id"]]
    b = ctx.admin.search("PractitionerRole", "organization=" + org["id"]).json
    assert ids(matches(b)) == [role["id"]]

    fam = ctx.secret("Révincluse")
    p = ctx.admin.create({"resourceType": "Patient", "name": [{"family": fam}]})
    doc = ctx.admin.create({"resourceType": "DocumentReference", "status": "current",
                            "subject": {"reference": "Patient/" + p["id"]},
                            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]})
    b = ctx.admin.search("Patient", "_id=%s&_revinclude=DocumentReference:patient" % p["id"]).json
    got = {(e["resource"]["resourceType"], e["resource"]["id"], (e.get("search") or {}).get("mode")) for e in b["entry"]}
    assert ("Patient", p["id"], "match") in got and ("DocumentReference", doc["id"], "include") in got, \
        "_revinclude: %s" % got
    b = ctx.admin.search("DocumentReference", "patient=" + p["id"]).json
    assert ids(matches(b)) == [doc["id"]]
    ctx.admin.search("Patient", "_id=%s&_include=Patient:nosuch" % p["id"], expect=400)
    # A _revinclude whose reference cannot point to the type searched is refused, not run on the wrong ids.
    ctx.admin.search("Practitioner", "_revinclude=DocumentReference:patient", expect=400)
    ctx.admin.search("Patient", "_id=%s&_revinclude=DocumentReference:patient:Practitioner" % p["id"], expect=400)
    ctx.admin.search("Patient", "_id=%s&_revinclude=DocumentReference:patient:Patient" % p["id"], expect=200)


def test_unknown_parameter_strict_and_lenient(ctx):
    r = ctx.admin.search("Patient", "nosuchparam=1", expect=400)
    assert "nosuchparam" in r.diag(), "the 400 does not name the parameter: %s" % r.diag()
    ctx.admin.search("Patient", "family:nosuchmodifier=x", expect=400)
    s = "urn:it:" + uid()
    a = _mk(ctx, s, "Clémente", "1999-09-09")["id"]
    r = ctx.admin.search("Patient", "identifier=%s|&nosuchparam=1" % q(s), headers={"Prefer": "handling=lenient"}, expect=200)
    assert ids(matches(r.json)) == [a], "lenient search ignored the known parameter"
    r = ctx.admin.search("Patient", "identifier=%s|&nosuchparam=1" % q(s), headers={"Prefer": "handling=strict"}, expect=400)


def test_post_search_form(ctx):
    s = "urn:it:" + uid()
    a = _mk(ctx, s, ctx.secret("Formulée"), "1985-07-07")["id"]
    _mk(ctx, s, "Formulée", "1995-07-07")
    body = urllib.parse.urlencode({"identifier": s + "|", "birthdate": "lt1990"})
    r = ctx.admin.request("POST", "/fhir/Patient/_search", body, ctype="application/x-www-form-urlencoded", expect=200)
    assert r.json["type"] == "searchset" and ids(matches(r.json)) == [a], ids(matches(r.json))
    # Form parameters and URL parameters combine.
    r = ctx.admin.request("POST", "/fhir/Patient/_search?gender=male", body, ctype="application/x-www-form-urlencoded", expect=200)
    assert ids(matches(r.json)) == []
    # The search body is not JSON.
    r = ctx.admin.request("POST", "/fhir/Patient/_search", "{}", ctype="application/fhir+json")
    assert r.status in (400, 415), "POST _search with a JSON body: %r" % r


def test_search_other_types_params(ctx):
    org = ctx.admin.create({"resourceType": "Organization", "name": "Hôpital Émile Zola",
                            "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "1" + uid(8)}]})
    val = org["identifier"][0]["value"]
    b = ctx.pro.search("Organization", "name=hopital%20emile").json
    assert org["id"] in ids(matches(b)), "Organization name search (folded)"
    b = ctx.pro.search("Organization", "identifier=urn:oid:1.2.250.1.71.4.2.2|" + val).json
    assert ids(matches(b)) == [org["id"]]


def _doc(ctx, system, pid, **extra):
    body = {"resourceType": "DocumentReference", "status": "current", "identifier": [{"system": system, "value": uid(6)}],
            "subject": {"reference": "Patient/" + pid},
            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]}
    body.update(extra)
    return ctx.admin.create(body)["id"]


def test_date_periods_and_instants(ctx):
    s = "urn:it:" + uid()
    pid = ctx.admin.create({"resourceType": "Patient", "active": True})["id"]
    a = _doc(ctx, s, pid, context={"period": {"start": "2020-01-01", "end": "2020-06-30"}})
    b = _doc(ctx, s, pid, context={"period": {"start": "2020-06-01", "end": "2020-12-31"}})
    c = _doc(ctx, s, pid, context={"period": {"start": "2021-03-01T08:00:00Z", "end": "2021-03-31T18:00:00Z"}})
    base = "identifier=%s|&" % q(s)
    cases = [
        ("period=2020", [a, b]),            # eq: the period lies inside the year
        ("period=2020-06", []),             # no period lies inside June
        ("period=ne2020", [c]),
        ("period=ge2020-07-01", [b, c]),    # ends on or after
        ("period=le2020-05-31", [a]),       # starts on or before
        ("period=lt2020-06-01", [a]),       # starts before
        ("period=gt2020-12-31", [c]),       # ends after
        ("period=gt2021-03-31T17:00:00Z", [c]),
        ("period=gt2021-03-31T19:00:00Z", []),
    ]
    for query, want in cases:
        got = _found(ctx, base + query, "DocumentReference")
        assert got == sorted(want), "%s: got %s, expected %s" % (query, got, sorted(want))
    # Instants with a time zone are compared on the time line.
    d = _doc(ctx, s, pid, date="2024-01-01T00:30:00+01:00")  # = 2023-12-31T23:30:00Z
    base2 = base + "date="
    assert _found(ctx, base2 + q("lt2024-01-01T00:00:00Z"), "DocumentReference") == [d], "time zone ignored (lt)"
    assert _found(ctx, base2 + q("gt2024-01-01T00:00:00Z"), "DocumentReference") == [], "time zone ignored (gt)"
    assert _found(ctx, base2 + q("ge2023-12-31T23:00:00Z") + "&date=" + q("le2023-12-31T23:59:00Z"), "DocumentReference") == [d]
    assert _found(ctx, base2 + q("2023-12-31T23:30:00+00:00"), "DocumentReference") == [d], "eq on the same instant"


def test_reference_and_token_on_other_types(ctx):
    s = "urn:it:" + uid()
    p1 = ctx.admin.create({"resourceType": "Patient", "active": True})["id"]
    p2 = ctx.admin.create({"resourceType": "Patient", "active": False})["id"]
    d1 = _doc(ctx, s, p1, type={"coding": [{"system": "http://loinc.org", "code": "11488-4"}]})
    d2 = _doc(ctx, s, p2, type={"coding": [{"system": "http://loinc.org", "code": "34133-9"}]}, status="superseded")
    base = "identifier=%s|&" % q(s)
    assert _found(ctx, base + "patient=" + p1, "DocumentReference") == [d1]
    assert _found(ctx, base + "subject=Patient/" + p2, "DocumentReference") == [d2]
    assert _found(ctx, base + "patient:Patient=" + p2, "DocumentReference") == [d2]
    assert _found(ctx, base + "type=" + q("http://loinc.org|34133-9"), "DocumentReference") == [d2]
    assert _found(ctx, base + "type=11488-4", "DocumentReference") == [d1]
    assert _found(ctx, base + "status=current", "DocumentReference") == [d1]
    assert _found(ctx, base + "patient=" + ctx.srv.url + "/fhir/Patient/" + p1, "DocumentReference") == [d1], \
        "absolute reference"
    assert _found(ctx, "_id=%s,%s&active=true" % (p1, p2)) == [p1], "boolean token"
    # A type modifier the parameter cannot target: refused, or at least nothing matches.
    r = ctx.admin.search("DocumentReference", base + "patient:Organization=" + p1, expect=(200, 400))
    assert r.status == 400 or not matches(r.json), "patient:Organization=<a Patient id> matched %s" % ids(matches(r.json))
