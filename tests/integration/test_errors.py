"""test_errors.py - bad input gets the right 4xx and an OperationOutcome, never a 5xx or a crash:
415, 413, 400 (malformed JSON, nesting), 422, 404, 405, and a bounded fuzz-ish loop."""

import json
import random
import socket

import harness
from harness import uid

PATIENT = {"resourceType": "Patient", "active": True}


def test_415_content_type(ctx):
    body = json.dumps(PATIENT)
    for ct in ("text/plain", "application/xml", "application/fhir+xml", "multipart/form-data; boundary=x", "",
               "application/x-www-form-urlencoded"):
        r = ctx.admin.request("POST", "/fhir/Patient", body, ctype=ct or None)
        assert r.status == 415 or (not ct and r.status == 400), "POST with Content-Type %r: %r" % (ct, r)
    r = ctx.admin.request("PUT", "/fhir/Patient/x1", json.dumps(dict(PATIENT, id="x1")), ctype="text/plain")
    assert r.status == 415, r
    # application/json and charset parameters are fine.
    ctx.admin.request("POST", "/fhir/Patient", body, ctype="application/json", expect=201)
    ctx.admin.request("POST", "/fhir/Patient", body, ctype="application/fhir+json; charset=utf-8", expect=201)
    ctx.admin.request("POST", "/fhir/Patient", body, ctype="application/fhir+json;fhirVersion=4.0", expect=201)


def test_413_body_too_large(ctx):
    # The shared server runs with --max-body-bytes 1048576.
    big = json.dumps({"resourceType": "Binary", "contentType": "application/octet-stream", "data": "QUFB" * 300000})
    assert len(big) > 1048576
    r = ctx.admin.request("POST", "/fhir/Binary", big, ctype="application/fhir+json", fresh=True)
    assert r.status == 413, "body of %d bytes: %r" % (len(big), r)
    # Chunked (no Content-Length) bodies are held to the same limit.
    c = ctx.srv.client(ctx.tokens["admin"])
    c._connect()
    conn = c.conn
    conn.putrequest("POST", "/fhir/Binary")
    conn.putheader("Authorization", "Bearer " + ctx.tokens["admin"])
    conn.putheader("Content-Type", "application/fhir+json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    status = None
    try:
        data = big.encode()
        for i in range(0, len(data), 65536):
            part = data[i:i + 65536]
            conn.send(b"%x\r\n%s\r\n" % (len(part), part))
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        resp = conn.getresponse()
        status = resp.status
        resp.read()
    except (ConnectionResetError, harness.http.client.RemoteDisconnected) as e:
        raise AssertionError("chunked body over the limit: connection dropped without an answer (%r)" % e)
    finally:
        conn.close()
    assert status == 413, "chunked body over the limit: status %s" % status
    # Just under the limit is accepted.
    ok = json.dumps({"resourceType": "Binary", "contentType": "application/octet-stream", "data": "QUFB" * 200000})
    ctx.admin.request("POST", "/fhir/Binary", ok, ctype="application/fhir+json", expect=201)


def test_431_headers_too_large(ctx):
    # Request line and headers up to 8 KB are served, on the same keep-alive connection as ordinary
    # requests; beyond, 431 with an OperationOutcome before any handler runs (the create below must
    # not happen), whether from one long header or from many; past the connection's 16 KB, 431 from
    # the HTTP layer itself. Never a dropped connection.
    c = ctx.srv.client(ctx.tokens["admin"])
    for size in (100, 7000, 100):
        r = c.request("GET", "/fhir/Patient?_count=1", headers={"X-Padding": "p" * size})
        assert r.status == 200, "headers of %d bytes: %r" % (size, r)
    marker = "hdr" + uid(8)
    body = json.dumps({"resourceType": "Patient", "identifier": [{"system": "urn:x", "value": marker}]})
    many = {"X-Padding-%d" % i: "p" * 40 for i in range(120)}
    for headers in ({"X-Padding": "p" * 10000}, {"X-Padding": "p" * 15000}, many):
        r = c.request("POST", "/fhir/Patient", body, ctype="application/fhir+json", headers=headers)
        assert r.status == 431, "headers of %d bytes: %r" % (sum(len(k) + len(v) for k, v in headers.items()), r)
        assert "larger than the limit" in json.dumps(r.json), r
    r = c.request("GET", "/fhir/Patient?identifier=urn:x|" + marker, expect=200)
    assert r.json.get("total", len(r.json.get("entry", []))) == 0, "a refused request was carried out: %r" % r
    for size in (12000, 15000, 17000, 30000):
        st = _raw(ctx.srv.port, b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"p" * size + b"\r\n\r\n")
        assert st == 431, "headers of %d bytes: status %s" % (size, st)
    # Just under 16 KB the headers fit but no response headers would: libmicrohttpd closes the
    # connection without an answer, and the handler has not run.
    for size in range(15800, 16300, 50):
        raw = ("POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Content-Type: application/fhir+json\r\nContent-Length: %d\r\nX-Padding: %s\r\n\r\n%s"
               % (ctx.tokens["admin"], len(body), "p" * size, body)).encode()
        st = _raw(ctx.srv.port, raw)
        assert st in (431, None), "headers of %d bytes: status %s" % (size, st)
    r = c.request("GET", "/fhir/Patient?identifier=urn:x|" + marker, expect=200)
    assert r.json.get("total", len(r.json.get("entry", []))) == 0, "a refused request was carried out: %r" % r


def test_400_malformed_json(ctx):
    for body in ('{"resourceType": "Patient",', "", "null", "[]", '"Patient"', "{'resourceType': 'Patient'}",
                 '{"resourceType":"Patient"} trailing', '{"resourceType":"Patient","active":true,"active":false}',
                 '{"resourceType":"Patient","name":[{"family":"\\ud800"}]}', b'{"resourceType":"Patient","x":"\xff\xfe"}',
                 '{"resourceType":"Patient","birthDate":"1980-01-01"\x00}'):
        r = ctx.admin.request("POST", "/fhir/Patient", body, ctype="application/fhir+json")
        assert r.status in (400, 422), "body %r: %r" % (harness.short(body, 60), r)
        if body in ("", '{"resourceType": "Patient",', "{'resourceType': 'Patient'}"):
            assert r.status == 400, "body %r: %r" % (body, r)


def test_400_nesting_depth(ctx):
    deep = '{"resourceType":"Patient","extension":[' + "[" * 200 + "]" * 200 + "]}"
    r = ctx.admin.request("POST", "/fhir/Patient", deep, ctype="application/fhir+json")
    assert r.status == 400, "200-deep JSON: %r" % r
    deeper = '{"resourceType":"Patient","extension":' + '{"a":' * 100000 + "1" + "}" * 100000 + "}"
    r = ctx.admin.request("POST", "/fhir/Patient", deeper, ctype="application/fhir+json")
    assert r.status == 400, "100000-deep JSON: %r" % r


def test_422_resource_rules(ctx):
    ctx.admin.post("/fhir/Patient", {"resourceType": "Practitioner"}, expect=422)
    ctx.admin.post("/fhir/Patient", {"active": True}, expect=(400, 422))
    for bd in ("1980-13-01", "1980-02-30", "80-01-01", "1980/01/01", "yesterday", "1980-01-01T10:00:00Z"):
        ctx.admin.post("/fhir/Patient", dict(PATIENT, birthDate=bd), expect=422)
    ctx.admin.put("/fhir/Patient/bad!id", dict(PATIENT, id="bad!id"), expect=(400, 422))
    ctx.admin.put("/fhir/Patient/" + "a" * 65, dict(PATIENT, id="a" * 65), expect=(400, 422))


def test_422_elements_r4_does_not_define(ctx):
    """Every element must be one FHIR R4 defines, in the right JSON form: an unknown element is
    refused (it would otherwise be stored and echoed back, and the answer would not be R4)."""
    cases = [
        (dict(PATIENT, foo=1), "Patient.foo"),
        (dict(PATIENT, name=[{"family": "X", "bogus": "y"}]), "Patient.name[0].bogus"),
        (dict(PATIENT, active="yes"), "Patient.active"),
        (dict(PATIENT, birthDate=19800101), "Patient.birthDate"),
        (dict(PATIENT, gender="m"), "Patient.gender"),
        (dict(PATIENT, telecom={"system": "phone", "value": "0102030405"}), "Patient.telecom"),
        (dict(PATIENT, extension=[{"valueString": "no url"}]), "Patient.extension[0]"),
        (dict(PATIENT, contained=[{"resourceType": "Practitioner", "unknown": True}]), "Patient.contained[0].unknown"),
        (dict(PATIENT, multipleBirthInteger=1.5), "Patient.multipleBirthInteger"),
    ]
    for body, where in cases:
        r = ctx.admin.post("/fhir/Patient", body, expect=422)
        issue = r.json["issue"][0]
        assert where in (issue.get("expression") or [""])[0], "%s: expected the error at %s, got %s" % (body, where, issue)
    # What R4 allows passes: a primitive's extension sibling, a choice element, a contained resource.
    ok = dict(PATIENT, _birthDate={"extension": [{"url": "http://example.org/precision", "valueCode": "day"}]},
              deceasedBoolean=False, contained=[{"resourceType": "Practitioner", "id": "p1", "name": [{"family": "Y"}]}])
    ctx.admin.post("/fhir/Patient", ok, expect=201)


def test_404_unknown_type(ctx):
    ctx.admin.get("/fhir/NoSuchType/1", expect=404)
    ctx.admin.get("/fhir/NoSuchType", expect=404)
    ctx.admin.post("/fhir/NoSuchType", {"resourceType": "NoSuchType"}, expect=404)
    ctx.admin.get("/fhir/patient/1", expect=404)  # types are case-sensitive
    ctx.admin.get("/fhir/Observation/1", expect=404)  # a real FHIR type we do not serve
    r = ctx.anon.get("/nosuchroute", expect=404)


def test_405_methods(ctx):
    ctx.admin.delete("/fhir/Patient", expect=405)
    ctx.admin.put("/fhir/Patient", dict(PATIENT), expect=405)
    ctx.admin.post("/fhir/AuditEvent", {"resourceType": "AuditEvent"}, expect=405)
    ctx.admin.request("PATCH", "/fhir/Patient/x", "[]", ctype="application/json-patch+json", expect=(405, 415))
    ctx.admin.post("/fhir/Patient/some-id", dict(PATIENT), expect=405)
    ctx.admin.request("DELETE", "/fhir/metadata", expect=405)


def test_409_or_412_concurrent_version(ctx):
    # Two updates claiming the same base version: the second one must not win silently.
    p = ctx.admin.create(dict(PATIENT))
    body = dict(PATIENT, id=p["id"], active=False)
    ctx.admin.put("/fhir/Patient/" + p["id"], body, headers={"If-Match": 'W/"1"'}, expect=200)
    ctx.admin.put("/fhir/Patient/" + p["id"], body, headers={"If-Match": 'W/"1"'}, expect=(409, 412))


def _raw(port, data, timeout=10):
    """Send raw bytes; return the status code of the answer, or None if the server closed."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        return None
    finally:
        s.close()
    if not buf.startswith(b"HTTP/1."):
        return None
    return int(buf.split(b" ", 2)[1])


def test_fuzz_never_5xx(ctx):
    rnd = random.Random(20240601)
    c = ctx.srv.client(ctx.tokens["admin"])
    tok = ctx.tokens["admin"]
    valid = json.dumps({"resourceType": "Patient", "name": [{"family": "Fuzz", "given": ["A"]}],
                        "birthDate": "1980-01-01", "identifier": [{"system": "urn:x", "value": "1"}]})
    n = 0

    def mutate(s):
        b = bytearray(s.encode())
        for _ in range(rnd.randint(1, 8)):
            op = rnd.randint(0, 3)
            i = rnd.randrange(len(b)) if b else 0
            if op == 0 and b:
                del b[i:i + rnd.randint(1, 10)]
            elif op == 1:
                b[i:i] = bytes(rnd.choice(b'{}[]",:\\\x00\xff') for _ in range(rnd.randint(1, 5)))
            elif op == 2 and b:
                b[i] = rnd.randrange(256)
            else:
                b = b[:i]
        return bytes(b)

    # Bodies: mutated JSON that is no longer valid, random bytes, structural oddities.
    bodies = []
    while len(bodies) < 100:
        m = mutate(valid)
        try:
            json.loads(m.decode("utf-8"))
            continue  # still valid JSON: not a malformed-input case
        except (ValueError, UnicodeDecodeError):
            bodies.append(m)
    bodies += [bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 300))) for _ in range(20)]
    for b in bodies:
        r = c.request("POST", "/fhir/Patient", b, ctype="application/fhir+json")
        assert 400 <= r.status < 500, "malformed body %r: %r" % (harness.short(b, 80), r)
        n += 1
    # Valid JSON, wrong FHIR.
    for b in ({"resourceType": 1}, {"resourceType": "Patient", "name": "x"}, {"resourceType": "Patient", "gender": 42},
              {"resourceType": "Patient", "birthDate": []}, {"resourceType": "Patient", "identifier": [{"system": {}}]},
              {"resourceType": "Patient", "active": "yes"}, {"resourceType": "Patient", "name": [{"family": 1}]},
              {"resourceType": "Patient", "birthDate": "9" * 5000}):
        r = c.post("/fhir/Patient", b)
        assert 400 <= r.status < 500, "invalid Patient %s: %r" % (harness.short(json.dumps(b), 80), r)
        n += 1
    # URLs.
    paths = ["/fhir/Patient?birthdate=" + rnd.choice(["gt", "xx", "", "eq"]) + str(rnd.randint(-99999, 99999)) for _ in range(10)]
    paths += ["/fhir/Patient?_count=" + v for v in ("-5", "1e9", "abc", "99999999999999999999", "")]
    paths += ["/fhir/Patient?_sort=" + v for v in ("nosuch", "--family", ",")]
    paths += ["/fhir/Patient?%s=1" % uid(rnd.randint(1, 30)) for _ in range(10)]
    paths += ["/fhir/Patient?family=%zz", "/fhir/Patient?family=%", "/fhir/Patient?family:=x", "/fhir/Patient?:=x",
              "/fhir/Patient?_include=" + "x" * 3000, "/fhir/Patient?_revinclude=Patient:nosuch", "/fhir/Patient?_cursor=AAAA",
              "/fhir/Patient?_summary=nonsense", "/fhir/Patient?_id=" + "a" * 5000 + "!",
              "/fhir/Patient/" + "%00", "/fhir/Patient/a%2Fb", "/fhir/Patient/x/_history/notanumber",
              "/fhir/Patient/x/_history/-1", "/fhir/Patient/x/nosuch", "/fhir/Patient/x/_history/1/extra",
              "/fhir/../etc/passwd", "/fhir/Patient/" + "é" * 10, "/fhir/_history?_since=garbage",
              "/fhir/Patient?identifier=" + "|" * 100, "/fhir/Patient?birthdate=ge2020-02-30",
              "/fhir/AuditEvent?date=nonsense", "/fhir/AuditEvent?nosuch=1", "/fhir/AuditEvent?_count=-3"]
    for p in paths:
        r = c.request("GET", harness.urllib.parse.quote(p, safe="/?=&%:|_,-.!"))
        assert 400 <= r.status < 500, "GET %s: %r" % (harness.short(p, 80), r)
        n += 1
    # Headers.
    hdrs = [{"If-Match": "W/\"abc"}, {"If-Match": "*" * 3000}, {"Prefer": "return=" + "x" * 2000},
            {"If-None-Exist": "%%%"}, {"If-None-Exist": "nosuch=1"}, {"If-None-Exist": "birthdate=notadate"},
            {"Content-Type": "application/fhir+json; charset=latin1-garbage\x7f"}, {"Content-Encoding": "gzip"}]
    for h in hdrs:
        method = "PUT" if "If-Match" in h else "POST"
        path = "/fhir/Patient/fz" + uid(4) if method == "PUT" else "/fhir/Patient"
        body = json.dumps(dict(PATIENT, id=path.rsplit("/", 1)[1], birthDate="notadate")) if method == "PUT" else '{"resourceType":'
        try:
            r = c.request(method, path, body, ctype="application/fhir+json", headers=h)
        except ValueError:
            continue  # http.client refuses to send it: nothing to test
        assert 400 <= r.status < 500, "%s with %s: %r" % (method, harness.short(str(h), 60), r)
        n += 1
    for a in ("Bearer " + tok[:20] + "\u00e9" + tok[21:], "Bearer " + tok + " " + tok, "Bearer " + "." * 2000,
              "Bearer " + tok.replace(".", "..", 1), "Bearer " + "A" * 12000):
        r = c.request("GET", "/fhir/Patient?_count=1", headers={"Authorization": a.encode("utf-8").decode("latin-1")}, token=None)
        assert r.status in (400, 401, 413, 431), "Authorization %s: %r" % (harness.short(a, 40), r)
        n += 1
    # Raw protocol abuse: whatever the answer, it is not a 5xx, and the server survives.
    port = ctx.srv.port
    raws = [b"GET /fhir/Patient HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x01\x02\r\n\r\n",
            b"GET /fhir/Patient?\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX: " + b"y" * 70000 + b"\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64) + b"\r\n\r\n"]
    for raw in raws:
        st = _raw(port, raw)
        assert st is None or 400 <= st < 500, "raw request %r: status %s" % (harness.short(raw, 60), st)
        n += 1
    assert n >= 170, "only %d fuzz cases ran" % n
    ctx.anon.get("/healthz", expect=200)
    ctx.admin.get("/fhir/Patient?_count=1", expect=200)
