"""test_mss.py - the MSSanté operator with real mail clients: smtplib and imaplib over STARTTLS,
curl's smtp:// and imap://, OAUTHBEARER/XOAUTH2 with socle tokens; every refusal of the issue
(commands before STARTTLS, over-long lines, bare LF, unknown recipients, domains outside the trust
space, malformed MIME, XDM bombs and traversal, sending as someone else, the citizen rule,
INVISIBLE_PATIENT documents); a second socle as another operator (relay over mutual TLS both ways,
a DSN when a peer stays unreachable); MDN; IMAP IDLE; kill -9 after 250."""

import base64
import email
import hashlib
import imaplib
import io
import os
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
import zipfile
from email.message import EmailMessage

import harness
from harness import Skip, wait_for
from test_dmp import Dmp

DOMAIN = "mss.socle.test"
PEER = "peer.socle.test"
PRO_A, PRO_B = "810000000011", "810000000022"
FINESS = "010000099"


def _ports():
    return {k: harness.free_port() for k in ("smtp", "submission", "imap")}


def _flags(ports, domain, extra=()):
    return ["--smtp-listen", "127.0.0.1:%d" % ports["smtp"], "--submission-listen", "127.0.0.1:%d" % ports["submission"],
            "--imap-listen", "127.0.0.1:%d" % ports["imap"], "--mss-domain", domain] + list(extra)


class Mss(Dmp):
    """A socle with an INS base, professionals, a structure, qualified patients and mail listeners."""

    def __init__(self, ctx, name="mss", domain=DOMAIN, extra=(), trust=(DOMAIN, PEER)):
        self.ports = _ports()
        self.domain = domain
        self.trust_path = None
        self._trust = trust
        super().__init__(ctx, _flags(self.ports, domain, extra), name=name, ports=self.ports)
        self.write_trust(trust)
        self.admin.put("/fhir/Organization/" + FINESS, {
            "resourceType": "Organization", "id": FINESS,
            "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2", "value": FINESS}], "name": "CH TEST"},
            expect=(200, 201))
        self.mailboxes = {}

    def write_trust(self, domains):
        self.trust_path = os.path.join(self.data, "mss-trust.txt")
        with open(self.trust_path + ".tmp", "w") as f:
            f.write("# MSSanté trust space (test)\n" + "".join(d + "\n" for d in domains))
        os.replace(self.trust_path + ".tmp", self.trust_path)

    def cli(self, *args, check=True):
        return self.env.cli(*args, "--data", self.data, "--db", self.db, "--mss-domain", self.domain, check=check)

    def mailbox(self, kind, owner, address=None, password=None):
        args = ["mss", "mailbox", "add", "--kind", kind, "--owner", owner]
        if address:
            args += ["--address", address]
        if password:
            args += ["--password", password]
        addr = self.cli(*args).stdout.strip()
        self.mailboxes[addr] = owner
        return addr

    def ssl(self):
        return self.srv.ssl_context()

    def smtp(self, token=None, user=None, role="submission"):
        s = smtplib.SMTP("127.0.0.1", self.ports[role], timeout=30)
        s.ehlo("client.test")
        s.starttls(context=self.ssl())
        s.ehlo("client.test")
        if token:
            s.auth("XOAUTH2", lambda challenge=None: "user=%s\x01auth=Bearer %s\x01\x01" % (user, token),
                   initial_response_ok=True)
        return s

    def imap(self, token, user):
        m = imaplib.IMAP4("127.0.0.1", self.ports["imap"], timeout=30)
        m.starttls(ssl_context=self.ssl())
        typ, _ = m.authenticate("XOAUTH2", lambda _: ("user=%s\x01auth=Bearer %s\x01\x01" % (user, token)).encode())
        assert typ == "OK"
        return m

    def pro_token(self, idnps, structure=None):
        return self.env.token(self.data, idnps, "professional", profession="10", structure=structure or "s-" + idnps[-2:])

    def patient_token(self, ins):
        return self.env.token(self.data, ins, "patient")


def _mss(ctx):
    m = getattr(ctx.env, "mss_main", None)
    if m is None:
        m = ctx.env.mss_main = Mss(ctx)
        m.a = m.mailbox("PER", PRO_A, "dr.a@" + DOMAIN)
        m.b = m.mailbox("PER", PRO_B, "dr.b@" + DOMAIN)
        m.org = m.mailbox("ORG", FINESS, "urgences@" + DOMAIN)
        pid, m.ins = m.patient()
        m.citizen = m.mailbox("CIT", m.ins)
        m.tok_a, m.tok_b = m.pro_token(PRO_A), m.pro_token(PRO_B)
        m.tok_patient = m.patient_token(m.ins)
    return m


def _cda(ins="123456789012345", confidentiality="N"):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\">"
            "<id root=\"1.2.250.1.999.1\" extension=\"%s\"/><code code=\"11490-0\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
            "<title>Lettre de liaison</title><confidentialityCode code=\"%s\"/>"
            "<recordTarget><patientRole><id root=\"1.2.250.1.213.1.4.10\" extension=\"%s\"/></patientRole></recordTarget>"
            "<component><nonXMLBody><text mediaType=\"text/plain\">Bonjour</text></nonXMLBody></component>"
            "</ClinicalDocument>\n" % (harness.uid(8), confidentiality, ins)).encode()


def _xdm(doc, ins="123456789012345", confidentiality="N", size=None, sha1=None, name="DOC0001.XML", extra=(),
         mime="text/xml"):
    """An IHE XDM package written here, independently of socle's own builder."""
    rim = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
    size = len(doc) if size is None else size
    sha1 = hashlib.sha1(doc).hexdigest() if sha1 is None else sha1
    pat = "%s^^^&amp;1.2.250.1.213.1.4.10&amp;ISO" % ins

    def cls(scheme, code, coding, obj="Doc1"):
        return ("<rim:Classification classificationScheme=\"%s\" classifiedObject=\"%s\" nodeRepresentation=\"%s\" id=\"urn:uuid:%s\">"
                "<rim:Slot name=\"codingScheme\"><rim:ValueList><rim:Value>%s</rim:Value></rim:ValueList></rim:Slot>"
                "<rim:Name><rim:LocalizedString value=\"%s\"/></rim:Name></rim:Classification>"
                % (scheme, obj, code, harness.uid(8), coding, code))

    def slot(n, v):
        return "<rim:Slot name=\"%s\"><rim:ValueList><rim:Value>%s</rim:Value></rim:ValueList></rim:Slot>" % (n, v)

    meta = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<lcm:SubmitObjectsRequest xmlns:lcm=\"urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0\" xmlns:rim=\"%s\">"
            "<rim:RegistryObjectList>"
            "<rim:ExtrinsicObject id=\"Doc1\" mimeType=\"%s\" objectType=\"urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1\">"
            "%s%s%s%s<rim:Name><rim:LocalizedString value=\"Lettre de liaison\"/></rim:Name>"
            "%s%s%s"
            "<rim:ExternalIdentifier identificationScheme=\"urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427\" value=\"%s\" id=\"urn:uuid:%s\" registryObject=\"Doc1\"/>"
            "<rim:ExternalIdentifier identificationScheme=\"urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab\" value=\"1.2.250.1.999.1.%d\" id=\"urn:uuid:%s\" registryObject=\"Doc1\"/>"
            "</rim:ExtrinsicObject>"
            "<rim:RegistryPackage id=\"SubSet\">%s"
            "<rim:ExternalIdentifier identificationScheme=\"urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8\" value=\"1.2.250.1.999.2.%d\" id=\"urn:uuid:%s\" registryObject=\"SubSet\"/>"
            "<rim:ExternalIdentifier identificationScheme=\"urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832\" value=\"1.2.250.1.999\" id=\"urn:uuid:%s\" registryObject=\"SubSet\"/>"
            "<rim:ExternalIdentifier identificationScheme=\"urn:uuid:6b5aea1a-625c-4a0d-a8ee-d4c3b75d4e0c\" value=\"%s\" id=\"urn:uuid:%s\" registryObject=\"SubSet\"/>"
            "</rim:RegistryPackage></rim:RegistryObjectList></lcm:SubmitObjectsRequest>\n"
            % (rim, mime, slot("creationTime", "20261120100000"), slot("URI", name), slot("size", size), slot("hash", sha1),
               cls("urn:uuid:f0306f51-975f-434e-a61c-c59651d33983", "11490-0", "2.16.840.1.113883.6.1"),
               cls("urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a", "10", "1.2.250.1.213.1.1.4.1"),
               cls("urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f", confidentiality, "1.2.250.1.213.1.1.4.13"),
               pat, harness.uid(8), int(time.time() * 1000), harness.uid(8),
               slot("submissionTime", "20261120100000"), int(time.time() * 1000), harness.uid(8), harness.uid(8),
               pat, harness.uid(8)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("INDEX.HTM", "<html><body>XDM</body></html>")
        z.writestr("README.TXT", "test package")
        z.writestr("IHE_XDM/SUBSET01/METADATA.XML", meta)
        z.writestr("IHE_XDM/SUBSET01/" + name, doc)
        for n, data in extra:
            z.writestr(n, data)
    return out.getvalue()


def _message(frm, to, subject="Compte rendu", body="Bonjour,\nci-joint le compte rendu.\n", xdm=None, headers=()):
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = ", ".join(to) if isinstance(to, (list, tuple)) else to
    msg["Subject"] = subject
    msg["Message-ID"] = "<%s@client.test>" % harness.uid(12)
    for k, v in headers:
        msg[k] = v
    msg.set_content(body)
    if xdm is not None:
        msg.add_attachment(xdm, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    return msg


def _inbox(m, token, user, folder="INBOX"):
    """(uid, raw message, flags) of every message of a folder."""
    c = m.imap(token, user)
    try:
        typ, _ = c.select(folder)
        assert typ == "OK"
        typ, data = c.uid("SEARCH", None, "ALL")
        out = []
        for u in data[0].split():
            typ, d = c.uid("FETCH", u, "(FLAGS BODY.PEEK[])")
            assert isinstance(d[0], tuple), (u, d)
            out.append((int(u), d[0][1], d[0][0].decode()))
        return out
    finally:
        c.logout()


def _raw(port, lines, tls_ctx=None, cert=None):
    """Talk raw SMTP: a list of (line to send or None, expected reply prefix); STARTTLS handled."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb")

    def reply():
        last = b""
        while True:
            line = f.readline()
            assert line, "connection closed"
            last = line
            if line[3:4] != b"-":
                return last.decode().rstrip()

    got = [reply()]
    for send, expect in lines:
        if send == "STARTTLS":
            s.sendall(b"STARTTLS\r\n")
            got.append(reply())
            ctx = tls_ctx
            s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
            f = s.makefile("rb")
            continue
        if send is not None:
            s.sendall(send if isinstance(send, bytes) else (send + "\r\n").encode())
        if expect is not None:
            r = reply()
            got.append(r)
            assert r.startswith(expect), "sent %r: expected %s, got %r (all: %r)" % (
                harness.short(send, 80), expect, r, got)
    s.close()
    return got


# ---- tests --------------------------------------------------------------------------------------


def test_mss_submission_imap_roundtrip(ctx):
    """A professional sends with an XDM attachment over submission; the recipient reads it with
    imaplib: SELECT, SEARCH, FETCH (ENVELOPE, BODYSTRUCTURE, sections), STORE, COPY, EXPUNGE, Sent."""
    m = _mss(ctx)
    cda = _cda()
    msg = _message(m.a, m.b, "XDM/1.0/DDM+lettre TEST Jean 19800101", xdm=_xdm(cda),
                   headers=[("X-MSS-CODECDA", "11490-0"), ("X-MSS-INS", "O")])
    with m.smtp(m.tok_a, m.a) as s:
        refused = s.send_message(msg)
        assert refused == {}
    c = m.imap(m.tok_b, m.b)
    typ, data = c.select("INBOX")
    assert typ == "OK" and int(data[0]) >= 1
    typ, data = c.search(None, "SUBJECT", "DDM+lettre")
    seq = data[0].split()[-1]
    typ, data = c.fetch(seq, "(UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK"
    meta = data[0][0].decode()
    assert "\\Seen" not in meta, meta
    assert '"application" "zip"' in meta.lower() or '"APPLICATION" "ZIP"' in meta, meta
    assert "dr.a" in meta and "DDM+lettre" in meta, meta
    assert b"Subject: XDM/1.0/DDM+lettre" in data[0][1]
    typ, data = c.fetch(seq, "(BODY[2])")
    part = base64.b64decode(data[0][1])
    with zipfile.ZipFile(io.BytesIO(part)) as z:
        assert z.read("IHE_XDM/SUBSET01/DOC0001.XML") == cda
    typ, data = c.fetch(seq, "(FLAGS)")
    assert "\\Seen" in data[0].decode(), data
    typ, data = c.store(seq, "+FLAGS", "(\\Flagged)")
    assert "\\Flagged" in data[0].decode()
    def trash_messages():
        typ, data = c.status("Trash", "(MESSAGES UIDNEXT UNSEEN)")
        assert typ == "OK", data
        found = re.search(rb"MESSAGES (\d+)", data[0])
        assert found and b"UIDNEXT" in data[0] and b"UNSEEN" in data[0], data
        return int(found.group(1))
    before = trash_messages()
    typ, _ = c.copy(seq, "Trash")
    assert typ == "OK"
    assert trash_messages() == before + 1
    c.store(seq, "+FLAGS", "(\\Deleted)")
    typ, data = c.expunge()
    assert typ == "OK" and data[0] == seq, data
    # The copy in Trash shares the stored body: expunging the original must not take it away.
    c.select("Trash")
    typ, data = c.search(None, "SUBJECT", "DDM+lettre")
    typ, data = c.fetch(data[0].split()[-1], "(BODY.PEEK[])")
    assert b"XDM/1.0/DDM+lettre" in data[0][1]
    typ, data = c.list()
    names = b" ".join(data)
    assert b"INBOX" in names and b"Sent" in names and b"Trash" in names
    c.logout()
    sent = _inbox(m, m.tok_a, m.a, "Sent")
    assert any(b"DDM+lettre" in raw for _, raw, _ in sent)


def test_mss_starttls_first(ctx):
    """No mail transaction, no AUTH, no IMAP LOGIN in clear; STARTTLS drops pipelined input."""
    m = _mss(ctx)
    got = _raw(m.ports["submission"], [("EHLO x", "250"), ("MAIL FROM:<%s>" % m.a, "530 5.7.0"),
                                       ("AUTH PLAIN AGF", "530 5.7.0"), ("QUIT", "221")])
    assert got[0].startswith("220")
    s = smtplib.SMTP("127.0.0.1", m.ports["submission"], timeout=30)
    code, text = s.ehlo("x")
    assert b"STARTTLS" in text and b"AUTH" not in text
    s.starttls(context=m.ssl())
    code, text = s.ehlo("x")
    assert b"AUTH OAUTHBEARER XOAUTH2" in text and b"STARTTLS" not in text
    s.quit()
    c = imaplib.IMAP4("127.0.0.1", m.ports["imap"], timeout=30)
    assert "LOGINDISABLED" in c.capabilities
    try:
        c.login(m.b, "whatever")
        raise AssertionError("LOGIN in clear accepted")
    except imaplib.IMAP4.error as e:
        assert "STARTTLS" in str(e) or "PRIVACY" in str(e)
    c.shutdown()


def test_mss_auth_refusals(ctx):
    """A bad token, another professional's mailbox, a password when passwords are off."""
    m = _mss(ctx)
    s = m.smtp()
    try:
        s.auth("XOAUTH2", lambda challenge=None: "user=%s\x01auth=Bearer %s\x01\x01" % (m.a, "x.y.z"),
               initial_response_ok=True)
        raise AssertionError("bad token accepted")
    except smtplib.SMTPAuthenticationError as e:
        assert e.smtp_code == 535
    s.close()
    s = m.smtp()
    try:
        s.auth("XOAUTH2", lambda challenge=None: "user=%s\x01auth=Bearer %s\x01\x01" % (m.a, m.tok_b),
               initial_response_ok=True)
        raise AssertionError("B logged into A's mailbox")
    except smtplib.SMTPAuthenticationError as e:
        assert e.smtp_code == 535
    s.close()
    c = imaplib.IMAP4("127.0.0.1", m.ports["imap"], timeout=30)
    c.starttls(ssl_context=m.ssl())
    try:
        c.login(m.b, "password")
        raise AssertionError("LOGIN accepted without mss_allow_password")
    except imaplib.IMAP4.error:
        pass
    c.shutdown()
    def refusals():
        audit = str(m.admin.get("/fhir/AuditEvent?_count=200").json)
        return ("invalid token" in audit and "MSSMailbox/" + m.a in audit and "not the caller" in audit) or audit[-3000:]
    wait_for(lambda: refusals() is True, "the refused logins in the audit trail: %s" % refusals())


def test_mss_smtp_refusals(ctx):
    """Unknown recipient, outside the trust space, sending as someone else, over SIZE, over-long
    line, bare LF, malformed MIME, XDM traversal and bomb: the right code, nothing stored."""
    m = _mss(ctx)
    before = len(_inbox(m, m.tok_b, m.b))
    with m.smtp(m.tok_a, m.a) as s:
        code, text = s.mail("<%s>" % m.a)
        assert code == 250
        code, text = s.rcpt("<nobody@%s>" % DOMAIN)
        assert code == 550 and text.startswith(b"5.1.1"), (code, text)
        code, text = s.rcpt("<someone@gmail.com>")
        assert code == 550 and text.startswith(b"5.7.1") and b"trust space" in text, (code, text)
        s.rset()
        code, text = s.mail("<%s>" % m.b)
        assert code == 553, (code, text)
        code, text = s.mail("<%s>" % m.a, ["SIZE=999999999999"])
        assert code == 552, (code, text)
        code, text = s.docmd("NOOP " + "x" * 20000)
        assert code == 500 and b"5.5.2" in text, (code, text)
        s.rset()

        def data(raw, expect):
            s.mail("<%s>" % m.a)
            assert s.rcpt("<%s>" % m.b)[0] == 250
            code, text = s.docmd("DATA")
            assert code == 354
            s.send(raw + b"\r\n.\r\n")
            code, text = s.getreply()
            assert code == expect[0] and text.startswith(expect[1].encode()), (raw[:60], code, text)

        data(b"From: <%s>\r\nTo: <%s>\r\nSubject: bare\r\n\r\nline one\nline two" % (m.a.encode(), m.b.encode()),
             (550, "5.6.0"))
        data(b"From: <%s>\r\nSubject: mime\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\nno boundary"
             % m.a.encode(), (554, "5.6.0"))
        data(b"To: <%s>\r\nSubject: no from\r\n\r\nhello" % m.b.encode(), (554, "5.6.0"))
        traversal = _xdm(_cda(), extra=[("../../etc/passwd", b"x")])
        data(_message(m.a, m.b, "traversal", xdm=traversal).as_bytes().replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n"),
             (554, "5.6.0"))
        bomb = io.BytesIO()
        with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("IHE_XDM/SUBSET01/METADATA.XML", b"<x/>")
            z.writestr("IHE_XDM/SUBSET01/BOMB.XML", b"\0" * (60 << 20))
        data(_message(m.a, m.b, "bomb", xdm=bomb.getvalue()).as_bytes().replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n"),
             (554, "5.6.0"))
        hash_bad = _xdm(_cda(), sha1="0" * 40)
        data(_message(m.a, m.b, "hash", xdm=hash_bad).as_bytes().replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n"),
             (554, "5.6.0"))
    after = _inbox(m, m.tok_b, m.b)
    assert len(after) == before, "a refused message was stored"


def test_mss_xdm_budget_per_message(ctx):
    """IHE XDM packages each within their own limits (20 MiB an entry, 50 MiB a package) but many
    in one message: read one at a time, and refused (554 5.6.0, nothing stored) once what they
    inflate to together passes the message's budget (100 MiB); five of them (90 MiB) still pass."""
    m = _mss(ctx)
    block = 1 << 20  # 18 MiB that deflate about 110 to 1 (under the 200 to 1 limit of an entry)
    doc = b"".join(os.urandom(8192) + b"\0" * (block - 8192) for _ in range(18))
    pkg = _xdm(doc)

    def message(n, subject):
        msg = _message(m.a, m.b, subject, xdm=pkg)
        for i in range(n - 1):
            msg.add_attachment(pkg, maintype="application", subtype="zip", filename="IHE_XDM%d.ZIP" % i)
        return msg

    before = len(_inbox(m, m.tok_b, m.b))
    with m.smtp(m.tok_a, m.a) as s:
        assert s.send_message(message(5, "five packages")) == {}
        try:
            s.send_message(message(6, "six packages"))
            raise AssertionError("six packages of 18 MiB each were accepted")
        except smtplib.SMTPDataError as e:
            assert e.smtp_code == 554 and b"5.6.0" in e.smtp_error and b"in all" in e.smtp_error, e
    inbox = _inbox(m, m.tok_b, m.b)
    assert len(inbox) == before + 1 and b"five packages" in inbox[-1][1]
    # The HTTP API reads them the same way: every document listed, the one asked for served.
    base = "/mss/v1/mailboxes/%s/folders/INBOX/messages/%d/documents" % (m.b, inbox[-1][0])
    client_b = m.srv.client(m.tok_b)
    assert len(client_b.get(base, validate=False).json["documents"]) == 5
    assert client_b.get(base + "/5", validate=False).body == doc


def test_mss_citizen_rule(ctx):
    """A patient answers only a professional who wrote first, until X-MSS-MES: FIN; an
    INVISIBLE_PATIENT document never reaches the patient's mailbox."""
    m = _mss(ctx)
    with m.smtp(m.tok_patient, m.citizen) as s:
        s.mail("<%s>" % m.citizen)
        code, text = s.rcpt("<%s>" % m.b)
        assert code == 550 and b"5.7.1" in text, (code, text)
    with m.smtp(m.tok_b, m.b) as s:
        assert s.send_message(_message(m.b, m.citizen, "Vos resultats")) == {}
        s.mail("<%s>" % m.b)
        assert s.rcpt("<%s>" % m.citizen)[0] == 250
        code, _ = s.data(_message(m.b, m.citizen, "Secret", xdm=_xdm(_cda(m.ins), m.ins, "INVISIBLE_PATIENT")).as_bytes())
        assert code == 550
    assert any(b"Vos r" in raw for _, raw, _ in _inbox(m, m.tok_patient, m.citizen))
    assert not any(b"Secret" in raw for _, raw, _ in _inbox(m, m.tok_patient, m.citizen))
    with m.smtp(m.tok_patient, m.citizen) as s:
        assert s.send_message(_message(m.citizen, m.b, "Merci docteur")) == {}
        s.mail("<%s>" % m.citizen)
        code, _ = s.rcpt("<%s>" % m.a)
        assert code == 550, "wrote to a professional who never wrote first"
        s.rset()
        s.mail("<%s>" % m.citizen)
        code, _ = s.rcpt("<dr.x@patient.%s>" % DOMAIN)
        assert code == 550
    with m.smtp(m.tok_b, m.b) as s:
        assert s.send_message(_message(m.b, m.citizen, "Fin", headers=[("X-MSS-MES", "FIN")])) == {}
    with m.smtp(m.tok_patient, m.citizen) as s:
        s.mail("<%s>" % m.citizen)
        code, _ = s.rcpt("<%s>" % m.b)
        assert code == 550, "answered after X-MSS-MES: FIN"


def test_mss_mdn(ctx):
    """Disposition-Notification-To: the sender receives an RFC 8098 MDN, processed; NOTIFY=SUCCESS:
    an RFC 3464 DSN, delivered."""
    m = _mss(ctx)
    with m.smtp(m.tok_a, m.a) as s:
        s.send_message(_message(m.a, m.org, "avec accusé", headers=[("Disposition-Notification-To", m.a)]))
        s.send_message(_message(m.a, m.b, "avec DSN"), mail_options=["RET=HDRS", "ENVID=env-42"],
                       rcpt_options=["NOTIFY=SUCCESS,FAILURE"])

    def dsn():
        return any(b"Action: delivered" in raw and b"Original-Envelope-Id: env-42" in raw and m.b.encode() in raw
                   for _, raw, _ in _inbox(m, m.tok_a, m.a))
    wait_for(dsn, "the success DSN")

    def mdn():
        for _, raw, _ in _inbox(m, m.tok_a, m.a):
            if b"disposition-notification" in raw and b"MDN-sent-automatically; processed" in raw:
                return raw
    wait_for(mdn, "the MDN")


def test_mss_idle_and_curl(ctx):
    """IMAP IDLE sees a message curl sends (smtp:// with --oauth2-bearer); curl reads it (imap://)."""
    m = _mss(ctx)
    c = m.imap(m.tok_b, m.b)
    c.select("INBOX")
    c.send(b"I1 IDLE\r\n")
    assert c.readline().startswith(b"+")
    path = os.path.join(m.data, "curl-msg.eml")
    with open(path, "wb") as f:
        f.write(_message(m.a, m.b, "par curl").as_bytes())
    ca = os.path.join(m.data, "pki", "ca.pem")
    p = subprocess.run(["curl", "-v", "-sS", "--ssl-reqd", "--cacert", ca, "--url", "smtp://127.0.0.1:%d" % m.ports["submission"],
                        "--mail-from", m.a, "--mail-rcpt", m.b, "--login-options", "AUTH=XOAUTH2", "--user", m.a,
                        "--oauth2-bearer", m.tok_a, "--crlf", "--upload-file", path], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-3000:]
    line = c.readline()
    assert b"EXISTS" in line, line
    c.send(b"DONE\r\n")
    assert c.readline().startswith(b"I1 OK")
    c.logout()
    p = subprocess.run(["curl", "-sS", "--ssl-reqd", "--cacert", ca, "--login-options", "AUTH=XOAUTH2", "--user", m.b,
                        "--oauth2-bearer", m.tok_b, "imap://127.0.0.1:%d/INBOX" % m.ports["imap"], "-X",
                        "SEARCH SUBJECT \"par curl\""], capture_output=True, timeout=60)
    assert p.returncode == 0 and b"SEARCH" in p.stdout, (p.stdout, p.stderr)


def _sql(m, sql):
    """Run one write statement on m's database (what no command does: closing a mailbox...)."""
    if m.db.startswith("sqlite:"):
        import sqlite3
        c = sqlite3.connect(m.db[len("sqlite:"):], timeout=30)
        try:
            c.execute(sql)
            c.commit()
        finally:
            c.close()
    else:
        m.env.psql(sql, url=m.db)


def test_mss_imap_login_lapses(ctx):
    """The login is checked again at every command and while idling: once the token has expired,
    or the mailbox is closed, the session ends with a BYE (it used to go on until LOGOUT)."""
    m = _mss(ctx)
    ttl = 4
    short = m.env.token(m.data, PRO_B, "professional", profession="10", structure="s-22", ttl=ttl)
    issued = time.time()
    c = m.imap(short, m.b)
    assert c.select("INBOX")[0] == "OK" and c.noop()[0] == "OK"
    idle = m.imap(short, m.b)
    idle.send(b"I1 IDLE\r\n")
    assert idle.readline().startswith(b"+")
    time.sleep(max(0.0, issued + ttl + 1 - time.time()))  # past the token's expiry
    try:
        c.noop()
        raise AssertionError("a command was obeyed after the token expired")
    except imaplib.IMAP4.abort as e:
        assert "expired" in str(e), e
    while True:  # while idling, the BYE comes unasked
        line = idle.readline()
        assert line, "the idling session closed without a BYE"
        if line.startswith(b"* BYE"):
            assert b"expired" in line, line
            break
    # A mailbox closed while a session uses it.
    closing = m.mailbox("PER", PRO_B, "dr.closing@" + DOMAIN)
    c = m.imap(m.tok_b, closing)
    assert c.select("INBOX")[0] == "OK"
    _sql(m, "UPDATE mss_mailbox SET active = 0 WHERE address = '%s'" % closing)
    try:
        c.noop()
        raise AssertionError("a command was obeyed on a closed mailbox")
    except imaplib.IMAP4.abort as e:
        assert "closed" in str(e), e


def test_mss_submission_login_lapses(ctx):
    """Submission checks the login again at each message: once the token has expired, or the mailbox
    is closed, MAIL FROM is refused with 530 (the session used to keep sending)."""
    m = _mss(ctx)
    ttl = 4
    short = m.env.token(m.data, PRO_B, "professional", profession="10", structure="s-22", ttl=ttl)
    issued = time.time()
    s = m.smtp(short, m.b)
    s.sendmail(m.b, [m.a], b"From: %s\r\nTo: %s\r\nSubject: avant\r\n\r\nencore valable\r\n" % (m.b.encode(), m.a.encode()))
    time.sleep(max(0.0, issued + ttl + 1 - time.time()))  # past the token's expiry
    code, msg = s.mail(m.b)
    assert code == 530 and b"expired" in msg, (code, msg)
    s.quit()
    closing = m.mailbox("PER", PRO_B, "dr.closing-smtp@" + DOMAIN)
    s = m.smtp(m.tok_b, closing)
    _sql(m, "UPDATE mss_mailbox SET active = 0 WHERE address = '%s'" % closing)
    code, msg = s.mail(closing)
    assert code == 530 and b"closed" in msg, (code, msg)
    s.quit()


def test_mss_store_failures_answer_once(ctx):
    """When the store refuses a write (an SQLite trigger stands in for a failing disk), STORE
    answers NO and the session's view keeps the other messages' flags (the message after the one
    that failed used to lose its own), and CLOSE answers one NO and keeps the folder selected (it
    used to send a NO, then an OK as well)."""
    m = _mss(ctx)
    if not m.db.startswith("sqlite:"):
        raise Skip("the failure is injected with an SQLite trigger")
    box = m.mailbox("PER", PRO_B, "dr.failing@" + DOMAIN)
    c = m.imap(m.tok_b, box)
    for i in range(2):
        assert c.append("INBOX", None, None, _message(box, box, "f%d" % i).as_bytes())[0] == "OK"
    assert c.select("INBOX")[0] == "OK"
    assert c.store("2", "+FLAGS", "(\\Flagged)")[0] == "OK"
    _sql(m, "CREATE TRIGGER socle_test_no_deleted BEFORE UPDATE ON mss_message"
            " WHEN instr(NEW.flags, 'Deleted') > 0 BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
    try:
        typ, data = c.store("1", "+FLAGS", "(\\Deleted)")
        assert typ == "NO", (typ, data)
    finally:
        _sql(m, "DROP TRIGGER socle_test_no_deleted")
    typ, data = c.fetch("2", "(FLAGS)")
    assert "\\Flagged" in data[0].decode(), data
    assert c.store("1", "+FLAGS", "(\\Deleted)")[0] == "OK"
    _sql(m, "CREATE TRIGGER socle_test_no_delete BEFORE DELETE ON mss_message"
            " WHEN OLD.folder_id IN (SELECT id FROM mss_folder WHERE address = '%s')"
            " BEGIN SELECT RAISE(ABORT, 'injected failure'); END" % box)
    try:
        c.send(b"C1 CLOSE\r\nN1 NOOP\r\n")
        tagged = []
        while not tagged or not tagged[-1].startswith(b"N1 "):
            line = c.readline()
            assert line, "connection closed"
            if not line.startswith(b"*"):
                tagged.append(line.strip())
        assert len(tagged) == 2 and tagged[0].startswith(b"C1 NO") and tagged[1].startswith(b"N1 OK"), tagged
    finally:
        _sql(m, "DROP TRIGGER socle_test_no_delete")
    typ, data = c.fetch("1", "(FLAGS)")  # still selected
    assert typ == "OK" and "\\Deleted" in data[0].decode(), data
    c.logout()


def test_mss_idle_done_read_ahead(ctx):
    """DONE right behind IDLE, as two TLS records in one TCP segment, ends the IDLE at once: the server
    reads records ahead, and must see those OpenSSL holds but has not decrypted yet."""
    m = _mss(ctx)
    c = m.imap(m.tok_b, m.b)
    c.select("INBOX")
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    c.send(b"I2 IDLE\r\n")
    c.send(b"DONE\r\n")
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
    c.sock.settimeout(10)
    assert c.readline().startswith(b"+")
    line = c.readline()
    assert line.startswith(b"I2 OK"), line
    c.logout()


def _segments(m):
    """The bytes of every segment file of the message store (SQLite: mss-bodies/ beside the database)."""
    d = os.path.join(m.data, "mss-bodies")
    out = b""
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            out += f.read()
    return out


def _expunge_all(m, token, user, folder):
    c = m.imap(token, user)
    try:
        assert c.select(folder)[0] == "OK"
        typ, data = c.uid("SEARCH", None, "ALL")
        for u in data[0].split():
            assert c.uid("STORE", u, "+FLAGS", "(\\Deleted)")[0] == "OK"
        assert c.expunge()[0] == "OK"
    finally:
        c.logout()


def test_mss_bodies_in_segments(ctx):
    """On SQLite a delivered message's bytes go to a segment file (written once, not WAL then
    database), and once no folder holds the message any more its bytes are gone from the disk."""
    m = _mss(ctx)
    if not m.db.startswith("sqlite:"):
        raise Skip("segment files are SQLite's (PostgreSQL keeps bodies in its table)")
    a = m.mailbox("PER", PRO_A, "dr.segments.a@" + DOMAIN)
    b = m.mailbox("PER", PRO_B, "dr.segments.b@" + DOMAIN)
    marker = "segment-marker-%s" % os.urandom(6).hex()
    with m.smtp(m.tok_a, a) as s:
        s.send_message(_message(a, b, marker))
    assert marker.encode() in _segments(m)
    assert any(marker.encode() in raw for _, raw, _ in _inbox(m, m.tok_b, b))
    # The recipient deletes it: the sender's Sent still holds the same stored body.
    _expunge_all(m, m.tok_b, b, "INBOX")
    assert marker.encode() in _segments(m)
    assert any(marker.encode() in raw for _, raw, _ in _inbox(m, m.tok_a, a, "Sent"))
    # The sender too: no folder holds it, its range of the segment file is freed (zeros).
    _expunge_all(m, m.tok_a, a, "Sent")
    assert marker.encode() not in _segments(m)
    # The store still reads and writes after that.
    with m.smtp(m.tok_a, a) as s:
        s.send_message(_message(a, b, marker + "-after"))
    assert any((marker + "-after").encode() in raw for _, raw, _ in _inbox(m, m.tok_b, b))


def _sql_rows(m, sql):
    """The rows of a query on m's SQLite database."""
    import sqlite3
    c = sqlite3.connect("file:%s?mode=ro" % m.db[len("sqlite:"):], uri=True, timeout=30)
    try:
        return c.execute(sql).fetchall()
    finally:
        c.close()


def test_mss_relay_queue_shares_the_body(ctx):
    """A message for several recipients of other operators is stored once: the queue entries point
    at the body the sender's Sent holds (they used to hold a copy each: 100 recipients of a 25 MiB
    message, 2.5 GB in one transaction). The body outlives Sent while the queue holds it, and goes
    (bytes cut out of the segment file) once the last entry has left the queue."""
    m = _mss(ctx)
    if not m.db.startswith("sqlite:"):
        raise Skip("reads the SQLite tables and segment files")
    sender = m.mailbox("PER", PRO_A, "dr.queue.%s@%s" % (harness.uid(4).lower(), DOMAIN))
    marker = "queue-marker-%s" % os.urandom(6).hex()
    rcpts = ["x%d@%s" % (i, PEER) for i in range(3)]
    with m.smtp(m.tok_a, sender) as s:
        assert s.send_message(_message(sender, rcpts, marker)) == {}
    rows = _sql_rows(m, "SELECT COUNT(*), COUNT(DISTINCT body_id), SUM(length(message)), MIN(body_id) FROM mss_queue"
                        " WHERE sender = '%s'" % sender)
    assert rows[0][:3] == (3, 1, 0), rows
    body = rows[0][3]
    _expunge_all(m, m.tok_a, sender, "Sent")
    assert _sql_rows(m, "SELECT COUNT(*) FROM mss_body WHERE id = %d" % body) == [(1,)]
    assert marker.encode() in _segments(m)
    # The last attempt for each entry (the peer is unreachable): DSNs, and the body goes.
    _sql(m, "UPDATE mss_queue SET attempts = 100, next_ms = 0 WHERE sender = '%s'" % sender)
    flags = list(m.srv.flags)
    _restart_as_before(m, flags)  # the relay worker looks at the queue at once

    def gone():
        return _sql_rows(m, "SELECT COUNT(*) FROM mss_queue WHERE sender = '%s'" % sender) == [(0,)]
    wait_for(gone, "the queue entries' last attempts", timeout=60)
    assert _sql_rows(m, "SELECT COUNT(*) FROM mss_body WHERE id = %d" % body) == [(0,)]
    assert marker.encode() not in _segments(m)


def test_mss_postmaster(ctx):
    """RFC 5321 section 4.5.1: <postmaster> without a domain is postmaster@ the operator's domain;
    with mss_postmaster, mail for it reaches that mailbox when postmaster@ is not a mailbox itself."""
    m = _mss(ctx)
    desk = m.mailbox("PER", PRO_B, "dr.postmaster.desk@" + DOMAIN)
    with m.smtp(m.tok_a, m.a) as s:
        s.mail(m.a)
        code, msg = s.rcpt("postmaster")
        assert code == 550 and b"5.1.1" in msg, (code, msg)
    m.srv.stop()
    m.srv.flags += ["--mss-postmaster", desk]
    try:
        m.srv.start()
        subject = "pour le postmaster " + harness.uid(6)
        with m.smtp(m.tok_a, m.a) as s:
            for rcpt in ("postmaster", "PostMaster@" + DOMAIN.upper()):
                s.mail(m.a)
                code, msg = s.rcpt(rcpt)
                assert code == 250, (rcpt, code, msg)
                code, msg = s.data(_message(m.a, "postmaster@" + DOMAIN, subject).as_bytes().replace(b"\n", b"\r\n"))
                assert code == 250, (code, msg)
        got = [raw for _, raw, _ in _inbox(m, m.tok_b, desk) if subject.encode() in raw]
        assert len(got) == 2, len(got)
    finally:
        m.srv.stop()
        m.srv.flags = m.srv.flags[:-2]
        m.srv.start()


def test_mss_imap_rename(ctx):
    """IMAP RENAME (RFC 3501 section 6.3.5): a folder and the folders below it take the new name with
    their messages and UIDVALIDITY; the standard folders, missing or taken names are refused."""
    m = _mss(ctx)
    box = m.mailbox("PER", PRO_B, "dr.rename@" + DOMAIN)
    c = m.imap(m.tok_b, box)
    try:
        tag = harness.uid(4)
        old, new = "Projets-" + tag, "Dossiers-" + tag
        assert c.create(old)[0] == "OK" and c.create(old + "/2026")[0] == "OK"
        raw = _message(m.a, box, "a classer " + tag).as_bytes().replace(b"\n", b"\r\n")
        assert c.append(old, None, None, raw)[0] == "OK"
        assert c.append(old + "/2026", None, None, raw)[0] == "OK"
        typ, data = c.status(old, "(UIDVALIDITY)")
        validity = re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1)
        typ, data = c.rename(old, new)
        assert typ == "OK", data
        typ, data = c.list()
        names = b"\n".join(data)
        assert ('"%s"' % new).encode() in names and ('"%s/2026"' % new).encode() in names, names
        assert ('"%s"' % old).encode() not in names and ('"%s/2026"' % old).encode() not in names, names
        typ, data = c.status(new, "(MESSAGES UIDVALIDITY)")
        assert b"MESSAGES 1" in data[0] and b"UIDVALIDITY " + validity in data[0], data
        typ, data = c.select(new + "/2026")
        assert typ == "OK" and data[0] == b"1", data
        typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert ("a classer " + tag).encode() in data[0][1], data
        c.close()
        assert c.create(old)[0] == "OK"  # the old name is free again
        for args, code in (((old, new), b"ALREADYEXISTS"), (("Absent-" + tag, "X-" + tag), b"NONEXISTENT"),
                           (("INBOX", "Boite-" + tag), b"CANNOT"), ((new, "Trash"), b"CANNOT"),
                           ((new, new + "/dessous"), b"CANNOT")):
            typ, data = c.rename(*args)
            assert typ == "NO" and code in data[0], (args, typ, data)
        try:
            c._simple_command("RENAME", new)
            raise AssertionError("RENAME with one name was accepted")
        except imaplib.IMAP4.error as e:
            assert "RENAME takes two folder names" in str(e), e
    finally:
        c.logout()


def test_mss_imap_move(ctx):
    """IMAP MOVE (RFC 6851): the messages reach the target folder and leave the source in one step,
    the client hearing the EXPUNGEs before the OK; not from a folder opened with EXAMINE."""
    m = _mss(ctx)
    box = m.mailbox("PER", PRO_B, "dr.move@" + DOMAIN)
    c = m.imap(m.tok_b, box)
    try:
        typ, data = c.capability()
        assert b"MOVE" in data[0].split(), data
        tag = harness.uid(4)
        target = "Classe-" + tag
        assert c.create(target)[0] == "OK"
        for i in range(3):
            raw = _message(m.a, box, "deplace %d %s" % (i, tag)).as_bytes().replace(b"\n", b"\r\n")
            assert c.append("INBOX", None, None, raw)[0] == "OK"
        typ, data = c.select("INBOX")
        before = int(data[0])
        typ, data = c.uid("SEARCH", None, "SUBJECT", '"deplace 1 %s"' % tag)
        uid1 = data[0].split()[0]
        typ, data = c.uid("MOVE", uid1, target)
        assert typ == "OK", data
        expunged = c.untagged_responses.pop("EXPUNGE", [])
        assert len(expunged) == 1, expunged
        typ, data = c.uid("SEARCH", None, "SUBJECT", '"deplace 1 %s"' % tag)
        assert data[0] == b"", data
        typ, data = c.select("INBOX")
        assert int(data[0]) == before - 1, data
        typ, data = c.status(target, "(MESSAGES)")
        assert b"MESSAGES 1" in data[0], data
        c.select(target)
        typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert ("deplace 1 " + tag).encode() in data[0][1], data
        # Sequence numbers, then a missing folder, then a read-only folder.
        c.select("INBOX")
        typ, data = c.search(None, "SUBJECT", '"deplace 2 %s"' % tag)
        typ, data = c._simple_command("MOVE", data[0].split()[0].decode(), target)
        assert typ == "OK", data
        typ, data = c.uid("MOVE", "1:*", "Absent-" + tag)
        assert typ == "NO" and b"TRYCREATE" in data[0], data
        c.select("INBOX", readonly=True)  # EXAMINE
        typ, data = c.uid("MOVE", "1:*", target)
        assert typ == "NO" and b"READ-ONLY" in data[0], data
        typ, data = c.status(target, "(MESSAGES)")
        assert b"MESSAGES 2" in data[0], data
        # UIDPLUS (RFC 4315): APPENDUID, COPYUID, UID EXPUNGE.
        assert b"UIDPLUS" in c.capability()[1][0].split()
        typ, data = c.status(target, "(UIDVALIDITY UIDNEXT)")
        validity = re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1)
        uidnext = int(re.search(rb"UIDNEXT (\d+)", data[0]).group(1))
        raw = _message(m.a, box, "uidplus %s" % tag).as_bytes().replace(b"\n", b"\r\n")
        typ, data = c.append(target, None, None, raw)
        assert typ == "OK" and data[0].startswith(b"[APPENDUID %s %d]" % (validity, uidnext)), data
        c.select(target)
        c.untagged_responses.pop("COPYUID", None)
        typ, data = c.uid("COPY", "1:*", target)
        assert typ == "OK", data
        code = c.untagged_responses.pop("COPYUID", [b""])[-1]  # imaplib files the tagged OK's code there
        found = re.fullmatch(rb"(\d+) ([0-9:,]+) ([0-9:,]+)", code)
        assert found and found.group(1) == validity, code
        assert found.group(3) == b"%d:%d" % (uidnext + 1, uidnext + 3), code
        c.noop()  # the copies into the selected folder come into view
        typ, data = c.uid("SEARCH", None, "ALL")
        uids = data[0].split()
        assert len(uids) == 6, uids
        c.uid("STORE", b",".join(uids[:2]), "+FLAGS", "(\\Deleted)")
        typ, data = c.uid("EXPUNGE", uids[0])
        assert typ == "OK", data
        typ, data = c.uid("SEARCH", None, "ALL")
        assert data[0].split() == uids[1:], data  # the other \Deleted one stays
        c.untagged_responses.pop("COPYUID", None)
        typ, data = c.uid("MOVE", uids[-1], "INBOX")
        code = c.untagged_responses.pop("COPYUID", [b""])[-1]
        assert typ == "OK" and re.fullmatch(rb"\d+ %s \d+" % uids[-1], code), (data, code)
    finally:
        c.logout()


def test_mss_kill9_keeps_accepted(ctx):
    """What was answered 250 is there after kill -9."""
    m = _mss(ctx)
    with m.smtp(m.tok_a, m.a) as s:
        s.send_message(_message(m.a, m.b, "avant le crash"))
    m.srv.kill9()
    m.srv.start()
    assert any(b"avant le crash" in raw for _, raw, _ in _inbox(m, m.tok_b, m.b))


def test_mss_mailbox_owner_checks(ctx):
    """A mailbox needs its owner: in the directory, or a patient with a qualified INS."""
    m = _mss(ctx)
    p = m.cli("mss", "mailbox", "add", "--kind", "PER", "--owner", "819999999999", "--address", "ghost@" + DOMAIN,
              check=False)
    assert p.returncode != 0 and "directory" in p.stderr
    pid, ins = m.patient(qualified=False)
    p = m.cli("mss", "mailbox", "add", "--kind", "CIT", "--owner", ins, check=False)
    assert p.returncode != 0 and "qualified" in p.stderr
    p = m.cli("mss", "mailbox", "add", "--kind", "PER", "--owner", PRO_A, "--address", "x@elsewhere.test", check=False)
    assert p.returncode != 0
    p = m.cli("mss", "mailbox", "add", "--kind", "PER", "--owner", PRO_A, "--address", "dr.a@" + DOMAIN, check=False)
    assert p.returncode != 0 and "exists" in p.stderr
    listing = m.cli("mss", "mailbox", "list").stdout
    assert "dr.a@" + DOMAIN in listing and "CIT" in listing


def test_mss_relay_between_operators(ctx):
    """A second socle is another operator: mail goes both ways over mutual TLS; the relay
    listener refuses a peer without a trust-space certificate, and a relaying attempt."""
    m = _mss(ctx)
    env = ctx.env
    peer_data = env.new_data("mss-peer", pki=False)
    shutil.copytree(os.path.join(m.data, "pki"), os.path.join(peer_data, "pki"), dirs_exist_ok=True)
    for f in os.listdir(os.path.join(peer_data, "pki", "clients")):
        if f.startswith("operator-"):
            os.remove(os.path.join(peer_data, "pki", "clients", f))
    peer_db = env.new_db(peer_data)
    peer_ports = _ports()
    routes = "%s=127.0.0.1:%d" % (DOMAIN, m.ports["smtp"])
    # A first relay attempt refused for a passing reason is retried within the test's wait (the
    # default schedule waits 60 s; one make check under ASan missed "the answer" so).
    peer = env.server(peer_data, peer_db, _flags(peer_ports, PEER, ["--mss-routes", routes, "--mss-retry-s", "1"]),
                      name="mss-peer", ports=peer_ports)
    with open(os.path.join(peer_data, "mss-trust.txt"), "w") as f:
        f.write(DOMAIN + "\n" + PEER + "\n")
    admin = peer.client(env.token(peer_data, "peer-admin", "system", roles=["admin"]))
    admin.put("/fhir/Practitioner/810000000033", {"resourceType": "Practitioner", "id": "810000000033", "identifier": [
        {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810000000033"}]}, expect=(200, 201))
    env.cli("mss", "mailbox", "add", "--kind", "PER", "--owner", "810000000033", "--address", "dr.c@" + PEER,
            "--data", peer_data, "--db", peer_db, "--mss-domain", PEER)
    # Our side routes PEER to the peer's relay listener: restart with the route.
    m.srv.stop_ok()
    m.srv.flags += ["--mss-routes", "%s=127.0.0.1:%d;unreachable.test=127.0.0.1:1" % (PEER, peer_ports["smtp"]),
                    "--mss-retry-s", "1"]
    m.srv.start()
    m.write_trust((DOMAIN, PEER, "unreachable.test"))
    time.sleep(1.1)
    with m.smtp(m.tok_a, m.a) as s:
        assert s.send_message(_message(m.a, "dr.c@" + PEER, "vers le pair")) == {}
    tok_c = env.token(peer_data, "810000000033", "professional", profession="10")
    peer_mss = type("P", (), {})()
    peer_mss.imap = lambda token, user: Mss.imap(_PeerView(peer_ports, peer), token, user)
    wait_for(lambda: any(b"vers le pair" in raw for _, raw, _ in _inbox(peer_mss, tok_c, "dr.c@" + PEER)),
             "the message at the peer", timeout=30)
    # And back: the peer's professional writes to ours.
    pv = _PeerView(peer_ports, peer)
    with Mss.smtp(pv, tok_c, "dr.c@" + PEER) as s:
        assert s.send_message(_message("dr.c@" + PEER, m.b, "retour du pair")) == {}
    wait_for(lambda: any(b"retour du pair" in raw for _, raw, _ in _inbox(m, m.tok_b, m.b)), "the answer", timeout=30)
    # The DSN parameters travel with the message (RFC 3461 section 4): the peer, which speaks DSN,
    # returns the success notice with our ENVID and ORCPT.
    envid = "env-relay-" + harness.uid(4)
    with m.smtp(m.tok_a, m.a) as s:
        assert s.sendmail(m.a, ["dr.c@" + PEER], _message(m.a, "dr.c@" + PEER, "avec accuse du pair").as_bytes().replace(b"\n", b"\r\n"),
                          mail_options=["ENVID=" + envid],
                          rcpt_options=["NOTIFY=SUCCESS", "ORCPT=rfc822;Dr.C+2BDMP@" + PEER]) == {}

    def peer_dsn():
        return any(b"Action: delivered" in raw and ("Original-Envelope-Id: " + envid).encode() in raw
                   and ("Original-Recipient: rfc822;Dr.C+DMP@" + PEER).encode() in raw
                   and ("Reporting-MTA: dns; " + PEER).encode() in raw for _, raw, _ in _inbox(m, m.tok_a, m.a))
    wait_for(peer_dsn, "the peer's success DSN", timeout=30)
    # A peer operator that never answers: a DSN after the last retry.
    with m.smtp(m.tok_a, m.a) as s:
        assert s.send_message(_message(m.a, "x@unreachable.test", "perdu")) == {}

    def dsn():
        return any(b"delivery-status" in raw and b"x@unreachable.test" in raw and b"Action: failed" in raw
                   and b"Status: 5.4.7" in raw for _, raw, _ in _inbox(m, m.tok_a, m.a))
    wait_for(dsn, "the DSN (failed, 5.4.7: RFC 3464 2.3.3, a failure is permanent)", timeout=60)
    # The relay listener: no client certificate, then a relaying attempt with a good one.
    ctx_plain = ssl.create_default_context(cafile=os.path.join(m.data, "pki", "ca.pem"))
    _raw(m.ports["smtp"], [("EHLO peer", "250"), ("STARTTLS", None), ("EHLO peer", "250"),
                           ("MAIL FROM:<dr.c@%s>" % PEER, "530 5.7.0"), ("QUIT", "221")], tls_ctx=ctx_plain)
    ctx_cert = ssl.create_default_context(cafile=os.path.join(m.data, "pki", "ca.pem"))
    ctx_cert.load_cert_chain(os.path.join(peer_data, "pki", "clients", "operator-%s.pem" % PEER),
                             os.path.join(peer_data, "pki", "clients", "operator-%s.key" % PEER))
    _raw(m.ports["smtp"], [("EHLO peer", "250"), ("STARTTLS", None), ("EHLO peer", "250"),
                           ("MAIL FROM:<dr.c@%s>" % PEER, "250"), ("RCPT TO:<someone@gmail.com>", "550 5.7.1"),
                           ("RCPT TO:<nobody@%s>" % DOMAIN, "550 5.1.1"), ("QUIT", "221")], tls_ctx=ctx_cert)
    # Leave the trust space: the peer is refused.
    m.write_trust((DOMAIN,))
    time.sleep(1.2)
    _raw(m.ports["smtp"], [("EHLO peer", "250"), ("STARTTLS", None), ("EHLO peer", "250"),
                           ("MAIL FROM:<dr.c@%s>" % PEER, "550 5.7.1"), ("QUIT", "221")], tls_ctx=ctx_cert)
    m.write_trust((DOMAIN, PEER))
    peer.stop_ok()


class _PeerView:
    """Enough of an Mss for its smtp()/imap() helpers on the peer."""

    def __init__(self, ports, srv):
        self.ports = ports
        self.srv = srv

    def ssl(self):
        return self.srv.ssl_context()


def test_mss_http_api(ctx):
    """Software sends a CDA over HTTP: the operator builds the XDM package; the recipient's software
    lists the message's documents with their metadata and reads one; the published directory."""
    m = _mss(ctx)
    cda_path = os.path.join(harness.ROOT, "..", "shared", "conformance", "cda", "LDL-SES_2022.01.xml")
    with open(cda_path, "rb") as f:
        cda = f.read()
    client_a = m.srv.client(m.tok_a)
    subject = "XDM/1.0/DDM+lettre de liaison " + harness.uid(6)
    r = client_a.post("/mss/v1/messages", {"from": m.a, "to": [m.b], "subject": subject, "text": "Bonjour\n",
                                           "cda": base64.b64encode(cda).decode()}, expect=202, validate=False)
    c = m.imap(m.tok_b, m.b)
    c.select("INBOX")
    typ, data = c.uid("SEARCH", None, "SUBJECT", '"%s"' % subject.split(" ")[-1])
    uid = data[0].split()[-1].decode()
    typ, data = c.uid("FETCH", uid, "(BODY.PEEK[HEADER.FIELDS (X-MSS-CODECDA X-MSS-INS)])")
    assert b"X-MSS-CODECDA: 11490-0" in data[0][1], data  # the CDA's own ClinicalDocument/code
    c.logout()
    client_b = m.srv.client(m.tok_b)
    base = "/mss/v1/mailboxes/%s/folders/INBOX/messages/%s/documents" % (m.b, uid)
    docs = client_b.get(base, validate=False).json["documents"]
    assert len(docs) == 1 and docs[0]["mimeType"] == "text/xml" and docs[0]["type"]["code"], docs
    assert client_b.get(base + "/1", validate=False).body == cda
    client_b.get(base + "/2", expect=404)
    client_a.get(base, expect=403)
    client_a.post("/mss/v1/messages", {"from": m.a, "to": ["x@gmail.com"], "subject": "s", "text": "t"}, expect=422)
    client_a.post("/mss/v1/messages", {"from": m.b, "to": [m.a], "subject": "s", "text": "t"}, expect=403)
    client_a.post("/mss/v1/messages", {"from": m.a, "to": [m.b], "subject": "s", "text": "t", "cda": "bm90IHhtbA=="},
                  expect=422)
    client_a.request("POST", "/mss/v1/messages", body=b"{not json", headers={"Content-Type": "application/json"},
                     expect=400)
    listing = client_a.get("/mss/v1/annuaire", validate=False).body.decode()
    lines = listing.splitlines()
    assert lines[0].startswith("Type de BAL|Adresse BAL|")
    assert any(l.startswith("PER|" + m.a + "|") for l in lines) and any(l.startswith("ORG|" + m.org) for l in lines)
    assert m.ins not in listing, "a citizen mailbox was published"
    assert all(l.count("|") == lines[0].count("|") for l in lines[1:]), "column counts differ"
    m.srv.client(None).get("/mss/v1/annuaire", expect=401)


def test_mss_no_smuggling_out(ctx):
    """What leaves for another operator has CRLF line ends only: the HTTP API turns a bare CR of
    the text into a line end, refuses a line over 998 octets (RFC 5321 4.5.3.1.6) and a message
    over mss_max_message_bytes (as SMTP does); the relay never sends a message holding a bare CR
    or LF (a queued one gets a DSN instead)."""
    m = _mss(ctx)
    client_a = m.srv.client(m.tok_a)
    marker = harness.uid(6)
    client_a.post("/mss/v1/messages", {"from": m.a, "to": [m.b], "subject": "cr " + marker,
                                       "text": "line1\r.\rMAIL FROM:<x@y>\r\nend"}, expect=202, validate=False)
    raw = [raw for _, raw, _ in _inbox(m, m.tok_b, m.b) if marker.encode() in raw][0]
    assert re.search(rb"\r(?!\n)|(?<!\r)\n", raw) is None, raw
    assert b"\r\n.\r\nMAIL FROM:<x@y>\r\n" in raw, raw
    client_a.post("/mss/v1/messages", {"from": m.a, "to": [m.b], "subject": "998", "text": "x" * 998 + "\n"},
                  expect=202, validate=False)
    r = client_a.post("/mss/v1/messages", {"from": m.a, "to": [m.b], "subject": "999", "text": "ok\n" + "x" * 999},
                      expect=422, validate=False)
    assert "line 2" in r.body.decode(), r.body
    # A queued message holding a bare CR (written straight into the queue: nothing lets one in).
    smuggled = b"From: <%s>\r\nSubject: smuggled %s\r\n\r\nline1\r.\rMAIL FROM:<x@y>\r\n" % (m.a.encode(), marker.encode())
    blob = ("X'%s'" if m.db.startswith("sqlite:") else "'\\x%s'::bytea") % smuggled.hex()
    _sql(m, "INSERT INTO mss_queue (sender, recipient, domain, message, next_ms, created_ms) VALUES"
            " ('%s', 'x@%s', '%s', %s, 0, 0)" % (m.a, PEER, PEER, blob))
    flags = list(m.srv.flags)
    m.srv.stop_ok()
    m.srv.flags = flags + ["--mss-max-message-bytes", "20000"]
    try:
        m.srv.start()  # the relay worker looks at the queue at once

        def dsn():
            return any(b"Action: failed" in raw and b"bare CR or LF" in raw and (b"smuggled " + marker.encode()) in raw
                       for _, raw, _ in _inbox(m, m.tok_a, m.a))
        wait_for(dsn, "the DSN of the message the relay would not send", timeout=30)
        client_a = m.srv.client(m.tok_a)
        r = client_a.post("/mss/v1/messages", {"from": m.a, "to": [m.b], "subject": "big", "text": ("y" * 900 + "\n") * 30},
                          expect=422, validate=False)
        assert "5.3.4" in r.body.decode(), r.body
    finally:
        _restart_as_before(m, flags)


def test_mss_documents_served_as_attachments(ctx):
    """A document's bytes are served for saving, never for showing: Content-Disposition
    attachment, nosniff, a sandboxing CSP, and the sender's mimeType only when it is on the
    allow-list (PDF, XML, JPEG, PNG, plain text); text/html is served as application/octet-stream
    (it used to be served as the sender wrote it: stored XSS on the operator's origin)."""
    m = _mss(ctx)
    client_b = m.srv.client(m.tok_b)
    for mime, served in (("text/html", "application/octet-stream"), ("image/svg+xml", "application/octet-stream"),
                         ("application/PDF; name=x", "application/pdf"), ("text/xml", "text/xml")):
        doc = b"<html><body><script>alert(document.cookie)</script></body></html>"
        subject = "doc " + harness.uid(6)
        with m.smtp(m.tok_a, m.a) as s:
            assert s.send_message(_message(m.a, m.b, subject, xdm=_xdm(doc, mime=mime))) == {}
        uid = [u for u, raw, _ in _inbox(m, m.tok_b, m.b) if subject.encode() in raw][0]
        r = client_b.get("/mss/v1/mailboxes/%s/folders/INBOX/messages/%d/documents/1" % (m.b, uid), validate=False)
        assert r.body == doc
        assert r.h("Content-Type") == served, (mime, r.h("Content-Type"))
        assert r.h("X-Content-Type-Options") == "nosniff", mime
        assert r.h("Content-Disposition") == "attachment", mime
        assert "sandbox" in (r.h("Content-Security-Policy") or ""), mime


# ---- a real Postfix as another operator -----------------------------------------------------

POSTFIX_DOMAIN = "postfix.socle.test"


def _routes_with(flags, route):
    """flags without their --mss-routes options, and one --mss-routes holding their routes and
    route (a later --mss-routes would replace an earlier one)."""
    out, routes, i = [], [], 0
    while i < len(flags):
        if flags[i] == "--mss-routes" and i + 1 < len(flags):
            routes += [r for r in flags[i + 1].split(";") if r]
            i += 2
            continue
        out.append(flags[i])
        i += 1
    return out + ["--mss-routes", ";".join(routes + [route])]


def _relay_queue(m):
    """socle's relay queue (recipient, attempts, last_error): why a message did not leave."""
    sql = "SELECT recipient, attempts, last_error FROM mss_queue"
    try:
        if m.db.startswith("sqlite:"):
            import sqlite3
            c = sqlite3.connect("file:%s?mode=ro" % m.db[len("sqlite:"):], uri=True, timeout=5)
            try:
                return c.execute(sql).fetchall()
            finally:
                c.close()
        return m.env.psql(sql, url=m.db, check=False).strip()
    except Exception as e:  # noqa: BLE001 - a diagnostic only
        return "(queue unreadable: %s)" % e


def test_mss_postfix_peer(ctx):
    """Debian's Postfix is another operator of the trust space, on loopback with its own
    configuration: socle relays to it over STARTTLS (its certificate checked, ours presented) and
    receives from it (its operator certificate accepted by the relay listener)."""
    from postfix import Postfix
    m = _mss(ctx)
    env = ctx.env
    m.cli("pki", "client", "--kind", "operator", "--id", POSTFIX_DOMAIN, "--name", "operator-" + POSTFIX_DOMAIN)
    clients = os.path.join(m.data, "pki", "clients")
    pf = Postfix(os.path.join(env.root, "postfix-%d" % env.next_seq()), POSTFIX_DOMAIN,
                 os.path.join(clients, "operator-%s.pem" % POSTFIX_DOMAIN),
                 os.path.join(clients, "operator-%s.key" % POSTFIX_DOMAIN),
                 os.path.join(m.data, "pki", "ca.pem"),
                 transport={DOMAIN: ("127.0.0.1", m.ports["smtp"])}, mailboxes=("someone",))
    flags = list(m.srv.flags)
    try:
        pf.start()
        m.srv.stop_ok()
        m.srv.flags = _routes_with(flags, "%s=127.0.0.1:%d" % (POSTFIX_DOMAIN, pf.port))
        m.srv.start()
        m.write_trust((DOMAIN, PEER, POSTFIX_DOMAIN))
        time.sleep(1.2)

        # socle -> Postfix: submission, relay queue, STARTTLS to Postfix, Maildir.
        subject = "vers postfix " + harness.uid(6)
        with m.smtp(m.tok_a, m.a) as s:
            assert s.send_message(_message(m.a, "someone@" + POSTFIX_DOMAIN, subject)) == {}

        def at_postfix():
            for raw in pf.maildir_messages("someone"):
                if subject.encode() in raw:
                    return raw
        try:
            raw = wait_for(at_postfix, "the message in Postfix's Maildir", timeout=30)
        except AssertionError as e:
            raise AssertionError("%s\nsocle relay queue: %r\nPostfix queue: %s\n%s\nsocle log:\n%s" % (
                e, _relay_queue(m), pf.queue_listing(), pf.log_tail(), m.srv.log_tail())) from None
        msg = email.message_from_bytes(raw)
        received = [" ".join(h.split()) for h in msg.get_all("Received", [])]
        ours = [h for h in received if "(Postfix)" in h]
        assert ours, "no Received header of Postfix: %r" % received
        assert "(using TLSv1.3" in ours[0] and "with ESMTPS" in ours[0], "Postfix did not receive over TLS 1.3: %r" % ours[0]
        assert 'Client CN "%s"' % DOMAIN in ours[0] and "(verified OK)" in ours[0], (
            "socle presented no verified operator certificate to Postfix: %r" % ours[0])
        assert msg["X-Original-To"] == "someone@" + POSTFIX_DOMAIN and msg["Return-Path"] == "<%s>" % m.a, (
            msg["X-Original-To"], msg["Return-Path"])
        assert any("by %s (socle) with ESMTPSA" % DOMAIN in h for h in received), received

        # Postfix -> socle: a client of Postfix's, relayed over STARTTLS with its operator certificate.
        subject = "depuis postfix " + harness.uid(6)
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as s:
            s.ehlo("client.test")
            assert s.send_message(_message("x@" + POSTFIX_DOMAIN, m.b, subject)) == {}

        def at_socle():
            for _, raw, _ in _inbox(m, m.tok_b, m.b):
                if subject.encode() in raw:
                    return raw
        try:
            raw = wait_for(at_socle, "the message from Postfix in %s's INBOX" % m.b, timeout=30)
        except AssertionError as e:
            raise AssertionError("%s\nPostfix queue: %s\n%s\nsocle log:\n%s" % (
                e, pf.queue_listing(), pf.log_tail(), m.srv.log_tail())) from None
        msg = email.message_from_bytes(raw)
        received = [" ".join(h.split()) for h in msg.get_all("Received", [])]
        assert received and received[0].startswith("from %s " % POSTFIX_DOMAIN) and "by %s (socle) with ESMTPS " % DOMAIN in received[0], received
        log = pf.log()
        assert "Verified TLS connection established to 127.0.0.1[127.0.0.1]:%d" % m.ports["smtp"] in log, pf.log_tail()
        sent = [l for l in log.splitlines() if "relay=127.0.0.1[127.0.0.1]:%d" % m.ports["smtp"] in l]
        assert sent and all("status=sent" in l for l in sent), "Postfix's attempts at socle: %s" % "\n".join(sent)
    finally:
        pf.stop()
        m.srv.flags = flags
        m.write_trust((DOMAIN, PEER))


def test_mss_swaks(ctx):
    """swaks as another operator on the relay port (mutual TLS with an operator certificate), and
    as a careless client: no certificate, no STARTTLS."""
    m = _mss(ctx)
    m.cli("pki", "client", "--kind", "operator", "--id", PEER, "--name", "operator-swaks-" + PEER)
    pem = os.path.join(m.data, "pki", "clients", "operator-swaks-%s" % PEER)
    ca = os.path.join(m.data, "pki", "ca.pem")
    server = "127.0.0.1:%d" % m.ports["smtp"]
    subject = "par swaks " + harness.uid(6)
    common = ["swaks", "--server", server, "--ehlo", PEER, "--from", "dr.c@" + PEER, "--to", m.b,
              "--header", "Subject: " + subject, "--body", "Bonjour depuis swaks"]
    p = subprocess.run(common + ["--tls", "--tls-verify", "--tls-ca-path", ca, "--tls-cert", pem + ".pem",
                                 "--tls-key", pem + ".key"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-1000:]
    assert any(subject.encode() in raw for _, raw, _ in _inbox(m, m.tok_b, m.b))
    p = subprocess.run(common + ["--tls"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "530 5.7.0" in p.stdout, p.stdout[-2000:]
    p = subprocess.run(common, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "530 5.7.0 Must issue a STARTTLS command first" in p.stdout, p.stdout[-2000:]


def test_mss_concurrent_senders(ctx):
    """Sessions delivering at the same moment share commits (group commit): every message answered
    250 is in the mailbox, once."""
    import threading
    m = _mss(ctx)
    tag = harness.uid(6)
    errors = []

    def sender(n):
        try:
            with m.smtp(m.tok_a, m.a) as s:
                for i in range(5):
                    assert s.send_message(_message(m.a, [m.b, m.org], "lot %s %d-%d" % (tag, n, i))) == {}
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    c = m.imap(m.tok_b, m.b)
    c.select("INBOX")
    typ, data = c.search(None, "SUBJECT", '"lot %s"' % tag)
    assert len(data[0].split()) == 40, data
    c.logout()


def test_mss_protocol_edges(ctx):
    """Regressions: LIST wildcards stay linear, bare CR refused (data and commands), ENVID and
    NOTIFY checked, a peer cannot send as this operator, FETCH of a bad section neither answers
    half nor sets \\Seen, STORE applies to the flags as stored, UIDVALIDITY never reused, folder
    names LIST could not quote refused, failed logins end the session."""
    m = _mss(ctx)
    c = m.imap(m.tok_b, m.b)
    c.create("a" * 60)
    typ, data = c.list('""', "*" * 12 + "b")
    assert typ == "OK" and data == [None], data
    try:
        c._simple_command("CREATE", '"we\\"ird"')
        raise AssertionError("a folder name LIST could not quote was created")
    except imaplib.IMAP4.error:
        pass
    c.create("tmpf")
    typ, data = c.status("tmpf", "(UIDVALIDITY)")
    first = data[0]
    c.delete("tmpf")
    c.create("tmpf")
    typ, data = c.status("tmpf", "(UIDVALIDITY)")
    assert data[0] != first, (first, data[0])
    # A message for the FETCH and STORE checks.
    with m.smtp(m.tok_a, m.a) as s:
        s.send_message(_message(m.a, m.b, "edges " + harness.uid(5)))
    typ, data = c.select("INBOX")
    last = data[0].decode()
    try:
        c.fetch(last, "(FLAGS BODY[FOO.BAR])")
        raise AssertionError("a bad section was accepted")
    except imaplib.IMAP4.error:
        pass
    typ, data = c.fetch(last, "(FLAGS)")
    assert "\\Seen" not in data[0].decode(), data
    c2 = m.imap(m.tok_b, m.b)
    c2.select("INBOX")
    c2.store(last, "+FLAGS", "(\\Flagged)")
    c2.logout()
    typ, data = c.store(last, "+FLAGS", "(\\Answered)")
    assert "\\Flagged" in data[0].decode() and "\\Answered" in data[0].decode(), data
    c.logout()
    # SMTP: bare CR in a command and in the data; ENVID and NOTIFY syntax.
    with m.smtp(m.tok_a, m.a) as s:
        s.send(b"NOOP x\ry\r\n")
        code, _ = s.getreply()
        assert code == 500
        code, _ = s.mail("<%s>" % m.a, ["ENVID=a=b"])
        assert code == 501
        code, _ = s.mail("<%s>" % m.a, ["RET=ALL"])
        assert code == 501
        assert s.mail("<%s>" % m.a)[0] == 250
        code, _ = s.rcpt("<%s>" % m.b, ["NOTIFY=SOMETIMES"])
        assert code == 501
        assert s.rcpt("<%s>" % m.b)[0] == 250
        assert s.docmd("DATA")[0] == 354
        s.send(b"From: <%s>\r\nSubject: cr\r\n\r\nline1\r.\rMAIL FROM:<x@y>\r\n.\r\n" % m.a.encode())
        code, text = s.getreply()
        assert code == 550 and b"bare CR" in text, (code, text)
    # A peer operator cannot send as this operator (relay port, operator certificate of PEER).
    m.cli("pki", "client", "--kind", "operator", "--id", PEER, "--name", "operator-edges-" + PEER)
    ctx_cert = ssl.create_default_context(cafile=os.path.join(m.data, "pki", "ca.pem"))
    pem = os.path.join(m.data, "pki", "clients", "operator-edges-%s" % PEER)
    ctx_cert.load_cert_chain(pem + ".pem", pem + ".key")
    _raw(m.ports["smtp"], [("EHLO peer", "250"), ("STARTTLS", None), ("EHLO peer", "250"),
                           ("MAIL FROM:<dr.a@%s>" % DOMAIN, "550 5.7.1"),
                           ("MAIL FROM:<%s>" % m.citizen, "550 5.7.1"), ("QUIT", "221")], tls_ctx=ctx_cert)
    # Three failed logins: the session ends.
    c = imaplib.IMAP4("127.0.0.1", m.ports["imap"], timeout=30)
    c.starttls(ssl_context=m.ssl())
    for _ in range(3):
        try:
            c.authenticate("XOAUTH2", lambda _: ("user=%s\x01auth=Bearer x.y.z\x01\x01" % m.b).encode())
        except imaplib.IMAP4.error:
            pass
    try:
        c.noop()
        raise AssertionError("the session survived three failed logins")
    except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError):
        pass


def test_mss_search_text_and_limits(ctx):
    """SEARCH finds text anywhere in a message without regard to ASCII case (the results of the
    memmem search that replaced the quadratic one; its speed is not what this checks), and one
    SEARCH takes at most 100 keys (NO [LIMIT] beyond: the new part)."""
    m = _mss(ctx)
    marker = harness.uid(8).lower()
    c = m.imap(m.tok_b, m.b)
    c.create("Search")
    body = "x" * 5000 + "\nAvec le Mot " + marker + " au milieu\n" + "y" * 5000 + "\n"
    assert c.append("Search", None, None, _message(m.b, m.b, "Sujet " + marker.upper(), body=body).as_bytes())[0] == "OK"
    assert c.select("Search")[0] == "OK"
    for key in ("TEXT", "BODY"):
        typ, data = c.search(None, key, '"MOT %s AU"' % marker.upper())
        assert typ == "OK" and data[0].split() == [b"1"], (key, data)
    typ, data = c.search(None, "SUBJECT", '"sujet %s"' % marker)
    assert typ == "OK" and data[0].split() == [b"1"], data
    typ, data = c.search(None, "TEXT", '"%s absent"' % marker)
    assert typ == "OK" and data[0].split() == [], data
    typ, data = c.search(None, *(["UNDELETED"] * 100))
    assert typ == "OK" and data[0].split() == [b"1"], data
    typ, data = c.search(None, *(["UNDELETED"] * 50 + ["NOT", "OR", "SEEN", "DELETED"] * 13))  # 102 keys
    assert typ == "NO" and b"LIMIT" in data[0], (typ, data)
    c.logout()


def test_mss_stop_with_stalled_reader(ctx):
    """SIGTERM ends even a session writing to a client that stopped reading."""
    m = _mss(ctx)
    c = m.imap(m.tok_b, m.b)
    c.create("Big")
    big = _message(m.b, m.b, "gros", body=("x" * 998 + "\n") * 4000).as_bytes()
    for _ in range(3):
        typ, _ = c.append("Big", None, None, big)
        assert typ == "OK"
    c.select("Big")
    c.send(b"F1 FETCH 1:* BODY.PEEK[]\r\nF2 FETCH 1:* BODY.PEEK[]\r\nF3 FETCH 1:* BODY.PEEK[]\r\n")
    time.sleep(1)
    m.srv.stop_ok()
    m.srv.start()


def _rss_kib(m):
    """The resident memory of m's server, in KiB."""
    with open("/proc/%d/status" % m.srv.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for the server")


def test_mss_fetch_streams_large_items(ctx):
    """A FETCH naming the same large section 32 times is answered in full, but the server holds one
    section at a time and keeps no large buffer after it (a 4 MiB message fetched 32 times used to
    be rendered into one 128 MiB response, copied into the session's write buffer, which stayed)."""
    m = _mss(ctx)
    c = m.imap(m.tok_b, m.b)
    c.create("Large")
    big = _message(m.b, m.b, "large", body=("y" * 998 + "\n") * 4000).as_bytes()
    assert c.append("Large", None, None, big)[0] == "OK"
    c.select("Large")
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER])")
    assert typ == "OK"
    before = _rss_kib(m)
    typ, data = c.fetch("1", "(" + " ".join(["BODY.PEEK[]"] * 32) + ")")
    assert typ == "OK", data
    literals = [d[1] for d in data if isinstance(d, tuple)]
    assert len(literals) == 32 and len(literals[0]) > 4000000 and all(x == literals[0] for x in literals)
    grown = _rss_kib(m) - before
    assert grown < 64 * 1024, "the server still holds %d KiB more after the FETCH" % grown
    c.logout()


def test_mss_certificate_and_password_logins(ctx):
    """AUTH EXTERNAL / AUTHENTICATE EXTERNAL with a professional's client certificate of the test
    PKI; passwords (PLAIN, LOGIN) only once the operator allows them, and only over TLS; EXAMINE
    is read-only."""
    m = _mss(ctx)
    m.cli("pki", "client", "--kind", "professional", "--id", PRO_A, "--name", "cps-" + PRO_A)
    pem = os.path.join(m.data, "pki", "clients", "cps-" + PRO_A)
    tls = ssl.create_default_context(cafile=os.path.join(m.data, "pki", "ca.pem"))
    tls.load_cert_chain(pem + ".pem", pem + ".key")
    s = smtplib.SMTP("127.0.0.1", m.ports["submission"], timeout=30)
    s.ehlo("x")
    s.starttls(context=tls)
    s.ehlo("x")
    code, _ = s.docmd("AUTH", "EXTERNAL " + base64.b64encode(m.a.encode()).decode())
    assert code == 235, code
    assert s.send_message(_message(m.a, m.b, "par carte CPS")) == {}
    s.quit()
    c = imaplib.IMAP4("127.0.0.1", m.ports["imap"], timeout=30)
    c.starttls(ssl_context=tls)
    typ, _ = c.authenticate("EXTERNAL", lambda _: m.a.encode())
    assert typ == "OK"
    typ, _ = c.select("Sent", readonly=True)
    assert any(b"par carte CPS" in raw for _, raw, _ in _inbox(m, m.tok_a, m.a, "Sent"))
    typ, data = c.store("1", "+FLAGS", "(\\Deleted)")
    assert typ == "NO" and b"READ-ONLY" in data[0], (typ, data)
    c.logout()
    # Passwords: a mailbox with one, the operator allowing them.
    pw = harness.uid(16)
    ctx.env.secrets.add(pw)
    box = m.mailbox("ORG", FINESS, "secretariat-%s@%s" % (harness.uid(4), DOMAIN), password=pw)
    m.srv.stop_ok()
    m.srv.flags += ["--mss-allow-password", "true"]
    try:
        m.srv.start()
        s = m.smtp()
        s.login(box, pw)  # AUTH PLAIN over TLS
        assert s.send_message(_message(box, m.b, "par mot de passe")) == {}
        s.quit()
        c = imaplib.IMAP4("127.0.0.1", m.ports["imap"], timeout=30)
        c.starttls(ssl_context=m.ssl())
        typ, _ = c.login(box, pw)
        assert typ == "OK"
        c.logout()
        c = imaplib.IMAP4("127.0.0.1", m.ports["imap"], timeout=30)
        c.starttls(ssl_context=m.ssl())
        try:
            c.login(box, "wrong")
            raise AssertionError("a wrong password was accepted")
        except imaplib.IMAP4.error:
            pass
        c.shutdown()
        s = smtplib.SMTP("127.0.0.1", m.ports["submission"], timeout=30)
        code, text = s.ehlo("x")
        assert b"AUTH" not in text  # never before TLS
        s.quit()
    finally:
        m.srv.stop_ok()
        m.srv.flags = [f for f in m.srv.flags if f not in ("--mss-allow-password", "true")]
        m.srv.start()


def test_mss_indicators(ctx):
    """Messages and attachments count for the steering indicators: per day, structure, couloir
    (professional / patient), sent / received; only the admin and auditor roles read them."""
    m = _mss(ctx)
    with m.smtp(m.tok_a, m.a) as s:
        s.send_message(_message(m.a, m.b, "compté", xdm=_xdm(_cda())))
    counts = m.admin.get("/mss/v1/indicators?since=2026-01-01", validate=False).json["counts"]
    sent = [c for c in counts if c["direction"] == "sent" and c["couloir"] == "professional"]
    received = [c for c in counts if c["direction"] == "received"]
    assert sent and sum(c["messages"] for c in sent) >= 1 and sum(c["attachments"] for c in sent) >= 1, counts
    assert received and any(c["couloir"] == "patient" for c in counts), counts
    m.srv.client(m.tok_a).get("/mss/v1/indicators", expect=403)
    m.admin.get("/mss/v1/indicators?since=hier", expect=400)


def _restart_as_before(m, flags):
    """The shared server back to its own flags and trust space after a test changed them."""
    m.srv.stop_ok()
    m.srv.flags = flags
    m.srv.start()
    m.write_trust((DOMAIN, PEER))


def _peer_up_to_starttls(listener, name):
    """A fake peer operator: accept one connection and answer up to STARTTLS (220); the plain socket."""
    conn, _ = listener.accept()
    f = conn.makefile("rwb")
    f.write(b"220 %s ESMTP\r\n" % name), f.flush()
    f.readline()
    f.write(b"250-%s\r\n250 STARTTLS\r\n" % name), f.flush()
    f.readline()
    f.write(b"220 go ahead\r\n"), f.flush()
    return conn


def test_mss_relay_to_peer_without_dsn(ctx):
    """A peer that does not speak DSN gets no DSN parameters, and a sender who asked for success
    notices gets a "relayed" DSN from us (RFC 3461 section 5.2.2); a malformed ORCPT is a 501."""
    import threading
    m = _mss(ctx)
    peer_domain = "nodsn.test"
    m.cli("pki", "client", "--kind", "operator", "--id", peer_domain, "--name", "operator-" + peer_domain)
    crt = os.path.join(m.data, "pki", "clients", "operator-" + peer_domain)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(crt + ".pem", crt + ".key")
    seen = []
    port = harness.free_port()
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(60)

    def peer():
        try:
            conn = _peer_up_to_starttls(listener, b"nodsn.test")
            t = tls.wrap_socket(conn, server_side=True)
            g = t.makefile("rwb")
            while True:
                line = g.readline()
                if not line:
                    break
                seen.append(line.decode().strip())
                verb = line[:4].upper()
                if verb == b"EHLO":
                    g.write(b"250-nodsn.test\r\n250 8BITMIME\r\n")
                elif verb in (b"MAIL", b"RCPT"):
                    g.write(b"250 ok\r\n")
                elif verb == b"DATA":
                    g.write(b"354 go on\r\n"), g.flush()
                    while g.readline() not in (b".\r\n", b""):
                        pass
                    g.write(b"250 queued\r\n")
                elif verb == b"QUIT":
                    g.write(b"221 bye\r\n"), g.flush()
                    break
                else:
                    g.write(b"502 not here\r\n")
                g.flush()
            t.close()
        except (OSError, ssl.SSLError):
            pass
    th = threading.Thread(target=peer, daemon=True)
    th.start()
    flags = list(m.srv.flags)
    m.srv.stop_ok()
    m.srv.flags = [f for f in flags] + ["--mss-routes", "%s=127.0.0.1:%d" % (peer_domain, port)]
    envid = "env-nodsn-" + harness.uid(4)
    try:
        m.srv.start()
        m.write_trust((DOMAIN, PEER, peer_domain))
        time.sleep(1.2)
        with m.smtp(m.tok_a, m.a) as s:
            s.mail(m.a)
            code, msg = s.rcpt("x@" + peer_domain, ["ORCPT=no-semicolon"])
            assert code == 501 and b"ORCPT" in msg, (code, msg)
            s.rset()
            assert s.sendmail(m.a, ["x@" + peer_domain], _message(m.a, "x@" + peer_domain, "sans dsn").as_bytes().replace(b"\n", b"\r\n"),
                              mail_options=["ENVID=" + envid, "RET=HDRS"],
                              rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;x@" + peer_domain]) == {}
        th.join(60)
        mail = [l for l in seen if l.upper().startswith("MAIL FROM:")]
        rcpt = [l for l in seen if l.upper().startswith("RCPT TO:")]
        assert mail and rcpt and "ENVID" not in mail[0] and "RET=" not in mail[0], seen
        assert "NOTIFY" not in rcpt[0] and "ORCPT" not in rcpt[0], seen

        def relayed():
            return any(b"Action: relayed" in raw and ("Original-Envelope-Id: " + envid).encode() in raw
                       and ("Original-Recipient: rfc822;x@" + peer_domain).encode() in raw
                       for _, raw, _ in _inbox(m, m.tok_a, m.a))
        wait_for(relayed, "the relayed DSN", timeout=30)
    finally:
        listener.close()
        _restart_as_before(m, flags)


def test_mss_relay_sends_sni(ctx):
    """The relay asks for the recipient's domain in TLS (SNI), whatever address its route gives."""
    import threading
    m = _mss(ctx)
    seen = []
    port = harness.free_port()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(os.path.join(m.data, "pki", "server.pem"), os.path.join(m.data, "pki", "server.key"))
    tls.sni_callback = lambda sock, name, context: seen.append(name)
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(60)

    def peer():
        try:
            conn = _peer_up_to_starttls(listener, b"sni.test")
            try:
                tls.wrap_socket(conn, server_side=True).close()  # the handshake is all we need
            except (ssl.SSLError, OSError):
                pass
        except OSError:
            pass
    t = threading.Thread(target=peer, daemon=True)
    t.start()
    flags = list(m.srv.flags)
    m.srv.stop_ok()
    m.srv.flags = [f for f in flags] + ["--mss-routes", "sni.test=127.0.0.1:%d" % port]
    try:
        m.srv.start()
        m.write_trust((DOMAIN, PEER, "sni.test"))
        time.sleep(1.2)
        with m.smtp(m.tok_a, m.a) as s:
            assert s.send_message(_message(m.a, "x@sni.test", "sni")) == {}
        t.join(60)
        assert seen == ["sni.test"], seen
    finally:
        listener.close()
        _restart_as_before(m, flags)
