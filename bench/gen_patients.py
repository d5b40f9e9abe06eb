#!/usr/bin/env python3
"""gen_patients.py N - write N synthetic FHIR Patients as NDJSON on stdout (ids bench-0000001...).

Deterministic, clearly fake: a local IPP identifier (no INS: an INS needs a qualified identity), names BENCH-xxxx."""
import json
import random
import sys

FAMILIES = ["MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU",
            "LAURENT", "SIMON", "MICHEL", "LEFÈVRE", "LEROY", "ROUX", "DAVID", "BERTRAND", "MOREL"]
GIVEN_M = ["Jean", "Pierre", "Louis", "Lucas", "Hugo", "Jules", "Paul", "Léo"]
GIVEN_F = ["Marie", "Hélène", "Camille", "Léa", "Chloé", "Emma", "Jeanne", "Alice"]


def main():
    n = int(sys.argv[1])
    rnd = random.Random(42)
    out = sys.stdout
    for i in range(1, n + 1):
        sex = 1 if rnd.random() < 0.5 else 2
        year = rnd.randint(1930, 2023)
        month = rnd.randint(1, 12)
        day = rnd.randint(1, 28)
        p = {
            "resourceType": "Patient",
            "id": f"bench-{i:07d}",
            "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.7.99", "value": f"IPP{i:09d}"}],
            "name": [{"use": "official", "family": "BENCH-" + rnd.choice(FAMILIES),
                      "given": [rnd.choice(GIVEN_M if sex == 1 else GIVEN_F)]}],
            "gender": "male" if sex == 1 else "female",
            "birthDate": f"{year:04d}-{month:02d}-{day:02d}",
            "address": [{"city": "Démoville", "postalCode": f"{1 + i % 95:02d}000", "country": "FR"}],
        }
        out.write(json.dumps(p, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
