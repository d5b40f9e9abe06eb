"""test_search_chain.py - chained search parameters (one level, FHIR R4 §3.1.1.4.9) over HTTP:
organization.address-city on PractitionerRole, token and :exact chains, :Type and several target
types, AND with other parameters, comma OR, next links that keep the chain, 400 OperationOutcome
for bad chains (strict) and ignored chains (lenient), POST _search."""

import urllib.parse

import harness
from harness import ids, matches, uid

q = urllib.parse.quote


def _org(ctx, city, name=None, system=None):
    body = {"resourceType": "Organization", "name": name or "Org chaînée " + uid(4), "address": [{"city": city}]}
    if system:
        body["identifier"] = [{"system": system, "value": "V1"}]
    return ctx.admin.create(body)["id"]


def _prac(ctx, family):
    return ctx.admin.create({"resourceType": "Practitioner", "name": [{"family": family}]})["id"]


def _role(ctx, org, prac=None):
    body = {"resourceType": "PractitionerRole", "organization": {"reference": "Organization/" + org}}
    if prac:
        body["practitioner"] = {"reference": "Practitioner/" + prac}
    return ctx.admin.create(body)["id"]


def _found(ctx, type_, query, **kw):
    return sorted(ids(matches(ctx.admin.search(type_, query, **kw).json)))


def _world(ctx):
    """Two cities (unique to this run), three organizations, two practitioners, four roles."""
    tag = uid(6).lower()
    w = {"paris": "Paris" + tag, "lyon": "Lyon" + tag, "system": "urn:it:chain:" + tag, "family": "Chaîné" + tag}
    w["o1"] = _org(ctx, w["paris"], "CHU Chaîné " + tag, w["system"])
    w["o2"] = _org(ctx, w["lyon"])
    w["o3"] = _org(ctx, w["lyon"])
    w["pr1"] = _prac(ctx, w["family"])
    w["pr2"] = _prac(ctx, "Autre" + tag)
    w["r1"] = _role(ctx, w["o1"], w["pr1"])
    w["r2"] = _role(ctx, w["o2"], w["pr2"])
    w["r3"] = _role(ctx, w["o3"], w["pr1"])
    w["r4"] = _role(ctx, w["o3"])
    return w


def test_chain_organization_address_city(ctx):
    w = _world(ctx)
    city = "organization.address-city="
    assert _found(ctx, "PractitionerRole", city + w["paris"]) == [w["r1"]]
    assert _found(ctx, "PractitionerRole", city + w["paris"].upper()) == [w["r1"]], "folded like a plain string"
    assert _found(ctx, "PractitionerRole", city + w["lyon"]) == sorted([w["r2"], w["r3"], w["r4"]])
    assert _found(ctx, "PractitionerRole", city + "%s,%s" % (w["paris"], w["lyon"])) == \
        sorted([w["r1"], w["r2"], w["r3"], w["r4"]]), "comma = OR"
    assert _found(ctx, "PractitionerRole", city + "Nowhere" + uid(6)) == []
    assert _found(ctx, "PractitionerRole", "organization.address-city:exact=" + w["lyon"].lower()) == [], \
        ":exact keeps its meaning"
    assert _found(ctx, "PractitionerRole", "organization:Organization.address-city=" + w["paris"]) == [w["r1"]]
    # Token chain and _id chain.
    assert _found(ctx, "PractitionerRole", "organization.identifier=" + q(w["system"] + "|V1")) == [w["r1"]]
    assert _found(ctx, "PractitionerRole", "organization._id=%s,%s" % (w["o1"], w["o2"])) == sorted([w["r1"], w["r2"]])
    # AND with another chain and with a plain parameter.
    assert _found(ctx, "PractitionerRole", city + w["lyon"] + "&practitioner.family=" + q(w["family"])) == [w["r3"]]
    assert _found(ctx, "PractitionerRole", city + w["lyon"] + "&practitioner=Practitioner/" + w["pr2"]) == [w["r2"]]
    b = ctx.admin.search("PractitionerRole", city + w["lyon"] + "&_summary=count").json
    assert b.get("total") == 3, "total %r, expected 3" % b.get("total")


def test_chain_several_target_types(ctx):
    tag = uid(6).lower()
    prac = _prac(ctx, "Généraliste" + tag)
    org = _org(ctx, "Ville" + tag, "Généraliste" + tag + " SA")
    p1 = ctx.admin.create({"resourceType": "Patient",
                           "generalPractitioner": [{"reference": "Practitioner/" + prac}]})["id"]
    p2 = ctx.admin.create({"resourceType": "Patient",
                           "generalPractitioner": [{"reference": "Organization/" + org}]})["id"]
    name = "general-practitioner.name=generaliste" + tag
    assert _found(ctx, "Patient", name) == sorted([p1, p2]), "name: on Practitioner OR Organization"
    assert _found(ctx, "Patient", "general-practitioner:Practitioner.name=generaliste" + tag) == [p1]
    assert _found(ctx, "Patient", "general-practitioner:Organization.name=generaliste" + tag) == [p2]
    assert _found(ctx, "Patient", "general-practitioner.family=generaliste" + tag) == [p1], "family: Practitioner only"
    assert _found(ctx, "Patient", "general-practitioner.address-city=ville" + tag) == [p2], "Organization only"
    r = ctx.admin.search("Patient", "general-practitioner.birthdate=2000", expect=400)
    assert "general-practitioner.birthdate" in r.diag(), "no target type declares it: %s" % r.diag()


def test_chain_paging_links(ctx):
    w = _world(ctx)
    query = "organization.address-city=%s&_count=2" % w["lyon"]
    pages, entries = ctx.admin.search_all("PractitionerRole", query)
    assert [len(matches(p)) for p in pages] == [2, 1], "page sizes %s" % [len(matches(p)) for p in pages]
    assert sorted(ids(entries)) == sorted([w["r2"], w["r3"], w["r4"]])
    for rel in ("self", "next"):
        url = harness.link(pages[0], rel)
        assert url and "organization.address-city=" + w["lyon"] in url, "%s link lost the chain: %r" % (rel, url)
    assert "organization.address-city=" + w["lyon"] in harness.link(pages[1], "self")


def test_chain_errors(ctx):
    r = ctx.admin.search("PractitionerRole", "organization.nosuchparam=x", expect=400)
    assert r.json["resourceType"] == "OperationOutcome"
    assert "organization.nosuchparam" in r.diag(), "the 400 does not name the parameter: %s" % r.diag()
    r = ctx.admin.search("PractitionerRole", "organization.partof.name=x", expect=400)
    assert "only one level of chaining" in r.diag(), r.diag()
    ctx.admin.search("PractitionerRole", "role.name=x", expect=400)
    ctx.admin.search("PractitionerRole", "organization:Practitioner.name=x", expect=400)
    ctx.admin.search("PractitionerRole", "organization.name:sounds=x", expect=400)
    ctx.admin.search("PractitionerRole", "organization.identifier=a|b|c", expect=400)
    # Lenient: an unknown chain is ignored, the rest of the search still applies; two levels stay a 400.
    w = _world(ctx)
    lenient = {"Prefer": "handling=lenient"}
    r = ctx.admin.search("PractitionerRole", "organization.address-city=%s&organization.nosuchparam=x" % w["paris"],
                         headers=lenient, expect=200)
    assert ids(matches(r.json)) == [w["r1"]]
    assert "nosuchparam" not in (harness.link(r.json, "self") or ""), "an ignored chain stays out of the self link"
    ctx.admin.search("PractitionerRole", "organization.partof.name=x", headers=lenient, expect=400)


def test_chain_post_search(ctx):
    w = _world(ctx)
    body = urllib.parse.urlencode({"organization.address-city": w["lyon"], "practitioner.family": w["family"]})
    r = ctx.admin.request("POST", "/fhir/PractitionerRole/_search", body, ctype="application/x-www-form-urlencoded",
                          expect=200)
    assert ids(matches(r.json)) == [w["r3"]], ids(matches(r.json))
