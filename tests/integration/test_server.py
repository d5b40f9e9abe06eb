"""test_server.py - the process: durability across kill -9, graceful stop, TLS, configuration,
and several nodes on one PostgreSQL database."""

import http.client
import json
import os
import re
import shutil
import signal
import ssl
import threading
import time
import warnings

import harness
from harness import matches, uid


def _setup(ctx, name, flags=()):
    env = ctx.env
    data = env.new_data(name)
    db = env.new_db(data)
    tok = env.token(data, "it-admin", "system", roles=["admin"])
    return data, db, tok


def test_durability_kill9(ctx):
    env = ctx.env
    data, db, tok = _setup(ctx, "durable")
    srv = env.server(data, db, name="durable")
    c = srv.client(tok)
    fam = ctx.secret("Durable")
    made = [c.create({"resourceType": "Patient", "name": [{"family": fam}], "birthDate": "1966-06-0%d" % (i + 1)})
            for i in range(5)]
    upd = dict(made[0], active=True)
    del upd["meta"]
    c.put("/fhir/Patient/" + made[0]["id"], upd, expect=200)
    c.delete("/fhir/Patient/" + made[1]["id"], expect=204)
    srv.kill9()
    srv = env.server(data, db, name="durable-restarted")
    c = srv.client(tok)
    for p in made[2:]:
        r = c.get("/fhir/Patient/" + p["id"], expect=200)
        assert r.json["birthDate"] == p["birthDate"]
    r = c.get("/fhir/Patient/" + made[0]["id"], expect=200)
    assert r.json["meta"]["versionId"] == "2" and r.json.get("active") is True
    c.get("/fhir/Patient/" + made[1]["id"], expect=410)
    b = c.search("Patient", "family=" + harness.urllib.parse.quote(fam) + "&_summary=count").json
    assert b["total"] == 4, "search index after kill -9: total %r, expected 4" % b.get("total")
    srv.stop_ok()
    p = env.cli("audit", "verify", "--data", data, "--db", db, check=False)
    assert p.returncode == 0, "audit verify after kill -9: %s" % (p.stdout + p.stderr)


def test_graceful_stop_sigterm_and_sigint(ctx):
    env = ctx.env
    data, db, tok = _setup(ctx, "graceful")
    srv = env.server(data, db, name="graceful")
    # A request in flight when SIGTERM arrives still gets its answer.
    c = srv.client(tok)
    c.create({"resourceType": "Patient", "active": True})
    results = []

    def slow_client():
        try:
            cc = srv.client(tok)
            for _ in range(20):
                r = cc.request("POST", "/fhir/Patient", json_body={"resourceType": "Patient", "active": True})
                results.append(r.status)
        except Exception as e:  # the server stops accepting: later requests may be refused
            results.append(repr(e)[:60])
    th = threading.Thread(target=slow_client)
    th.start()
    time.sleep(0.05)
    srv.stop_ok()
    th.join(60)
    assert not any(isinstance(s, int) and s >= 500 for s in results), "5xx during shutdown: %s" % results
    # Writes acknowledged before the stop are all there.
    srv = env.server(data, db, name="graceful-2")
    n = srv.client(tok).search("Patient", "_summary=count").json["total"]
    acked = 1 + sum(1 for s in results if s == 201)
    # At most one create was in flight without an answer when the connection went away.
    assert acked <= n <= acked + 1, "%d patients stored, %d creates acknowledged" % (n, acked)
    # SIGINT stops it cleanly too.
    srv.proc.send_signal(signal.SIGINT)
    rc = srv.proc.wait(timeout=60)
    srv.returncode = rc
    assert rc == 0, "exit status %d after SIGINT" % rc


def test_tls(ctx):
    env = ctx.env
    data, db, tok = _setup(ctx, "tls")
    for f in ("ca.pem", "server.pem", "server.key"):
        assert os.path.exists(os.path.join(data, "pki", f)), "pki init did not write pki/%s" % f
    srv = env.server(data, db, tls=True, name="tls")
    c = srv.client(tok)
    assert c.get("/healthz", expect=200).json.get("status") == "ok"
    r = c.get("/fhir/metadata", token=None, expect=200)
    # Links use https.
    assert (c.post("/fhir/Patient", {"resourceType": "Patient"}).h("Location") or "").startswith("https://"), "Location not https"
    # TLS 1.2 and 1.3 work; the certificate checks out against the test CA for 127.0.0.1 and localhost.
    for host in ("localhost", "127.0.0.1"):
        ctx2 = ssl.create_default_context(cafile=os.path.join(data, "pki", "ca.pem"))
        ctx2.minimum_version = ctx2.maximum_version = ssl.TLSVersion.TLSv1_2
        conn = http.client.HTTPSConnection(host, srv.port, context=ctx2, timeout=30)
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
        conn.close()
    # TLS 1.1 is refused by the server (the client is allowed to offer it: SECLEVEL=0).
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old.set_ciphers("DEFAULT:@SECLEVEL=0")
            old.minimum_version = ssl.TLSVersion.TLSv1_1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ssl.SSLError, ValueError):
        ctx.skip("this Python/OpenSSL cannot offer TLS 1.1")
    conn = http.client.HTTPSConnection("127.0.0.1", srv.port, context=old, timeout=30)
    try:
        conn.request("GET", "/healthz")
        st = conn.getresponse().status
        raise AssertionError("a TLS 1.1 connection was accepted (status %s)" % st)
    except (ssl.SSLError, ConnectionResetError, http.client.RemoteDisconnected):
        pass
    finally:
        conn.close()
    # Plain HTTP on the TLS port gets nothing useful.
    plain = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        plain.request("GET", "/healthz")
        st = plain.getresponse().status
        assert st >= 400, "plain HTTP on the TLS port got %s" % st
    except (http.client.HTTPException, ConnectionError, OSError):
        pass
    finally:
        plain.close()
    srv.stop_ok()


def _config_lines(out):
    vals = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([a-z_][a-z0-9_]*)\s*=\s*(.*?)\s*(#\s*(.*))?$", line)
        if m:
            vals[m.group(1)] = (m.group(2), (m.group(4) or "").strip())
    return vals


def test_config_check(ctx):
    env = ctx.env
    d = env.new_data("config", pki=False)
    p = env.cli("config", "check", "--data", d, "--db", "postgres://u:secret@h.example/db")
    assert "secret" not in p.stdout + p.stderr, "config check printed the password: %s" % harness.short(p.stdout, 500)
    vals = _config_lines(p.stdout)
    assert "db" in vals and "h.example" in vals["db"][0], "db line: %r" % (vals.get("db"),)
    for key in ("listen", "data", "max_body_bytes", "json_max_depth", "issuer", "audience", "threads"):
        assert key in vals, "config check does not print %s" % key
    assert vals["max_body_bytes"][0] == "20971520", vals["max_body_bytes"]
    # Precedence: file < environment < flag, and the source is shown.
    conf = os.path.join(d, "socle.conf")
    with open(conf, "w") as f:
        f.write("# test\nmax_body_bytes = 1111\njson_max_depth = 33\nlog_level = warn\n")
    p = env.cli("config", "check", "--config", conf, "--data", d, "--max-body-bytes", "3333",
                env_extra={"SOCLE_MAX_BODY_BYTES": "2222", "SOCLE_JSON_MAX_DEPTH": "44"})
    vals = _config_lines(p.stdout)
    assert vals["max_body_bytes"][0] == "3333", "flag must win: %r" % (vals["max_body_bytes"],)
    assert vals["json_max_depth"][0] == "44", "environment must beat the file: %r" % (vals["json_max_depth"],)
    assert vals["log_level"][0] == "warn", "file value: %r" % (vals["log_level"],)
    srcs = (vals["max_body_bytes"][1], vals["json_max_depth"][1], vals["log_level"][1], vals["listen"][1])
    assert len(set(srcs)) == 4, "sources not told apart: %s" % (srcs,)
    # Invalid configurations: exit 2.
    for bad in (["--max-body-bytes", "lots"], ["--no-such-key", "1"], ["--db", "mysql://x"],
                ["--sqlite-synchronous", "SOMETIMES"], ["--tls-cert", "/nonexistent/cert.pem"]):
        p = env.cli("config", "check", "--data", d, *bad, check=False)
        assert p.returncode == 2, "config check %s: exit %d, expected 2" % (bad, p.returncode)
    with open(conf, "w") as f:
        f.write("this line is not key = value at all\n=\n")
    p = env.cli("config", "check", "--config", conf, check=False)
    assert p.returncode == 2, "config file with a bad line: exit %d" % p.returncode
    # serve refuses a bad configuration too (and does not print the password).
    p = env.cli("serve", "--data", d, "--db", "postgres://u:secret@127.0.0.1:1/db", "--listen", "127.0.0.1:%d" % harness.free_port(),
                check=False, timeout=30)
    assert p.returncode != 0, "serve started without a reachable database"
    assert "secret" not in p.stdout + p.stderr, "serve printed the database password"


def test_multi_node_postgres(ctx):
    ctx.only("postgres")
    env = ctx.env
    data_a, db, tok = _setup(ctx, "node-a")
    # Node B shares the keys (a copy of A's data directory) and the database.
    data_b = os.path.join(env.root, "node-b-%d" % env.next_seq())
    shutil.copytree(data_a, data_b)
    a = env.server(data_a, db, name="node-a")
    b = env.server(data_b, db, name="node-b")
    ca, cb = a.client(tok), b.client(tok)
    fam = ctx.secret("Multinœud")
    p = ca.create({"resourceType": "Patient", "name": [{"family": fam}]})
    r = cb.get("/fhir/Patient/" + p["id"], expect=200)
    assert r.json["name"][0]["family"] == fam
    # Update on B, read the new version on A.
    upd = {"resourceType": "Patient", "id": p["id"], "name": [{"family": fam}], "active": True}
    cb.put("/fhir/Patient/" + p["id"], upd, headers={"If-Match": 'W/"1"'}, expect=200)
    assert ca.get("/fhir/Patient/" + p["id"], expect=200).json["meta"]["versionId"] == "2"
    ca.put("/fhir/Patient/" + p["id"], upd, headers={"If-Match": 'W/"1"'}, expect=412)

    # 2 x 50 concurrent creates.
    system = "urn:it:" + uid()
    statuses, ids_, errors = [], [], []
    lock = threading.Lock()

    def worker(node, k):
        c = node.client(tok)
        for i in range(10):
            try:
                r = c.request("POST", "/fhir/Patient", json_body={
                    "resourceType": "Patient", "identifier": [{"system": system, "value": "%s-%d-%d" % (node.name, k, i)}]})
                with lock:
                    statuses.append(r.status)
                    if r.status == 201:
                        ids_.append(r.json["id"])
            except Exception as e:
                with lock:
                    errors.append(repr(e)[:200])
    threads = [threading.Thread(target=worker, args=(node, k)) for node in (a, b) for k in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, "concurrent creates: %d errors, first: %s" % (len(errors), errors[0])
    assert statuses.count(201) == 100, "concurrent creates: statuses %s" % sorted(set(statuses))
    assert len(set(ids_)) == 100, "duplicate ids across nodes"
    for c in (ca, cb):
        b_ = c.search("Patient", "identifier=%s|&_summary=count" % harness.urllib.parse.quote(system)).json
        assert b_["total"] == 100, "node sees %r of 100" % b_.get("total")

    # Concurrent conflicting updates across nodes: exactly one wins.
    q = ca.create({"resourceType": "Patient", "active": True})
    results = []

    def updater(node, k):
        c = node.client(tok)
        r = c.request("PUT", "/fhir/Patient/" + q["id"], json_body={"resourceType": "Patient", "id": q["id"], "active": k % 2 == 0},
                      headers={"If-Match": 'W/"1"'})
        with lock:
            results.append(r.status)
    threads = [threading.Thread(target=updater, args=((a, b)[k % 2], k)) for k in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results.count(200) == 1 and all(s in (200, 409, 412) for s in results), \
        "10 concurrent If-Match W/\"1\" updates: %s (expected one 200, the rest 409/412)" % sorted(results)
    assert ca.get("/fhir/Patient/" + q["id"]).json["meta"]["versionId"] == "2"
    a.stop_ok()
    b.stop_ok()
    p = env.cli("audit", "verify", "--data", data_a, "--db", db, check=False)
    assert p.returncode == 0, "audit verify after two nodes: exit %d: %s" % (p.returncode, p.stdout + p.stderr)
    m = re.search(r"(\d+) entries", p.stdout)
    assert m and int(m.group(1)) >= 104, "audit verify counted %s entries after 100+ writes" % (m.group(1) if m else "?")


def test_import_ndjson(ctx):
    env = ctx.env
    data, db, tok = _setup(ctx, "import")
    path = os.path.join(data, "in.ndjson")
    fam = ctx.secret("Importée")
    with open(path, "w") as f:
        for i in range(30):
            f.write(json.dumps({"resourceType": "Patient", "id": "imp-%d" % i, "name": [{"family": fam}],
                                "birthDate": "1950-01-%02d" % (i + 1)}, ensure_ascii=False) + "\n")
        f.write(json.dumps({"resourceType": "Organization", "id": "imp-org", "name": "Org importée"}) + "\n")
    env.cli("import", "ndjson", path, "--data", data, "--db", db, timeout=300)
    srv = env.server(data, db, name="import")
    c = srv.client(tok)
    assert c.get("/fhir/Patient/imp-7", expect=200).json["birthDate"] == "1950-01-08"
    b = c.search("Patient", "family=" + harness.urllib.parse.quote(fam) + "&birthdate=ge1950-01-21&_summary=count").json
    assert b["total"] == 10, "imported resources are not indexed: total %r" % b.get("total")
    c.get("/fhir/Organization/imp-org", expect=200)
    srv.stop_ok()
    bad = os.path.join(data, "bad.ndjson")
    with open(bad, "w") as f:
        f.write('{"resourceType":"Patient"}\n{not json\n')
    p = env.cli("import", "ndjson", bad, "--data", data, "--db", db, check=False)
    assert p.returncode != 0, "import of a bad file succeeded"
    # The services' rules apply to bulk loads too: an INS on an identity that is not qualifiée is
    # refused (line 2), the rest loads.
    rniv = os.path.join(data, "rniv.ndjson")
    with open(rniv, "w") as f:
        f.write(json.dumps({"resourceType": "Patient", "id": "imp-prov", "name": [{"family": fam}]}) + "\n")
        f.write(json.dumps({"resourceType": "Patient", "id": "imp-ins", "name": [{"family": fam}],
                            "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "180017505612341"}]}) + "\n")
    p = env.cli("import", "ndjson", rniv, "--data", data, "--db", db, check=False)
    assert ":2: rejected" in p.stderr and "qualifiée" in p.stderr, p.stderr
    assert ":1: rejected" not in p.stderr, p.stderr


def test_concurrent_writers_one_node(ctx):
    # Writers queue up on the engine's lock (SQLite) or row locks (PostgreSQL): none may fail.
    system = "urn:it:" + uid()
    statuses, errors = [], []
    lock = threading.Lock()
    p = ctx.admin.create({"resourceType": "Patient", "active": True})

    def worker(k):
        c = ctx.srv.client(ctx.tokens["admin"])
        for i in range(25):
            try:
                r = c.request("POST", "/fhir/Patient", json_body={"resourceType": "Patient",
                                                                  "identifier": [{"system": system, "value": "%d-%d" % (k, i)}]})
                r2 = c.request("GET", "/fhir/Patient/" + p["id"])
                with lock:
                    statuses.extend([r.status, r2.status])
            except Exception as e:
                with lock:
                    errors.append(repr(e)[:200])
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, "%d errors, first: %s" % (len(errors), errors[0])
    assert statuses.count(201) == 100 and statuses.count(200) == 100, "statuses %s" % sorted(set(statuses))
    b = ctx.admin.search("Patient", "identifier=%s|&_summary=count" % harness.urllib.parse.quote(system)).json
    assert b["total"] == 100, "total %r" % b.get("total")


def test_demo(ctx):
    env = ctx.env
    data = os.path.join(env.root, "demo-%d" % env.next_seq())  # socle demo creates it
    db = env.new_db(data) if env.db_kind == "postgres" else "sqlite:" + os.path.join(data, "socle.db")
    # The demo's MSSanté listeners on free ports (its defaults, 2525/2587/2143, may be taken).
    mail = ["--smtp-listen", "127.0.0.1:%d" % harness.free_port(), "--submission-listen",
            "127.0.0.1:%d" % harness.free_port(), "--imap-listen", "127.0.0.1:%d" % harness.free_port()]
    for run in (1, 2):
        srv = env.server(data, db, mail, name="demo", command="demo")
        out = ""
        deadline = time.time() + 30
        while time.time() < deadline:
            with open(srv.stdout_path, encoding="utf-8", errors="replace") as f:
                out = f.read()
            if re.search(r"\beyJ[\w-]+\.[\w-]+\.[\w-]+", out):
                break
            time.sleep(0.1)
        m = re.search(r"\b(eyJ[\w-]+\.[\w-]+\.[\w-]+)", out)
        assert m, "socle demo printed no bearer token: %s" % harness.short(out, 400)
        tok = m.group(1)
        env.secrets.add(tok)
        assert "%s/fhir" % srv.url in out, "socle demo does not print the FHIR base URL: %s" % harness.short(out, 400)
        c = srv.client(tok)
        counts = {t: c.search(t, "_summary=count").json["total"] for t in ("Patient", "Practitioner", "Organization")}
        assert all(v >= 1 for v in counts.values()), "demo data: %s" % counts
        if run == 1:
            first = counts
        else:
            assert counts == first, "demo data loaded twice: %s then %s" % (first, counts)
        # Every demo resource is valid FHIR R4 (the client validates each entry).
        for t in ("Patient", "Practitioner", "PractitionerRole", "Organization"):
            c.search(t, "_count=100")
        pats = harness.matches(c.search("Patient", "_count=100").json)
        for e in pats:
            idents = json.dumps(e["resource"].get("identifier", []))
            assert "1.2.250.1.213.1.4.8" in idents or "1.2.250.1.213.1.4.10" in idents or "1.2.250.1.213.1.4.11" in idents, \
                "demo Patient %s has no INS identifier: %s" % (e["resource"]["id"], idents)
            assert '"QUAL"' in json.dumps(e["resource"].get("extension", [])), "demo identities are qualifiées"
        # The demo INS reference base answers for the demo patients.
        ans = c.post("/insi/v1/rechercher", body=json.dumps({"traits": {
            "nomNaissance": "demo-martin", "prenoms": ["Jean"], "sexe": "M", "dateNaissance": "1985-05-12"}}),
            ctype="application/json", expect=200).json
        assert ans["cr"] == "00" and ans["ins"]["matricule"] == "185057512345673", ans
        # Pro Santé Connect is ready to try: a client, and an e-CPS activation code for a professional
        # of the demo directory (both fresh at each start).
        m = re.search(r"client\s+demo-rp / (\S+)", out)
        a = re.search(r"professional (\S+): activate.*?with the code (\S+)", out, re.S)
        assert m and a, "socle demo prints the OpenID Connect client and e-CPS code: %s" % harness.short(out, 800)
        # MSSanté: the demo professional's and demo-patient-1's mailboxes, the listeners.
        assert "demo.pro@mss.demo.socle.test" in out and "185057512345673@patient.mss.demo.socle.test" in out, \
            "socle demo prints its MSSanté mailboxes: %s" % harness.short(out, 1500)
        assert mail[3] in out and mail[5] in out, "socle demo prints its MSSanté listeners"
        env.secrets.add(m.group(1))
        assert c.get("/fhir/Practitioner/" + a.group(1)).json["id"] == a.group(1)
        r = c.post("/oidc/ecps/activate", body="idnps=%s&activation_code=%s" % (a.group(1), a.group(2)),
                   ctype="application/x-www-form-urlencoded", expect=200)
        assert b'id="secret"' in r.body, "the printed activation code works"
        srv.stop_ok()
