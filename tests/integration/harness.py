"""harness.py - runs socle for the integration tests and talks to it like a real client would.

NAME
     harness - temporary data dirs, databases, tokens, `socle serve` processes, HTTP clients,
     FHIR schema validation of every resource received.
DESCRIPTION
     Env        one test run: the socle binary, the engine (sqlite|postgres), a temporary root
                directory, the schema validator process, the secrets (tokens, patient names)
                that must never appear in a log, and every server started (to check their logs
                and exit statuses at the end).
     Server     one `socle serve` process on a free port of 127.0.0.1; stderr captured to a file.
     Client     one keep-alive HTTP(S) connection; request() returns a Resp and fails the test on a
                5xx, on a missing X-Request-Id, and on any FHIR resource (or Bundle entry) that the
                official FHIR R4 JSON schema rejects.
     Nothing is built here: the binary comes from the command line (tests/integration/run.py).
     PostgreSQL: SOCLE_TEST_PG_URL names a database on a throwaway server (scripts/with-postgres.sh);
     every `socle serve` data set gets its own database, created with psql.
"""

import http.client
import itertools
import json
import os
import random
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VALIDATOR_JS = os.path.join(ROOT, "tests", "schema", "validate.js")

FHIR_JSON = "application/fhir+json"


class Skip(Exception):
    """Raised by a test that does not apply to this run (e.g. multi-node on SQLite)."""


class Fatal(AssertionError):
    """The shared server is gone: the remaining tests that need it fail at once."""


def uid(n=10):
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def short(b, n=300):
    """A printable excerpt of a body for failure messages."""
    if isinstance(b, (bytes, bytearray)):
        b = b.decode("utf-8", "replace")
    b = str(b)
    return b if len(b) <= n else b[:n] + "...(%d bytes)" % len(b)


# ----------------------------------------------------------------------------------------------
# Schema validator: one node process per run, fed NDJSON, answers one line per resource.


class Validator:
    def __init__(self):
        if not os.path.exists(os.path.join(ROOT, "tests", "schema", "node_modules", "ajv")):
            raise RuntimeError("tests/schema/node_modules missing: run `npm ci` in tests/schema")
        self.proc = subprocess.Popen(
            ["node", VALIDATOR_JS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self.lock = threading.Lock()
        self.checked = 0

    def check(self, resource):
        """None when valid, else the validator's message."""
        line = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
        with self.lock:
            if self.proc.poll() is not None:
                raise RuntimeError("schema validator died: " + short(self.proc.stderr.read()))
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            answer = self.proc.stdout.readline().rstrip("\n")
            self.checked += 1
        if answer == "ok":
            return None
        if not answer:
            raise RuntimeError("schema validator gave no answer: " + short(self.proc.stderr.read()))
        return answer

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()


# ----------------------------------------------------------------------------------------------
# HTTP


class Resp:
    def __init__(self, status, headers, body, method, target):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage: case-insensitive get()
        self.body = body
        self.method = method
        self.target = target
        self.json = None

    def h(self, name):
        return self.headers.get(name) if self.headers is not None else None

    def diag(self):
        """What the server said, for assertion messages."""
        j = self.json
        if isinstance(j, dict) and j.get("resourceType") == "OperationOutcome":
            try:
                iss = j["issue"][0]
                return "%s/%s: %s" % (iss.get("severity"), iss.get("code"), short(iss.get("diagnostics", ""), 200))
            except Exception:
                pass
        return short(self.body, 200)

    def __repr__(self):
        return "<%s %s -> %d %s>" % (self.method, short(self.target, 120), self.status, self.diag())


def _status_ok(status, expect):
    if expect is None:
        return True
    if isinstance(expect, int):
        return status == expect
    return status in expect


class Client:
    """One keep-alive connection to a server; not thread-safe (one per thread)."""

    def __init__(self, server, token=None, timeout=60):
        self.server = server
        self.env = server.env
        self.token = token
        self.timeout = timeout
        self.conn = None

    def _connect(self):
        if self.server.tls:
            self.conn = http.client.HTTPSConnection(
                "localhost", self.server.port, timeout=self.timeout, context=self.server.ssl_context()
            )
        else:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=self.timeout)

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def _target(self, path):
        if path.startswith("http://") or path.startswith("https://"):
            u = urllib.parse.urlsplit(path)
            assert u.port == self.server.port or u.netloc.endswith(":%d" % self.server.port), (
                "link %s does not point at the server (port %d)" % (path, self.server.port)
            )
            return u.path + ("?" + u.query if u.query else "")
        return path

    def request(self, method, path, body=None, *, json_body=None, headers=None, token="default",
                ctype=None, expect=None, validate=True, allow_5xx=False, fresh=False):
        """Send one request; return a Resp. json_body is serialised as FHIR JSON. token=None sends
        no Authorization header. expect: a status or a tuple of statuses to assert."""
        target = self._target(path)
        hdrs = {"Accept": FHIR_JSON}
        tok = self.token if token == "default" else token
        if tok is not None:
            hdrs["Authorization"] = "Bearer " + tok
        if json_body is not None:
            self.env.note_names(json_body)
            body = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            hdrs["Content-Type"] = ctype or FHIR_JSON
        elif body is not None:
            if isinstance(body, str):
                body = body.encode("utf-8")
            if ctype:
                hdrs["Content-Type"] = ctype
        if headers:
            hdrs.update(headers)
        hdrs = {k: v for k, v in hdrs.items() if v is not None}
        if fresh:
            self.close()
        resp = self._send(method, target, body, hdrs)
        self._check(resp, expect, validate, allow_5xx, fhir_accepted=FHIR_JSON in (hdrs.get("Accept") or ""))
        return resp

    def _send(self, method, target, body, hdrs):
        self.server.assert_alive()
        for attempt in (1, 2):
            reused = self.conn is not None
            if self.conn is None:
                self._connect()
            try:
                try:
                    self.conn.request(method, target, body=body, headers=hdrs)
                except (BrokenPipeError, ConnectionResetError):
                    # The server answered before reading the whole body (413): read that answer.
                    pass
                r = self.conn.getresponse()
                data = r.read()
                resp = Resp(r.status, r.headers, data, method, target)
                if r.will_close:
                    self.close()
                return resp
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.BadStatusLine) as e:
                self.close()
                if reused and attempt == 1:
                    continue  # a keep-alive connection the server had closed: retry once
                self.server.assert_alive()
                raise AssertionError("%s %s: connection failed: %r" % (method, short(target, 120), e))
            except socket.timeout:
                self.close()
                self.server.assert_alive()
                raise AssertionError("%s %s: no answer within %d s" % (method, short(target, 120), self.timeout))
        raise AssertionError("unreachable")

    def _check(self, resp, expect, validate, allow_5xx, fhir_accepted=True):
        if resp.body and "json" in (resp.h("Content-Type") or ""):
            try:
                resp.json = json.loads(resp.body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                raise AssertionError("%s %s: response is not JSON (%s): %s" % (
                    resp.method, short(resp.target, 120), e, short(resp.body)))
        if resp.status >= 500 and not allow_5xx:
            raise AssertionError("server error: %r" % resp)
        assert resp.h("X-Request-Id"), "%r: no X-Request-Id header" % resp
        if not _status_ok(resp.status, expect):
            raise AssertionError("expected %s, got %r" % (expect, resp))
        if resp.target.startswith("/fhir") and resp.body and (fhir_accepted or resp.status >= 400):
            ct = resp.h("Content-Type") or ""
            assert ct.startswith(FHIR_JSON), "%r: Content-Type %r, expected %s" % (resp, ct, FHIR_JSON)
        if resp.target.startswith("/fhir") and resp.status >= 400:
            assert isinstance(resp.json, dict) and resp.json.get("resourceType") == "OperationOutcome", (
                "%r: an error must be an OperationOutcome" % resp)
        if validate and isinstance(resp.json, dict) and "resourceType" in resp.json:
            self.env.validate(resp.json, "%s %s" % (resp.method, short(resp.target, 120)))

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json_body=None, **kw):
        return self.request("POST", path, json_body=json_body, **kw)

    def put(self, path, json_body=None, **kw):
        return self.request("PUT", path, json_body=json_body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # FHIR conveniences ---------------------------------------------------------------------

    def create(self, resource, **kw):
        """POST a resource; asserts 201 (unless expect is given); returns the stored resource."""
        kw.setdefault("expect", 201)
        r = self.post("/fhir/" + resource["resourceType"], resource, **kw)
        return r.json

    def search(self, type_, query="", **kw):
        """GET a search, asserts 200 (unless told otherwise) and a searchset Bundle."""
        kw.setdefault("expect", 200)
        path = "/fhir/" + type_ + ("?" + query if query else "")
        r = self.get(path, **kw)
        if r.status == 200:
            b = r.json
            assert b.get("resourceType") == "Bundle" and b.get("type") == "searchset", "%r: not a searchset" % r
        return r

    def search_all(self, type_, query, max_pages=50):
        """Every page of a search (follows next links); returns (pages, matches)."""
        r = self.search(type_, query)
        pages = [r.json]
        while True:
            nxt = link(r.json, "next")
            if not nxt:
                break
            assert len(pages) < max_pages, "more than %d pages" % max_pages
            r = self.get(nxt, expect=200)
            pages.append(r.json)
        return pages, [e for p in pages for e in matches(p)]


def link(bundle, rel):
    for l in bundle.get("link", []) or []:
        if l.get("relation") == rel:
            return l.get("url")
    return None


def matches(bundle):
    """Entries of a searchset that are matches (not _include'd)."""
    return [e for e in bundle.get("entry", []) or []
            if (e.get("search") or {}).get("mode", "match") == "match"]


def ids(entries):
    return [e["resource"]["id"] for e in entries]


# ----------------------------------------------------------------------------------------------
# Servers


class Server:
    def __init__(self, env, data, db_url, flags=(), tls=False, name="server", command="serve", ports=None):
        self.env = env
        self.listen_ports = ports  # {"smtp": port, ...} of the --X-listen flags, kept up to date
        self.command = command
        self.stdout_path = None
        self.data = data
        self.db_url = db_url
        self.flags = list(flags)
        self.tls = tls
        self.name = name
        self.proc = None
        self.port = None
        self.log_path = None
        self.returncode = None
        self._ctx = None

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def ssl_context(self):
        if self._ctx is None:
            ctx = ssl.create_default_context(cafile=os.path.join(self.data, "pki", "ca.pem"))
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            self._ctx = ctx
        return self._ctx

    def start(self, timeout=90):
        last = None
        for attempt in range(4):
            if attempt:
                self._redraw_listen_ports()
            self.port = free_port()
            seq = self.env.next_seq()
            self.log_path = os.path.join(self.env.root, "%s-%d.log" % (self.name, seq))
            self.stdout_path = os.path.join(self.env.root, "%s-%d.out" % (self.name, seq))
            args = [self.env.socle, self.command, "--data", self.data, "--listen", "127.0.0.1:%d" % self.port,
                    "--db", self.db_url] + self.flags
            if self.tls:
                args += ["--tls-cert", os.path.join(self.data, "pki", "server.pem"),
                         "--tls-key", os.path.join(self.data, "pki", "server.key")]
            # stderr is the JSON log; stdout (socle demo prints its token there) apart.
            log, out = open(self.log_path, "wb"), open(self.stdout_path, "wb")
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=log,
                                         env=self.env.child_env())
            log.close()
            out.close()
            self.env.servers.append(self)
            deadline = time.time() + timeout
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                if self._healthy():
                    self.returncode = None
                    return self
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("%s did not become healthy within %d s; log:\n%s" % (
                    self.name, timeout, self.log_tail()))
            last = self.log_tail()
            if "in use" not in last and "bind" not in last.lower():
                break
        raise AssertionError("%s exited at start (status %s); log:\n%s" % (self.name, self.proc.returncode, last))

    def _redraw_listen_ports(self):
        """After "address in use": new free ports for the --X-listen flags too (another process may
        take a free port before the server binds it), told to the test through listen_ports."""
        for i, f in enumerate(self.flags[:-1]):
            if f.startswith("--") and f.endswith("-listen") and self.flags[i + 1].startswith("127.0.0.1:"):
                port = free_port()
                self.flags[i + 1] = "127.0.0.1:%d" % port
                if self.listen_ports is not None:
                    self.listen_ports[f[2:-len("-listen")]] = port

    def _healthy(self):
        try:
            if self.tls:
                c = http.client.HTTPSConnection("localhost", self.port, timeout=2, context=self.ssl_context())
            else:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            c.request("GET", "/healthz")
            r = c.getresponse()
            r.read()
            c.close()
            return r.status == 200
        except (OSError, http.client.HTTPException):
            return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        if self.proc is not None and self.proc.poll() is not None and self.returncode is None:
            self.returncode = self.proc.returncode
            raise Fatal("%s died (exit status %s); log tail:\n%s" % (self.name, self.proc.returncode, self.log_tail()))
        if self.proc is not None and self.proc.poll() is not None:
            raise Fatal("%s is not running (exit status %s)" % (self.name, self.proc.returncode))

    def stop(self, timeout=60):
        """SIGTERM, wait; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.returncode = "killed after %d s without stopping" % timeout
                return None
        self.returncode = self.proc.returncode
        return self.proc.returncode

    def stop_ok(self):
        """Stop and assert a clean exit (ASan/UBSan reports make the status non-zero)."""
        rc = self.stop()
        assert rc == 0, "%s: exit status %r after SIGTERM, expected 0; log tail:\n%s" % (
            self.name, rc, self.log_tail(60))

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.returncode = "SIGKILL (by the test)"

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join("    " + l[:400] for l in lines[-n:])
        except OSError:
            return "    (no log)"

    def client(self, token=None, timeout=None):
        return Client(self, token, timeout or self.env.http_timeout)


# ----------------------------------------------------------------------------------------------
# The run


class Env:
    def __init__(self, socle, db_kind, keep=False):
        self.socle = os.path.abspath(socle)
        if not os.access(self.socle, os.X_OK):
            raise RuntimeError("%s is not an executable" % socle)
        self.db_kind = db_kind
        self.pg_url = os.environ.get("SOCLE_TEST_PG_URL") if db_kind == "postgres" else None
        if db_kind == "postgres" and not self.pg_url:
            raise RuntimeError("SOCLE_TEST_PG_URL is not set (run under scripts/with-postgres.sh)")
        self.asan = "/asan/" in self.socle
        self.http_timeout = 120 if self.asan else 60
        self.root = tempfile.mkdtemp(prefix="socle-it.")
        self.keep = keep
        self.secrets = set()
        self.servers = []
        self._seq = itertools.count(1)
        self.validator = Validator()
        self.validation_failures = []

    def next_seq(self):
        return next(self._seq)

    def child_env(self):
        e = dict(os.environ)
        # The tests' settings come from flags only.
        for k in list(e):
            if k.startswith("SOCLE_") and not k.startswith("SOCLE_TEST_"):
                del e[k]
        return e

    def note_names(self, resource):
        """Patient names sent to the server must never show up in a log: remember them."""
        if not isinstance(resource, dict):
            return
        if resource.get("resourceType") == "Bundle":
            for e in resource.get("entry", []) or []:
                if isinstance(e, dict):
                    self.note_names(e.get("resource"))
            return
        if resource.get("resourceType") != "Patient" or not isinstance(resource.get("name"), list):
            return
        for n in resource["name"]:
            if not isinstance(n, dict):
                continue
            parts = [n.get("family")] + (n.get("given") if isinstance(n.get("given"), list) else [])
            for part in parts:
                # Short names could match ordinary words of a log line by chance.
                if isinstance(part, str) and len(part) >= 6:
                    self.secrets.add(part)

    def validate(self, resource, where):
        problems = []
        msg = self.validator.check(resource)
        if msg:
            problems.append("%s: %s %s" % (where, resource.get("resourceType"), msg))
        if resource.get("resourceType") == "Bundle":
            for i, e in enumerate(resource.get("entry", []) or []):
                for k in ("resource",):
                    r = e.get(k)
                    if isinstance(r, dict):
                        m = self.validator.check(r)
                        if m:
                            problems.append("%s: Bundle.entry[%d].resource (%s): %s" % (where, i, r.get("resourceType"), m))
                out = (e.get("response") or {}).get("outcome")
                if isinstance(out, dict):
                    m = self.validator.check(out)
                    if m:
                        problems.append("%s: Bundle.entry[%d].response.outcome: %s" % (where, i, m))
        if problems:
            self.validation_failures.extend(problems)
            raise AssertionError("FHIR schema: " + "; ".join(problems))

    # CLI -------------------------------------------------------------------------------------

    def cli(self, *args, check=True, timeout=120, env_extra=None):
        """Run `socle ARGS`; returns CompletedProcess (text). check: assert exit status 0."""
        env = self.child_env()
        if env_extra:
            env.update(env_extra)
        p = subprocess.run([self.socle] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, errors="replace", timeout=timeout, env=env)
        if check:
            assert p.returncode == 0, "socle %s: exit status %d\nstdout: %s\nstderr: %s" % (
                " ".join(str(a) for a in args[:3]), p.returncode, short(p.stdout, 600), short(p.stderr, 2000))
        return p

    def new_data(self, name="data", pki=True):
        d = os.path.join(self.root, "%s-%d" % (name, self.next_seq()))
        os.makedirs(d)
        if pki:
            self.cli("pki", "init", "--data", d)
        return d

    def token(self, data, sub, kind, roles=(), profession=None, structure=None, ttl=None, extra=()):
        args = ["token", "issue", "--data", data, "--sub", sub, "--kind", kind]
        for r in roles:
            args += ["--role", r]
        if profession:
            args += ["--profession", profession]
        if structure:
            args += ["--structure", structure]
        if ttl is not None:
            args += ["--ttl", str(ttl)]
        args += list(extra)
        p = self.cli(*args)
        tok = p.stdout.strip()
        assert tok.count(".") == 2 and "\n" not in tok, "token issue printed %r" % short(tok)
        self.secrets.add(tok)
        self.secrets.add(tok.rsplit(".", 1)[1])  # the signature alone must not leak either
        return tok

    # Databases -------------------------------------------------------------------------------

    def psql(self, sql, url=None, check=True):
        """Run SQL on the test PostgreSQL server; returns stdout (unaligned, tuples only)."""
        p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url or self.pg_url, "-c", sql],
                           capture_output=True, text=True, timeout=120)
        if check:
            assert p.returncode == 0, "psql %s: %s" % (short(sql, 100), short(p.stderr, 500))
        return p.stdout

    def pg_url_for(self, dbname):
        u = urllib.parse.urlsplit(self.pg_url)
        return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + dbname, u.query, u.fragment))

    def new_db(self, data, template=None):
        """A database URL for a new data set: sqlite in the data dir, or a fresh PostgreSQL database."""
        if self.db_kind == "sqlite":
            return "sqlite:" + os.path.join(data, "socle.db")
        name = "socle_it_%d_%d_%s" % (os.getpid(), self.next_seq(), uid(4))
        sql = 'CREATE DATABASE "%s"' % name
        if template:
            sql += ' TEMPLATE "%s"' % template
        self.psql(sql)
        return self.pg_url_for(name)

    def copy_data(self, data, db_url, name="copy"):
        """A copy of a stopped server's data set: (data dir, db url)."""
        d = os.path.join(self.root, "%s-%d" % (name, self.next_seq()))
        shutil.copytree(data, d)
        if self.db_kind == "sqlite":
            return d, "sqlite:" + os.path.join(d, "socle.db")
        src = urllib.parse.urlsplit(db_url).path.lstrip("/")
        return d, self.new_db(d, template=src)

    def server(self, data, db_url, flags=(), tls=False, name="server", command="serve", ports=None):
        return Server(self, data, db_url, flags, tls, name, command, ports).start()

    # End -------------------------------------------------------------------------------------

    def kill_all(self):
        for s in self.servers:
            if s.proc is not None and s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()

    def close(self):
        self.kill_all()
        self.validator.close()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


def all_at_once(n, fn):
    """fn(0) ... fn(n - 1) on n threads released together; their results, in completion order."""
    barrier, results = threading.Barrier(n), []

    def run(i):
        barrier.wait()
        results.append(fn(i))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def assert_at_most_answered(statuses, n, most):
    """Guesses sent all at once: each refused (401) or locked out (429), at most `most` answered 401."""
    assert len(statuses) == n and set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) <= most, "%d guesses answered 401 (%d at most): %s" % (statuses.count(401), most, statuses)


def wait_for(fn, what, timeout=20, interval=0.1):
    """Poll fn() until it returns a true value (the audit writer commits asynchronously)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("%s: not seen within %d s (last: %s)" % (what, timeout, short(repr(last), 300)))
