"""test_zfinal.py - runs last: the shared server stops cleanly, its audit trail verifies, and no log
of any server of the run holds a non-JSON line, a token or a patient's name."""

import json
import os

import harness


def test_shared_server_sigterm_exit_0(ctx):
    if ctx._srv is None:
        ctx.skip("the shared server never started")
    ctx.srv.stop_ok()


def test_shared_audit_verify(ctx):
    if ctx._srv is None:
        ctx.skip("the shared server never started")
    p = ctx.env.cli("audit", "verify", "--data", ctx.data, "--db", ctx.db, check=False)
    assert p.returncode == 0, "audit verify on the shared server's data: exit %d: %s" % (
        p.returncode, harness.short(p.stdout + p.stderr, 500))
    assert "intact" in p.stdout, p.stdout


def test_every_server_exited_0(ctx):
    bad = []
    for s in ctx.env.servers:
        if s.proc is None:
            continue
        if s.proc.poll() is None:
            rc = s.stop()
        else:
            rc = s.proc.returncode if s.returncode is None else s.returncode
        if rc != 0 and rc != "SIGKILL (by the test)":
            bad.append("%s: %r" % (s.name, rc))
    assert not bad, "servers that did not exit 0: %s" % ", ".join(bad)


def test_logs_json_no_secrets(ctx):
    secrets = sorted(s for s in ctx.env.secrets if len(s) >= 5)
    assert secrets, "no secrets recorded"
    problems = []
    seen_request = seen_listen = False
    for s in ctx.env.servers:
        if not s.log_path or not os.path.exists(s.log_path):
            continue
        with open(s.log_path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8", "replace")
        for sec in secrets:
            if sec in text:
                kind = "a token" if sec.count(".") == 2 or len(sec) > 40 else "the name %r" % sec
                problems.append("%s log holds %s" % (s.name, kind))
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                problems.append("%s log line %d is not JSON: %s" % (s.name, i, harness.short(line, 160)))
                break
            if not isinstance(obj, dict):
                problems.append("%s log line %d is not an object" % (s.name, i))
                break
            if "level" not in obj or "time" not in obj:
                problems.append("%s log line %d lacks time/level: %s" % (s.name, i, harness.short(line, 160)))
                break
            if obj.get("msg") == "listening" and "url" in obj:
                seen_listen = True
            if "status" in obj and "route" in obj and "request_id" in obj and any(k.startswith("duration") for k in obj):
                seen_request = True
    assert seen_listen, "no {\"msg\":\"listening\",\"url\":...} line in any server log"
    assert seen_request, "no request log line (request_id, route, status, duration) in any server log"
    assert not problems, "; ".join(problems[:10])


def test_every_response_was_schema_checked(ctx):
    assert ctx.filtered or ctx.env.validator.checked >= 200, "only %d resources went through the schema validator" % ctx.env.validator.checked
    assert not ctx.env.validation_failures, "schema failures: %s" % ctx.env.validation_failures[:5]
