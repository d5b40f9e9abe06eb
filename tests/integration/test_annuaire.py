"""test_annuaire.py - the first pieces of the health directory: `socle annuaire generate` writes
the public extract formats (RPPS activities, MSSanté mailboxes, FINESS), deterministic per seed."""

import os


def _luhn_ok(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


def test_generate_extracts(ctx):
    env = ctx.env
    d = env.new_data("annuaire", pki=False)
    a, b = os.path.join(d, "a"), os.path.join(d, "b")
    env.cli("annuaire", "generate", "--count", "300", "--seed", "9", "--out", a)
    env.cli("annuaire", "generate", "--count", "300", "--seed", "9", "--out", b)
    names = sorted(os.listdir(a))
    assert names == sorted(os.listdir(b)) and len(names) == 3, names
    for n in names:
        assert open(os.path.join(a, n), "rb").read() == open(os.path.join(b, n), "rb").read(), "%s differs" % n
    ps = next(n for n in names if n.startswith("PS_LibreAcces_Personne_activite_"))
    lines = open(os.path.join(a, ps), encoding="utf-8").read().splitlines()
    header = lines[0].split("|")
    assert header[-1] == "" and len(header) == 53, "52 columns and a trailing |: %d" % (len(header) - 1)
    assert header[:3] == ["Type d'identifiant PP", "Identifiant PP", "Identification nationale PP"], header[:3]
    rpps = {l.split("|")[1] for l in lines[1:] if l.split("|")[0] == "8"}
    assert len(rpps) >= 250, "professionals: %d" % len(rpps)
    assert all(len(r) == 11 and _luhn_ok(r) for r in rpps), "every RPPS passes Luhn"
    assert all(l.endswith("|") for l in lines)
    mss = next(n for n in names if n.startswith("Extraction_Correspondance_MSSante_"))
    mlines = open(os.path.join(a, mss), encoding="utf-8").read().splitlines()
    assert len(mlines[0].split("|")) == 32 and mlines[0].startswith("Type de BAL|Adresse BAL|")
    assert all(".demo.mssante.example" in l.split("|")[1] for l in mlines[1:]), "clearly fake mailbox domain"
    bad = env.cli("annuaire", "generate", "--count", "0", "--out", a, check=False)
    assert bad.returncode == 2
