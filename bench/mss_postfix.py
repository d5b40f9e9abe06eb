"""mss_postfix.py - the Postfix that bench/mss.sh measures side by side with socle.

  mss_postfix.py start DIR DOMAIN CERT KEY CA [MAILBOX...]

Starts a private Postfix (Debian's package) under DIR (created; must not exist) with the integration
tests' class (tests/integration/postfix.py: Postfix, imported, not copied): a free port of
127.0.0.1, STARTTLS with CERT/KEY (an operator certificate of socle's test PKI, chaining to CA),
mail for DOMAIN stored locally in Maildirs under DIR/mail/DOMAIN/<mailbox>/ (virtual(8); MAILBOX
defaults to "dr.b"), 127.0.0.0/8 in mynetworks (no AUTH). Postfix's defaults are kept: cleanup(8)
fsyncs the queue file before smtpd answers 250 to the final dot, virtual(8) fsyncs each Maildir file.
Prints "port N" on stdout once Postfix answers 220, then runs until SIGTERM or SIGINT, when it
stops Postfix (SIGTERM to the master, then whatever is left of its process group) and exits 0.
Root is needed (the master daemon starts as root).
"""

import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))

from postfix import Postfix  # noqa: E402  (tests/integration)


def start(root, domain, cert, key, ca, mailboxes):
    os.makedirs(root)
    pf = Postfix(root, domain, cert, key, ca, mailboxes=mailboxes or ("dr.b",))
    stopping = []

    def on_signal(signum, frame):
        stopping.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        pf.start()
        print("port %d" % pf.port, flush=True)
        # Blocked only now (Postfix's daemons must not inherit the mask), then waited for: a
        # signal that came during the start was recorded by the handler.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        if not stopping:
            signal.sigwait({signal.SIGTERM, signal.SIGINT})
    finally:
        pf.stop()


def main(argv):
    if len(argv) >= 7 and argv[1] == "start":
        start(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
