#!/usr/bin/env python3
"""Makes app/session/testdata/session-v1.json, byte for byte.

Known answers for the kemtcp session protocol, version 1
(app/session/PROTOCOL.md): the ServerHello and ClientHello, the transcript
hash, the HKDF-SHA256 key schedule (RFC 5869) and AES-256-GCM records with
counter nonces, for each ML-KEM parameter set.

The keys and ciphertexts in the hellos and the two shared secrets are
stand-in bytes, SHAKE128("<alg> <field>") cut to the field's size (for
example SHAKE128("ML-KEM-768 ek_s", 1184 bytes)): the key schedule treats
them as opaque, so no ML-KEM is needed here.

    python3 scripts/vectors/gen_session_v1.py OUT.json

Needs Python 3 and pyca/cryptography; independent of the Go code.
"""
import json
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

# The version of pyca/cryptography that made the committed file; the output
# does not depend on it (every value is deterministic), so it is a constant.
GENERATOR = "pyca/cryptography 48.0.0"
DESCRIPTION = (
    "kemtcp session protocol v1: key schedule and record layer known answers "
    "(see PROTOCOL.md). Keys and ciphertexts in the hellos are stand-in bytes: "
    "the schedule treats them as opaque."
)

MAGIC = b"KEMTCP"
VERSION = 1
# alg: (TLS code point, ek size, ct size), PROTOCOL.md "KEM identifiers"
KEMS = {
    "ML-KEM-512": (0x0200, 800, 768),
    "ML-KEM-768": (0x0201, 1184, 1088),
    "ML-KEM-1024": (0x0202, 1568, 1568),
}
INFO_C2S = b"kemtcp v1 client to server"
INFO_S2C = b"kemtcp v1 server to client"
FINISHED, DATA, CLOSE = 1, 2, 3
# (direction, type, body) in the order a short session sends them.
RECORDS = [
    ("s2c", FINISHED, b""),
    ("c2s", DATA, "Hello from client using ML-KEM!".encode()),
    ("s2c", DATA, b"ack"),
    ("c2s", DATA, "\u00fcnic\u00f8de \U0001f319".encode()),
    ("c2s", CLOSE, b""),
]


def stand_in(alg: str, field: str, n: int) -> bytes:
    """SHAKE128(alg + " " + field), n bytes."""
    x = hashes.XOFHash(hashes.SHAKE128(digest_size=n))
    x.update(f"{alg} {field}".encode())
    return x.squeeze(n)


def hello(kem_id: int, first: bytes, second: bytes) -> bytes:
    """"KEMTCP" || 0x01 || kem_id (u16) || first || second."""
    return MAGIC + bytes([VERSION]) + struct.pack(">H", kem_id) + first + second


def seal(key: bytes, seq: int, typ: int, body: bytes) -> bytes:
    """AES-256-GCM, nonce 0x00000000 || seq (u64), plaintext type || body, no aad."""
    nonce = b"\x00" * 4 + struct.pack(">Q", seq)
    return AESGCM(key).encrypt(nonce, bytes([typ]) + body, None)


def vector(alg: str) -> dict:
    kem_id, ek_size, ct_size = KEMS[alg]
    ek_s, ek_e = stand_in(alg, "ek_s", ek_size), stand_in(alg, "ek_e", ek_size)
    ct_s, ct_e = stand_in(alg, "ct_s", ct_size), stand_in(alg, "ct_e", ct_size)
    ss_s, ss_e = stand_in(alg, "ss_s", 32), stand_in(alg, "ss_e", 32)
    server_hello = hello(kem_id, ek_s, ek_e)
    client_hello = hello(kem_id, ct_s, ct_e)

    h = hashes.Hash(hashes.SHA256())
    h.update(server_hello + client_hello)
    th = h.finalize()
    prk = HKDF.extract(hashes.SHA256(), th, ss_e + ss_s)
    key_c2s = HKDFExpand(hashes.SHA256(), 32, INFO_C2S).derive(prk)
    key_s2c = HKDFExpand(hashes.SHA256(), 32, INFO_S2C).derive(prk)
    # The whole schedule once more through the one-shot HKDF.
    if HKDF(hashes.SHA256(), 32, th, INFO_C2S).derive(ss_e + ss_s) != key_c2s:
        raise AssertionError("HKDF extract-then-expand differs from HKDF")

    keys = {"c2s": key_c2s, "s2c": key_s2c}
    seqs = {"c2s": 0, "s2c": 0}
    records = []
    for direction, typ, body in RECORDS:
        seq = seqs[direction]
        seqs[direction] += 1
        rec = seal(keys[direction], seq, typ, body)
        opened = AESGCM(keys[direction]).decrypt(b"\x00" * 4 + struct.pack(">Q", seq), rec, None)
        assert opened == bytes([typ]) + body
        records.append({
            "direction": direction,
            "seq": seq,
            "type": typ,
            "body": body.hex(),
            "record": rec.hex(),
        })
    return {
        "alg": alg,
        "kem_id": kem_id,
        "server_hello": server_hello.hex(),
        "client_hello": client_hello.hex(),
        "ss_s": ss_s.hex(),
        "ss_e": ss_e.hex(),
        "transcript_hash": th.hex(),
        "prk": prk.hex(),
        "key_c2s": key_c2s.hex(),
        "key_s2c": key_s2c.hex(),
        "records": records,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUT.json", file=sys.stderr)
        return 2
    doc = {
        "description": DESCRIPTION,
        "generator": GENERATOR,
        "vectors": [vector(alg) for alg in KEMS],
    }
    with open(argv[1], "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
