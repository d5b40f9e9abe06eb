#!/usr/bin/env python3
"""run.py - the integration test runner: every test_*.py of this folder against one socle binary.

    tests/integration/run.py --socle build/socle --db sqlite|postgres [--tally FILE] [-k TEXT] [--keep]

A test is a function test_NAME(ctx) in a module test_*.py; modules run in the order of MODULES,
tests in the order they are written. A test passes when it returns, fails on any exception, and
is skipped when it raises harness.Skip (not counted as passed or failed). Most tests share one
server (ctx.srv, started at the first use); tests that need their own start it through ctx.env.
The last module (test_zfinal) stops the shared server, expects exit status 0, verifies its audit
trail and reads every server's log for leaks.
Prints one line per test and ends with "integration LABEL: N passed, N failed[, N skipped]";
writes "PASSED FAILED SKIPPED" to --tally. Exit status 0 when nothing failed.
Environment: SOCLE_TEST_PG_URL (for --db postgres), INTEGRATION_DEADLINE (seconds for the whole
run, default 900: tests not started by then count as failed).
"""

import argparse
import importlib
import inspect
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

import harness  # noqa: E402

MODULES = [
    "test_basics",
    "test_auth",
    "test_crud",
    "test_types",
    "test_search",
    "test_search_chain",
    "test_bundle",
    "test_errors",
    "test_audit",
    "test_server",
    "test_ins",
    "test_annuaire",
    "test_psc",
    "test_psc_patient",
    "test_dmp",
    "test_mss",
    "test_zfinal",
]

SHARED_FLAGS = ["--max-body-bytes", "1048576", "--audit-checkpoint-interval", "50"]


class Ctx:
    """What the tests share: the run (env), the shared server and its tokens and clients."""

    def __init__(self, env):
        self.env = env
        self.db_kind = env.db_kind
        self._srv = None
        self.failed_tests = []

    def _start(self):
        env = self.env
        self.data = env.new_data("shared")
        self.db = env.new_db(self.data)
        self.tokens = {
            "admin": env.token(self.data, "it-admin", "system", roles=["admin"]),
            "system": env.token(self.data, "it-system", "system"),
            "auditor": env.token(self.data, "it-auditor", "professional", roles=["auditor"], profession="10"),
            "pro": env.token(self.data, "810000000042", "professional", profession="10", structure="it-structure"),
            "patient": env.token(self.data, "1800175123456", "patient"),
        }
        self._srv = env.server(self.data, self.db, SHARED_FLAGS, name="shared")
        self.admin = self._srv.client(self.tokens["admin"])
        self.system = self._srv.client(self.tokens["system"])
        self.auditor = self._srv.client(self.tokens["auditor"])
        self.pro = self._srv.client(self.tokens["pro"])
        self.patient = self._srv.client(self.tokens["patient"])
        self.anon = self._srv.client(None)

    @property
    def srv(self):
        if self._srv is None:
            self._start()
        return self._srv

    def __getattr__(self, name):
        # data, db, tokens and the clients exist once the shared server has started.
        if name in ("data", "db", "tokens", "admin", "system", "auditor", "pro", "patient", "anon") and self._srv is None:
            self._start()
            return getattr(self, name)
        raise AttributeError(name)

    def secret(self, *names):
        """Strings (patient names...) that must never appear in a log."""
        for n in names:
            self.env.secrets.add(n)
        return names[0] if len(names) == 1 else names

    def skip(self, why):
        raise harness.Skip(why)

    def only(self, kind):
        if self.db_kind != kind:
            raise harness.Skip("%s only" % kind)


def collect(filter_text):
    tests = []
    for m in MODULES:
        mod = importlib.import_module(m)
        fns = [f for n, f in inspect.getmembers(mod, inspect.isfunction)
               if n.startswith("test_") and f.__module__ == mod.__name__]
        fns.sort(key=lambda f: f.__code__.co_firstlineno)
        for f in fns:
            name = "%s.%s" % (m[len("test_"):], f.__name__[len("test_"):])
            if filter_text and filter_text not in name and not m.startswith("test_zfinal"):
                continue
            tests.append((name, f))
    return tests


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socle", required=True)
    ap.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    ap.add_argument("--tally")
    ap.add_argument("--label")
    ap.add_argument("-k", dest="filter")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()
    label = a.label or "%s/%s" % (a.socle, a.db)
    deadline = time.time() + float(os.environ.get("INTEGRATION_DEADLINE", "900"))

    passed = failed = skipped = 0
    failures = []
    env = None
    t_start = time.time()
    try:
        env = harness.Env(a.socle, a.db, keep=a.keep)
        ctx = Ctx(env)
        ctx.filtered = bool(a.filter)
        tests = collect(a.filter)
        for name, fn in tests:
            if time.time() > deadline:
                failed += 1
                failures.append((name, "not run: the run's deadline passed"))
                print("FAIL %s: not run (deadline)" % name, flush=True)
                continue
            t0 = time.time()
            try:
                fn(ctx)
            except harness.Skip as e:
                skipped += 1
                print("skip %s (%s)" % (name, e), flush=True)
                continue
            except Exception as e:  # noqa: BLE001 - every exception is a failure of that test
                failed += 1
                ctx.failed_tests.append(name)
                tb = traceback.extract_tb(e.__traceback__)
                where = ["%s:%d" % (os.path.basename(f.filename), f.lineno) for f in tb
                         if os.path.basename(f.filename).startswith("test_")]
                msg = "%s: %s" % (type(e).__name__, e)
                failures.append((name, msg))
                print("FAIL %s (%.1fs) at %s\n    %s" % (name, time.time() - t0, " > ".join(where[-3:]),
                                                     msg.replace("\n", "\n    ")), flush=True)
                continue
            passed += 1
            print("ok   %s (%.1fs)" % (name, time.time() - t0), flush=True)
    except Exception as e:  # the run could not even start
        failed += 1
        failures.append(("setup", str(e)))
        print("FAIL setup: %s" % e, flush=True)
        traceback.print_exc()
    finally:
        if env is not None:
            if failed:
                env.keep = env.keep or os.environ.get("SOCLE_KEEP_TMP") == "1"
            env.close()
            if env.keep:
                print("(temporary files kept in %s)" % env.root)

    if failures:
        print("integration %s: failures:" % label)
        for n, m in failures:
            print("  %s: %s" % (n, harness.short(m.splitlines()[0] if m else "", 200)))
    line = "integration %s: %d passed, %d failed" % (label, passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line + " (%.0f s)" % (time.time() - t_start), flush=True)
    if a.tally:
        with open(a.tally, "w") as f:
            f.write("%d %d %d\n" % (passed, failed, skipped))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
