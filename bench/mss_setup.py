"""mss_setup.py - the files bench/mss.sh feeds to socle and to mss_load.

  mss_setup.py practitioners OUT IDNPS...          Practitioner resources (NDJSON) for `socle import ndjson`
  mss_setup.py xdm-message OUT FROM TO KB          a message with an IHE XDM attachment of about KB KB
  mss_setup.py small-message OUT FROM TO N         a small text message (subject numbered N)

Messages are written with CRLF line ends, as mss_load sends them. The XDM package is written by the
integration tests' own builder (tests/integration/test_mss.py: _xdm), independent of socle's: INDEX.HTM,
README.TXT, IHE_XDM/SUBSET01/METADATA.XML and the CDA document. To reach the wanted size the CDA carries an
incompressible base64 body (nonXMLBody, application/pdf), so the ZIP is about KB KB once deflated.
"""

import base64
import json
import os
import random
import sys
import time
from email.message import EmailMessage
from email.policy import SMTP

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))

INS = "123456789012345"


def practitioners(out, ids):
    with open(out, "w", encoding="utf-8") as f:
        for idnps in ids:
            f.write(json.dumps({"resourceType": "Practitioner", "id": idnps,
                                "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": idnps}],
                                "name": [{"family": "BENCH-" + idnps[-4:], "given": ["Mss"]}]}) + "\n")


def cda(kb):
    """A CDA document whose body is about kb KB of random bytes (base64: does not deflate much)."""
    rnd = random.Random(7)
    payload = base64.b64encode(bytes(rnd.getrandbits(8) for _ in range(int(kb * 1024 * 0.99)))).decode()
    lines = "\n".join(payload[i:i + 76] for i in range(0, len(payload), 76))
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\">"
            "<id root=\"1.2.250.1.999.1\" extension=\"bench%d\"/>"
            "<code code=\"11490-0\" codeSystem=\"2.16.840.1.113883.6.1\"/>"
            "<title>Lettre de liaison</title><confidentialityCode code=\"N\"/>"
            "<recordTarget><patientRole><id root=\"1.2.250.1.213.1.4.10\" extension=\"%s\"/></patientRole></recordTarget>"
            "<component><nonXMLBody><text mediaType=\"application/pdf\" representation=\"B64\">\n%s\n</text>"
            "</nonXMLBody></component></ClinicalDocument>\n" % (int(time.time()), INS, lines)).encode()


def write(msg, out):
    data = msg.as_bytes(policy=SMTP)  # CRLF line ends
    with open(out, "wb") as f:
        f.write(data)
    return len(data)


def xdm_message(out, frm, to, kb):
    from test_mss import _xdm  # the integration tests' XDM writer
    package = _xdm(cda(float(kb)), ins=INS)
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = to
    msg["Subject"] = "XDM/1.0/DDM+lettre BENCH Mss 19800101"
    msg["Message-ID"] = "<bench-xdm-%d@mss-load.invalid>" % int(time.time() * 1000)
    msg["X-MSS-CODECDA"] = "11490-0"
    msg["X-MSS-INS"] = "O"
    msg.set_content("Bonjour,\nci-joint la lettre de liaison.\n")
    msg.add_attachment(package, maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    size = write(msg, out)
    print("%d bytes, with an XDM package (ZIP) of %d bytes" % (size, len(package)))


def small_message(out, frm, to, n):
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = to
    msg["Subject"] = "Resultats de biologie %s" % n
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0100"
    msg["Message-ID"] = "<bench-small-%s-%d@mss-load.invalid>" % (n, int(time.time() * 1000))
    msg.set_content("Bonjour,\n\nles resultats sont disponibles dans le dossier du patient.\n\nCordialement\n")
    size = write(msg, out)
    print("message %d bytes" % size)


def main(argv):
    if len(argv) >= 3 and argv[1] == "practitioners":
        practitioners(argv[2], argv[3:])
    elif len(argv) == 6 and argv[1] == "xdm-message":
        xdm_message(*argv[2:])
    elif len(argv) == 6 and argv[1] == "small-message":
        small_message(*argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
