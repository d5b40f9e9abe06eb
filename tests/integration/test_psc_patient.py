"""test_psc_patient.py - the patient realm of Pro Santé Connect (for Mon Espace Santé): accounts are
opened for the qualified identities of the repository unless the patient opposed, activated with a
one-time code where the patient sets a password (Argon2id) and receives a TOTP key, and the login
needs both. A professional-realm client cannot log a patient in, nor the reverse."""

import csv
import html
import json
import os
import re
import time
import urllib.parse

from harness import all_at_once, assert_at_most_answered
from test_ins import OID_TEST, _patient
from test_psc import Http, _authorize, _basic, pkce, totp


def _qualified(env, d, db, srv, n):
    """n qualified Patients made from rows of the INS reference base, with their matricules."""
    tok = env.token(d, "810000000099", "professional", roles=["identity"], profession="10", structure="it")
    c = srv.client(tok)
    rows = list(csv.DictReader(open(os.path.join(d, "base.csv"), encoding="utf-8")))
    seen, out = set(), []
    for r in rows:
        key = (r["nom_naissance"], r["sexe"], r["date_naissance"])
        if key in seen or r["date_naissance"].endswith("-00") or not r["matricule"].startswith(("1", "2")):
            continue
        seen.add(key)
        p = c.create(_patient(r, "QUAL", mode="CN", ins=True))
        out.append((r["matricule"], p["id"], r))
        if len(out) == n:
            break
    return out


def _activate(env, d, db, h, ins, password):
    code = env.cli("psc", "patient", "activate", "--ins", ins, "--data", d, "--db", db, "--log-level", "warn").stdout.strip()
    st, _, page = h.send("POST", "/oidc/patient/activate", {"ins": ins, "activation_code": code, "password": password})
    assert st == 200, (st, page[:300])
    return re.search(r'id="secret">([A-Z2-7]+)<', page).group(1)


def _request_of(h, cid, challenge):
    st, _, page = _authorize(h, cid, challenge)
    assert st == 200, (st, page[:300])
    return html.unescape(re.search(r'name="request" value="([^"]+)"', page).group(1)), page


def _realm(env, name, flags=(), n=3):
    """A server with the INS reference base imported, a patient-realm client "mes" (its secret
    returned), a professional client "rp", and n qualified Patients (see _qualified)."""
    d = env.new_data(name)
    db = env.new_db(d)
    env.cli("ins", "generate", "--count", "200", "--seed", "21", "--out", os.path.join(d, "base.csv"))
    env.cli("ins", "import", os.path.join(d, "base.csv"), "--data", d, "--db", db, "--log-level", "warn")
    out = env.cli("oidc", "client", "add", "--id", "mes", "--realm", "patient", "--redirect-uri", "http://127.0.0.1:9/cb/mes",
                  "--data", d, "--db", db, "--log-level", "warn").stdout
    secret = re.search(r"client_secret=(\S+)", out).group(1)
    env.cli("oidc", "client", "add", "--id", "rp", "--redirect-uri", "http://127.0.0.1:9/cb/rp",
            "--data", d, "--db", db, "--log-level", "warn")
    env.secrets.add(secret)
    srv = env.server(d, db, list(flags), name=name)
    return d, db, srv, Http(srv.port), secret, _qualified(env, d, db, srv, n)


def test_patient_realm(ctx):
    env = ctx.env
    d, db, srv, h, secret, people = _realm(env, "psc-patient")
    assert len(people) == 3
    (ins, pid, row), (ins2, _, _), (ins3, _, _) = people
    # Opposition before the accounts exist: sync never opens one for that patient.
    env.cli("psc", "patient", "oppose", "--ins", ins3, "--data", d, "--db", db, "--log-level", "warn")
    p = env.cli("psc", "patients", "sync", "--data", d, "--db", db, "--log-level", "warn")
    assert "3 qualified identities, 2 new accounts" in p.stdout, p.stdout
    p = env.cli("psc", "patients", "sync", "--data", d, "--db", db, "--log-level", "warn")
    assert "0 new accounts" in p.stdout, p.stdout
    p = env.cli("psc", "patient", "activate", "--ins", ins3, "--data", d, "--db", db, check=False)
    assert p.returncode == 1 and "opposed" in p.stderr, p.stderr

    # Activation: a short password is refused; the code works once.
    code = env.cli("psc", "patient", "activate", "--ins", ins, "--data", d, "--db", db, "--log-level", "warn").stdout.strip()
    st, _, page = h.send("POST", "/oidc/patient/activate", {"ins": ins, "activation_code": code, "password": "court"})
    assert st == 400 and "12" in page, st
    password = "un mot de passe assez long"
    env.secrets.add(password)
    st, _, page = h.send("POST", "/oidc/patient/activate", {"ins": ins, "activation_code": code, "password": password})
    assert st == 200, st
    key = re.search(r'id="secret">([A-Z2-7]+)<', page).group(1)
    st, _, _ = h.send("POST", "/oidc/patient/activate", {"ins": ins, "activation_code": code, "password": password})
    assert st == 401, st

    verifier, challenge = pkce()
    request, page = _request_of(h, "mes", challenge)
    assert "/oidc/login/patient" in page and "/oidc/login/cps" not in page, "the patient realm's login page"
    # A password alone, or a code alone, is not enough.
    for form in ({"password": password, "otp": "000000"}, {"password": "pas le bon mot de passe", "otp": totp(key)}):
        st, _, _ = h.send("POST", "/oidc/login/patient", dict(form, request=request, ins=ins))
        assert st == 401, (form.keys(), st)
    st, hd, _ = h.send("POST", "/oidc/login/patient", {"request": request, "ins": ins, "password": password,
                                                       "otp": totp(key, time.time() + 30)})
    assert st == 302, st
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(hd["location"]).query)
    form = {"grant_type": "authorization_code", "code": q["code"][0], "redirect_uri": "http://127.0.0.1:9/cb/mes",
            "code_verifier": verifier}
    st, tokens = h.json("POST", "/oidc/token", form, _basic("mes", secret))
    assert st == 200, tokens
    env.secrets.update([tokens["access_token"], tokens["refresh_token"]])
    import base64
    claims = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[1] + "=="))
    assert claims["sub"] == ins and claims["amr"] == ["pwd", "otp"], claims
    st, info = h.json("GET", "/oidc/userinfo", headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert st == 200 and info["sub"] == ins and info["family_name"] == row["nom_naissance"], info
    assert info["birthdate"] == row["date_naissance"], info
    # The read of the patient's identity is in the audit trail, under the patient.
    auditor = srv.client(env.token(d, "it-auditor", "professional", roles=["auditor"], profession="10"))
    b = auditor.get("/fhir/AuditEvent?action=oidc-userinfo&_count=20").json
    assert b.get("entry"), "userinfo of a patient is audited"

    # Realms do not mix: a patient cannot log in through a professional client, nor on the e-CPS form.
    request, page = _request_of(h, "rp", challenge)
    st, _, _ = h.send("POST", "/oidc/login/patient", {"request": request, "ins": ins, "password": password,
                                                      "otp": totp(key, time.time() + 30)})
    assert st == 400, st
    # Opposition after activation closes the account: no more login.
    env.cli("psc", "patient", "oppose", "--ins", ins, "--data", d, "--db", db, "--log-level", "warn")
    request, _ = _request_of(h, "mes", challenge)
    st, _, _ = h.send("POST", "/oidc/login/patient", {"request": request, "ins": ins, "password": password,
                                                      "otp": totp(key, time.time() + 60)})
    assert st == 401, st

    # Activation attempts are throttled per INS; the lockout, then the code, are checked before the
    # password is hashed (Argon2): a too short password gets the 401 of a wrong code, then the 429
    # of a locked INS, not a 400.
    for i in range(5):
        st, _, _ = h.send("POST", "/oidc/patient/activate", {"ins": ins2, "activation_code": "AAAA-AAAA-AAAA-AAAA",
                                                             "password": password if i else "court"})
        assert st == 401, (i, st)
    st, _, _ = h.send("POST", "/oidc/patient/activate", {"ins": ins2, "activation_code": "AAAA-AAAA-AAAA-AAAA",
                                                         "password": "court"})
    assert st == 429, st
    srv.stop_ok()


def test_parallel_guesses_are_counted(ctx):
    """Wrong passwords sent all at once: the check of the lockout and the count of the failure are
    one step, so the time Argon2 takes on each does not let more than psc_login_max_failures
    guesses (3 here) be answered other than 429."""
    env = ctx.env
    d, db, srv, h, _, people = _realm(env, "psc-patient-burst", ["--psc-login-max-failures", "3", "--threads", "8",
                                                                 "--db-pool-size", "12"], n=1)
    ins = people[0][0]
    env.cli("psc", "patients", "sync", "--data", d, "--db", db, "--log-level", "warn")
    key = _activate(env, d, db, h, ins, "un mot de passe assez long")
    request, _ = _request_of(h, "mes", pkce()[1])
    statuses = all_at_once(16, lambda i: h.send("POST", "/oidc/login/patient", {
        "request": request, "ins": ins, "password": "pas le bon mot de passe %d" % i, "otp": totp(key)})[0])
    assert_at_most_answered(statuses, 16, 3)
    srv.stop_ok()
