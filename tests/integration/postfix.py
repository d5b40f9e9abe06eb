"""postfix.py - a real Postfix (Debian's package) as another MSSanté operator, for the tests.

NAME
     Postfix - a private Postfix instance under a temporary directory, on a free port of 127.0.0.1.
DESCRIPTION
     Everything lives under one directory: etc/ (main.cf, master.cf, the texthash: tables), queue/
     (queue_directory), data/ (data_directory), mail/ (the virtual Maildirs) and maillog (its log,
     through postlogd). Nothing of the system's Postfix is used but the binaries: no
     /etc/postfix/main.cf, no port 25, no DNS (smtp_dns_support_level = disabled, native lookups),
     no syslog.
     It is an operator of the trust space: its certificate (issued by socle's test PKI, kind
     operator) serves STARTTLS on its smtpd and is presented as the client certificate when it
     relays, and the peer's certificate must chain to the same CA and name the peer's domain
     (TLS level "secure" with match=<domain>, through smtp_tls_policy_maps).
     Its own domain is delivered to Maildirs (virtual_mailbox_domains, static uid/gid of nobody):
     every local part listed in mailboxes. Other domains go where transport says (the socle
     relay listener); mail from 127.0.0.0/8 may be relayed (mynetworks).
     start() checks the configuration (`postfix -c DIR check`, which also creates the queue
     directories), then runs the master daemon in the foreground as a child process
     (`master -c DIR -d`, in a session of its own); stop() sends it SIGTERM and then kills
     whatever is left of its process group. Root is needed (the master daemon starts as root); any
     failure to start is an AssertionError with the log.
"""

import ctypes
import grp
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time

import harness

POSTFIX = "/usr/sbin/postfix"
MASTER = "/usr/lib/postfix/sbin/master"

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
{listen} inet n       -       n       -       -       smtpd
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.settimeout(5)
            return s.recv(512).startswith(b"220")
    except OSError:
        return False


def _subreaper(on):
    """prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are reparented to this process."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1 if on else 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class Postfix:
    """A private Postfix for domain under root (created here), relaying the domains of
    transport ({domain: (host, port)}) over TLS with the operator certificate cert/key."""

    def __init__(self, root, domain, cert, key, ca, transport=None, mailboxes=("someone",)):
        if os.geteuid() != 0:
            raise AssertionError("Postfix peer: the tests must run as root to start a Postfix master daemon")
        for path in (POSTFIX, MASTER):
            if not os.access(path, os.X_OK):
                raise AssertionError("Postfix peer: %s is missing (scripts/deps.sh installs postfix)" % path)
        self.root = root
        self.domain = domain
        self.port = harness.free_port()
        self.etc = os.path.join(root, "etc")
        self.queue = os.path.join(root, "queue")
        self.datadir = os.path.join(root, "data")
        self.mail = os.path.join(root, "mail")
        self.maillog = os.path.join(root, "maillog")
        self.proc = None
        self.stdout_path = os.path.join(root, "master.out")
        self.owner = pwd.getpwnam("postfix")
        self.vuid = pwd.getpwnam("nobody").pw_uid
        self.vgid = grp.getgrnam("nogroup").gr_gid
        os.makedirs(self.etc)
        os.makedirs(self.queue)
        os.makedirs(self.datadir)
        os.makedirs(self.mail)
        os.chown(self.datadir, self.owner.pw_uid, self.owner.pw_gid)
        os.chown(self.mail, self.vuid, self.vgid)
        os.chmod(self.mail, 0o700)
        self._searchable(root)
        # The certificate files, root's own copies (Postfix reads them as root, before dropping
        # privileges; a key it may not read would stop smtpd).
        self.cert = os.path.join(self.etc, "operator.pem")
        self.key = os.path.join(self.etc, "operator.key")
        self.ca = os.path.join(self.etc, "ca.pem")
        shutil.copyfile(cert, self.cert)
        shutil.copyfile(key, self.key)
        os.chmod(self.key, 0o600)
        shutil.copyfile(ca, self.ca)
        self.transport = dict(transport or {})
        self.mailboxes = list(mailboxes)
        self._write_config()

    def _searchable(self, path):
        """The virtual(8) agent opens the Maildirs by absolute path as uid nobody: every directory
        above mail/ must be searchable by others. A 0700 temporary directory above us (the run's
        root from mkdtemp) gets o+x, not o+r: nothing becomes listable, and socle keeps its keys
        in 0700 directories of its own."""
        p = os.path.abspath(path)
        while True:
            st = os.stat(p)
            if not st.st_mode & stat.S_IXOTH:
                if st.st_uid != 0:
                    raise AssertionError("Postfix peer: %s is not searchable by uid %d" % (p, self.vuid))
                os.chmod(p, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
            parent = os.path.dirname(p)
            if parent == p:
                return
            p = parent

    def _write_config(self):
        maps = {
            "vmailbox": "".join("%s@%s %s/%s/\n" % (l, self.domain, self.domain, l) for l in self.mailboxes),
            "transport": "".join("%s smtp:[%s]:%d\n" % (d, h, p) for d, (h, p) in self.transport.items()),
            # The peer's certificate must chain to the trust-space CA and name the peer's domain
            # (the next hop is an address, so name the domain here: match=).
            "tls_policy": "".join("[%s]:%d secure match=%s\n" % (h, p, d) for d, (h, p) in self.transport.items()),
        }
        for name, text in maps.items():
            with open(os.path.join(self.etc, name), "w") as f:
                f.write(text)
        main = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue,
            "data_directory": self.datadir,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": self.root,
            "myhostname": self.domain,
            "mydomain": self.domain,
            "myorigin": "$mydomain",
            "mydestination": "localhost",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtp_host_lookup": "native",
            "smtp_dns_support_level": "disabled",
            "biff": "no",
            "append_dot_mydomain": "no",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "relayhost": "",
            "virtual_mailbox_domains": self.domain,
            "virtual_mailbox_base": self.mail,
            "virtual_mailbox_maps": "texthash:" + os.path.join(self.etc, "vmailbox"),
            "virtual_uid_maps": "static:%d" % self.vuid,
            "virtual_gid_maps": "static:%d" % self.vgid,
            "virtual_minimum_uid": "1",
            "transport_maps": "texthash:" + os.path.join(self.etc, "transport"),
            # A test wants the first attempt to count, and a retry soon if it did not.
            "queue_run_delay": "2s",
            "minimal_backoff_time": "2s",
            "maximal_backoff_time": "4s",
            # TLS server: STARTTLS offered, a client certificate asked for and checked.
            "smtpd_tls_security_level": "may",
            "smtpd_tls_cert_file": self.cert,
            "smtpd_tls_key_file": self.key,
            "smtpd_tls_CAfile": self.ca,
            "smtpd_tls_ask_ccert": "yes",
            "smtpd_tls_received_header": "yes",
            "smtpd_tls_loglevel": "1",
            # TLS client: required, the peer verified, our operator certificate presented.
            "smtp_tls_security_level": "secure",
            "smtp_tls_policy_maps": "texthash:" + os.path.join(self.etc, "tls_policy"),
            "smtp_tls_CAfile": self.ca,
            "smtp_tls_cert_file": self.cert,
            "smtp_tls_key_file": self.key,
            "smtp_tls_loglevel": "1",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
        }
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("# A private Postfix for the socle integration tests (tests/integration/postfix.py).\n")
            for k, v in main.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(listen="127.0.0.1:%d" % self.port))

    def _run(self, *args, check=True):
        p = subprocess.run([POSTFIX, "-c", self.etc] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, errors="replace", timeout=120)
        if check and p.returncode != 0:
            raise AssertionError("postfix -c %s %s: exit status %d\n%s%s\nmaillog:\n%s" % (
                self.etc, " ".join(args), p.returncode, p.stdout, p.stderr, self.log_tail()))
        return p

    def start(self, timeout=30):
        """Check the configuration, run the master daemon, wait for the 220 greeting."""
        p = self._run("check")
        if p.stderr.strip():
            # Warnings only (the check passed): keep them with the log.
            with open(os.path.join(self.root, "check.out"), "w") as f:
                f.write(p.stderr)
        out = open(self.stdout_path, "wb")
        env = dict(os.environ, MAIL_CONFIG=self.etc)
        self.proc = subprocess.Popen([MASTER, "-c", self.etc, "-d"], stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        out.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("Postfix master exited at start (status %s)\n%s" % (
                    self.proc.returncode, self.log_tail()))
            if _port_open(self.port):
                return self
            time.sleep(0.1)
        self.stop()
        raise AssertionError("Postfix did not answer on 127.0.0.1:%d within %d s\n%s" % (
            self.port, timeout, self.log_tail()))

    def stop(self):
        """SIGTERM to the master (it passes it on to its children and exits at once), SIGKILL to
        anything left of its process group, and every one of them reaped: for the time of the
        stop this process is a child subreaper (prctl), so the orphaned daemons come back to it
        rather than to a PID 1 that may never reap them."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        _subreaper(True)
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    pass
            deadline = time.time() + 10
            while True:
                try:
                    pid, _ = os.waitpid(-pgid, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid:
                    continue
                if time.time() > deadline:
                    try:
                        os.killpg(pgid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    deadline = time.time() + 10
                time.sleep(0.05)
            try:
                os.killpg(pgid, signal.SIGKILL)  # a daemon that was no child of ours
            except ProcessLookupError:
                pass
            if self.proc.poll() is None:
                self.proc.wait(timeout=15)
        finally:
            _subreaper(False)
            self.proc = None

    def log_tail(self, n=40):
        parts = []
        for path in (self.maillog, self.stdout_path):
            try:
                with open(path, "rb") as f:
                    lines = f.read().decode("utf-8", "replace").splitlines()
                parts.append("%s:\n%s" % (path, "\n".join("    " + l[:400] for l in lines[-n:])))
            except OSError:
                pass
        return "\n".join(parts) or "    (no Postfix log)"

    def log(self):
        try:
            with open(self.maillog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def queue_listing(self):
        """`postqueue -p` of this instance: what is still waiting, and why."""
        p = subprocess.run(["/usr/sbin/postqueue", "-c", self.etc, "-p"], capture_output=True, text=True,
                           errors="replace", timeout=60)
        return (p.stdout + p.stderr).strip()

    def maildir_messages(self, local):
        """The raw bytes of every message delivered to local@domain (new/ and cur/), oldest first."""
        base = os.path.join(self.mail, self.domain, local)
        out = []
        for sub in ("cur", "new"):
            d = os.path.join(base, sub)
            if not os.path.isdir(d):
                continue
            for name in os.listdir(d):
                path = os.path.join(d, name)
                with open(path, "rb") as f:
                    out.append((os.stat(path).st_mtime, name, f.read()))
        return [raw for _, _, raw in sorted(out)]
