#!/usr/bin/env python3
"""Checks mlkem.py against Project Wycheproof's ML-KEM vectors.

Reads the gzipped files the Go package app/kem already carries
(app/kem/testdata/wycheproof, see its README for their source) and runs every
test of the four schemas: seed -> ek (and dk), decapsulation, derandomized
encapsulation, and the input checks of FIPS 203 sections 7.2 and 7.3.

    python3 scripts/vectors/test_mlkem.py [WYCHEPROOF_DIR]

Takes about a minute; the generators do not need it (they cross-check with
pyca/cryptography on their own), it is the reason to trust ML-KEM-512.
"""
import gzip
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlkem  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIR = os.path.join(HERE, "..", "..", "app", "kem", "testdata", "wycheproof")


def load(directory, name):
    with gzip.open(os.path.join(directory, name + ".json.gz"), "rt") as f:
        return json.load(f)


def run_test(schema, alg, t):
    """Returns None if the test passes, else a description of the failure."""
    b = {k: bytes.fromhex(v) for k, v in t.items() if k in ("seed", "ek", "dk", "c", "K", "m")}
    valid = t["result"] == "valid"
    try:
        if schema == "mlkem_keygen_seed_test_schema.json":
            ek, dk = mlkem.keygen(alg, b["seed"])
            if (ek, dk) != (b["ek"], b["dk"]):
                return "key pair differs"
        elif schema == "mlkem_test_schema.json":
            ek, dk = mlkem.keygen(alg, b["seed"])
            if ek != b["ek"]:
                return "ek differs"
            if mlkem.decaps(alg, dk, b["c"]) != b["K"]:
                return "K differs"
        elif schema == "mlkem_encaps_test_schema.json":
            k, c = mlkem.encaps_internal(alg, b["ek"], b["m"])
            if (k, c) != (b["K"], b["c"]):
                return "(K, c) differs"
        elif schema == "mlkem_semi_expanded_decaps_test_schema.json":
            if mlkem.decaps(alg, b["dk"], b["c"]) != b["K"]:
                return "K differs"
        else:
            return f"unknown schema {schema}"
    except ValueError as e:
        return None if not valid else f"refused: {e}"
    return None if valid else "accepted an invalid input"


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DIR
    failures = total = 0
    for alg in mlkem.PARAMS:
        bits = alg.split("-")[-1]
        for kind in ("keygen_seed_test", "test", "encaps_test", "semi_expanded_decaps_test"):
            d = load(directory, f"mlkem_{bits}_{kind}")
            n = 0
            for g in d["testGroups"]:
                assert g["parameterSet"] == alg, g["parameterSet"]
                for t in g["tests"]:
                    n += 1
                    why = run_test(d["schema"], alg, t)
                    if why:
                        failures += 1
                        print(f"FAIL {alg} {kind} tcId {t['tcId']} ({t['result']}): {why}")
            total += n
            print(f"{alg} {kind}: {n} tests")
    print(f"{total} tests, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
