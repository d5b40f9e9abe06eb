"""test_audit.py - the audit trail: FHIR AuditEvent search (patient, agent, date, action, paging) and
`socle audit verify`, intact after traffic and broken after each kind of tampering with the stored
chain (edit, delete, swap, truncate; SQLite through python's sqlite3, PostgreSQL through psql)."""

import os
import re
import sqlite3
import time

import harness
from harness import matches, uid, wait_for


def _events(ctx, query):
    b = ctx.auditor.search("AuditEvent", query).json
    return [e["resource"] for e in matches(b)]


def test_auditevent_search(ctx):
    fam = ctx.secret("Auditée")
    p = ctx.admin.create({"resourceType": "Patient", "name": [{"family": fam}]})
    pid = p["id"]
    ctx.admin.get("/fhir/Patient/" + pid, expect=200)
    ctx.admin.put("/fhir/Patient/" + pid, {"resourceType": "Patient", "id": pid, "name": [{"family": fam}], "active": True},
                  expect=200)
    ctx.admin.get("/fhir/Patient/%s/_history/1" % pid, expect=200)
    doc = ctx.admin.create({"resourceType": "DocumentReference", "status": "current", "subject": {"reference": "Patient/" + pid},
                            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]})
    ctx.admin.get("/fhir/DocumentReference/" + doc["id"], expect=200)

    def actions():
        evs = _events(ctx, "patient=%s&_count=100" % pid)
        acts = {e.get("action") for e in evs}
        return evs if {"C", "R", "U"} <= acts and len(evs) >= 6 else None
    evs = wait_for(actions, "AuditEvents C, R and U for the patient")
    for e in evs:
        assert e["resourceType"] == "AuditEvent"
        ent = " ".join(str(x.get("what", {}).get("reference", "")) for x in e.get("entity", []))
        assert "Patient/" + pid in ent, "AuditEvent %s found by patient=%s does not name it: %s" % (e["id"], pid, ent)
    # Newest first in the order of the trail (sequence numbers). "recorded" may be a few ms out of
    # that order: reads are queued and committed after writes that happened just after them.
    seqs = [int(e["id"]) for e in evs]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs), "AuditEvents are not newest first: %s" % seqs
    # The DocumentReference accesses belong to the patient's compartment.
    assert any("DocumentReference/" + doc["id"] in str(e.get("entity")) for e in evs), \
        "the DocumentReference create/read is not found by patient"
    # Same with a Patient/ reference.
    assert len(_events(ctx, "patient=Patient/%s&_count=100" % pid)) == len(evs)
    # By action.
    c = _events(ctx, "patient=%s&action=C" % pid)
    assert c and all(e["action"] == "C" for e in c), [e.get("action") for e in c]
    assert len(c) == 2, "expected 2 creates for the patient, got %d" % len(c)
    # By agent.
    mine = _events(ctx, "patient=%s&agent=it-admin&_count=100" % pid)
    assert len(mine) == len(evs), "agent=it-admin: %d of %d" % (len(mine), len(evs))
    assert _events(ctx, "patient=%s&agent=nobody-%s" % (pid, uid())) == []
    # By date.
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert len(_events(ctx, "patient=%s&date=ge%s&_count=100" % (pid, today))) == len(evs)
    assert _events(ctx, "patient=%s&date=lt2000-01-01" % pid) == []
    ctx.auditor.search("AuditEvent", "date=garbage", expect=400)
    # Paging.
    pages, all_ = ctx.auditor.search_all("AuditEvent", "patient=%s&_count=2" % pid)
    assert len(pages) >= 3 and len({e["resource"]["id"] for e in all_}) == len(evs), \
        "paging AuditEvents by 2: %d pages, %d distinct of %d" % (len(pages), len({e["resource"]["id"] for e in all_}), len(evs))
    # Read one by id.
    r = ctx.auditor.get("/fhir/AuditEvent/" + evs[0]["id"], expect=200)
    assert r.json["id"] == evs[0]["id"]


def test_auditevent_search_inside_a_transaction(ctx):
    # A transaction Bundle holds the write lock (its POST) while an entry reads a Patient (an audit
    # event queued) and then searches the trail: the search must not wait for the audit writer,
    # which that lock keeps out; it answers with what is committed, and the Bundle commits.
    pid = ctx.admin.create({"resourceType": "Patient", "name": [{"family": ctx.secret("Dansletx")}]})["id"]
    admin = ctx.srv.client(ctx.tokens["admin"], timeout=20)
    b = admin.post("/fhir", {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "active": True}, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/" + pid}},
        {"request": {"method": "GET", "url": "AuditEvent?patient=" + pid}}]}, expect=200).json
    statuses = [e["response"]["status"] for e in b["entry"]]
    assert [s.split()[0] for s in statuses] == ["201", "200", "200"], statuses
    # Outside a transaction the same search waits for the queue: the read above is there.
    reads = [e for e in _events(ctx, "patient=%s&action=R" % pid)]
    assert reads, "the read inside the Bundle is not in the trail"


def test_auditevent_no_health_data(ctx):
    # The trail records who did what to which resource, never the resource's content.
    fam = ctx.secret("Confidentielle")
    p = ctx.admin.create({"resourceType": "Patient", "name": [{"family": fam}], "birthDate": "1931-07-14"})
    ctx.admin.get("/fhir/Patient/" + p["id"], expect=200)
    evs = wait_for(lambda: _events(ctx, "patient=%s" % p["id"]), "AuditEvents for the patient")
    text = repr(evs)
    assert fam not in text and "1931-07-14" not in text, "an AuditEvent holds the patient's data"


# ----------------------------------------------------------------------------------------------
# Tampering


def _sqlite_path(db_url):
    return db_url[len("sqlite:"):]


class Trail:
    """Direct access to the stored audit_event table of one (stopped) data set."""

    def __init__(self, env, db_url):
        self.env = env
        self.url = db_url
        self.sqlite = db_url.startswith("sqlite:")
        if self.sqlite:
            con = sqlite3.connect(_sqlite_path(db_url))
            self.cols = [r[1] for r in con.execute("PRAGMA table_info(audit_event)")]
            con.close()
        else:
            out = env.psql("SELECT column_name FROM information_schema.columns WHERE table_name = 'audit_event' "
                           "ORDER BY ordinal_position", url=db_url)
            self.cols = [l for l in out.splitlines() if l]
        assert self.cols, "no audit_event table in %s" % db_url
        self.seq = "seq" if "seq" in self.cols else self.cols[0]

    def sql(self, statements):
        """Run tampering statements, with the table's protective triggers out of the way."""
        if self.sqlite:
            con = sqlite3.connect(_sqlite_path(self.url))
            con.isolation_level = None
            for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_event'").fetchall():
                con.execute('DROP TRIGGER "%s"' % name)
            con.execute("BEGIN")
            for s in statements:
                con.execute(s)
            con.execute("COMMIT")
            con.close()
        else:
            self.env.psql("BEGIN; ALTER TABLE audit_event DISABLE TRIGGER ALL; %s; COMMIT;" % "; ".join(statements),
                          url=self.url)

    def value(self, query):
        if self.sqlite:
            con = sqlite3.connect(_sqlite_path(self.url))
            v = con.execute(query).fetchone()[0]
            con.close()
            return v
        return int(self.env.psql(query, url=self.url).strip())

    def edit_column(self):
        for c in ("action", "agent_id", "outcome", "resource_id", "patient_id", "resource_type", "address", "detail",
                  "request_id"):
            if c in self.cols:
                return c
        for c in self.cols:
            if c != self.seq and "hash" not in c and "sig" not in c:
                return c
        raise AssertionError("no column to edit in audit_event %s" % self.cols)


def _verify(env, data, db_url):
    p = env.cli("audit", "verify", "--data", data, "--db", db_url, check=False)
    out = p.stdout + p.stderr
    m = re.search(r"entry (\d+)", out)
    return p.returncode, (int(m.group(1)) if m else None), out


def test_audit_verify_and_tampering(ctx):
    env = ctx.env
    data = env.new_data("audit")
    db = env.new_db(data)
    admin = env.token(data, "it-admin", "system", roles=["admin"])
    pro = env.token(data, "810000000077", "professional", profession="10")
    # Reads are audited through the writer's batches: gathered for 2 s here, so that the 40 reads
    # below make one batch, which the writer inserts 32 rows per statement (checkpoints inside).
    srv = env.server(data, db, ["--audit-checkpoint-interval", "5", "--audit-batch-ms", "2000"], name="audit")
    a, pc = srv.client(admin), srv.client(pro)
    fam = ctx.secret("Chaînée")
    first = a.create({"resourceType": "Patient", "name": [{"family": fam}]})
    for i in range(40):
        a.get("/fhir/Patient/" + first["id"], expect=200)
    for i in range(4):
        p = a.create({"resourceType": "Patient", "name": [{"family": fam}]})
        a.get("/fhir/Patient/" + p["id"], expect=200)
        pc.get("/fhir/Patient/" + p["id"], expect=403)
        a.put("/fhir/Patient/" + p["id"], {"resourceType": "Patient", "id": p["id"], "active": True}, expect=200)
    a.search("Patient", "family=" + harness.urllib.parse.quote(fam))
    srv.stop_ok()

    rc, n, out = _verify(env, data, db)
    assert rc == 0, "audit verify after traffic: exit %d: %s" % (rc, harness.short(out))
    t = Trail(env, db)
    last = t.value("SELECT max(%s) FROM audit_event" % t.seq)
    count = t.value("SELECT count(*) FROM audit_event")
    assert count == last and last >= 57, "audit_event holds %d rows, last seq %d (expected >= 57, no gaps)" % (count, last)
    mid = last // 2
    col = t.edit_column()
    tampers = [
        ("edit", ["UPDATE audit_event SET %s = COALESCE(%s, '') || 'x' WHERE %s = %d" % (col, col, t.seq, mid)], (mid,)),
        ("delete", ["DELETE FROM audit_event WHERE %s = %d" % (t.seq, mid)], (mid, mid + 1)),
        ("swap", ["UPDATE audit_event SET %s = -1 WHERE %s = %d" % (t.seq, t.seq, mid),
                  "UPDATE audit_event SET %s = %d WHERE %s = %d" % (t.seq, mid, t.seq, mid + 2),
                  "UPDATE audit_event SET %s = %d WHERE %s = -1" % (t.seq, mid + 2, t.seq)], (mid,)),
        ("truncate", ["DELETE FROM audit_event WHERE %s > %d" % (t.seq, last - 3)], tuple(range(last - 3, last + 2))),
        ("truncate-to-checkpoint", ["DELETE FROM audit_event WHERE %s > %d" % (t.seq, (last // 5) * 5 - 1)],
         tuple(range((last // 5) * 5 - 1, last + 2))),
    ]
    problems = []
    for name, stmts, where in tampers:
        d2, db2 = env.copy_data(data, db, "tamper-" + name)
        Trail(env, db2).sql(stmts)
        rc, n, out = _verify(env, d2, db2)
        if rc != 1:
            problems.append("%s: audit verify exit %d (expected 1): %s" % (name, rc, harness.short(out, 200)))
        elif n not in where:
            problems.append("%s: names entry %s, expected %s: %s" % (name, n, list(where)[:4], harness.short(out, 200)))
    assert not problems, "; ".join(problems)
    # The original is still intact.
    rc, n, out = _verify(env, data, db)
    assert rc == 0, out
    # And a server starts again on it and keeps the chain going.
    srv = env.server(data, db, ["--audit-checkpoint-interval", "5"], name="audit-again")
    srv.client(admin).search("Patient", "_count=1")
    srv.stop_ok()
    rc, n, out = _verify(env, data, db)
    assert rc == 0, "audit verify after a restart: %s" % out


def test_audit_verify_cannot_run(ctx):
    env = ctx.env
    d = env.new_data("audit-none", pki=False)
    p = env.cli("audit", "verify", "--data", d, "--db", "postgres://nobody@127.0.0.1:1/none", check=False)
    assert p.returncode == 2, "audit verify without a reachable store: exit %d" % p.returncode
