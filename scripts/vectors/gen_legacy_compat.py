#!/usr/bin/env python3
"""Makes app/legacy/testdata/legacy-compat.json, byte for byte.

The original Python demo's wire format (app/legacy/PROTOCOL.md) for
ML-KEM-512, -768 and -1024: the server's public key frame and five message
frames per KEM, each pickled by CPython's own pickle in protocols 3, 4 and 5
(with the 4-byte big-endian length prefix), and every intermediate value.

Every random input of the demo is derived instead, so the file can be made
again: SHAKE256("<alg> keypair seed", 64 bytes) is the key pair seed d || z,
SHAKE256("<alg> encaps <i>", 32 bytes) the encapsulation seed m of message
i, SHAKE256("<alg> nonce <i>", 12 bytes) its AES-GCM nonce.

ML-KEM comes from mlkem.py (FIPS 203, pure Python; pyca/cryptography has
neither ML-KEM-512 nor derandomized encapsulation). For ML-KEM-768 and
-1024 every key pair and ciphertext is also checked with pyca/cryptography,
and the script stops if they disagree. The committed file was first made
with liboqs 0.16.0 (OQS_KEM_keypair_derand, OQS_KEM_encaps_derand); this
script reproduces it exactly.

    python3 scripts/vectors/gen_legacy_compat.py OUT.json

Needs Python 3 (CPython: its pickle module writes the frames) and
pyca/cryptography; independent of the Go code.
"""
import json
import os
import pickle
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlkem  # noqa: E402

# Fields of the committed file, kept as they are (see the testdata README).
DESCRIPTION = (
    "Wire format of the original Python ML-KEM TCP demo (see SEED-PROTOCOL.md). "
    "Each frame is the 4-byte big-endian length and a pickle made by CPython 3.11.7."
)
LIBOQS = "0.16.0"

ALGS = ["ML-KEM-512", "ML-KEM-768", "ML-KEM-1024"]
PROTOCOLS = [3, 4, 5]
HKDF_INFO = b"ml-kem-aesgcm-v1"  # PROTOCOL.md "Keys"
# (plaintext, aad) of the five messages a client sends.
MESSAGES = [
    ("Hello from client using ML-KEM!", b""),
    ("second message", b""),
    ("with aad", b"header-metadata-v1"),
    ("", b""),
    ("exit", b""),
]


def shake256(label: str, n: int) -> bytes:
    x = hashes.XOFHash(hashes.SHAKE256(digest_size=n))
    x.update(label.encode())
    return x.squeeze(n)


def frames(obj) -> dict:
    """u32 big-endian length || pickle.dumps(obj, protocol=P), for P = 3, 4, 5."""
    out = {}
    for proto in PROTOCOLS:
        p = pickle.dumps(obj, protocol=proto)
        out[f"pickle{proto}"] = (struct.pack(">I", len(p)) + p).hex()
    return out


def aes_key(ss: bytes) -> bytes:
    """HKDF-SHA256(ikm = ss, salt = none, info = "ml-kem-aesgcm-v1", 32 bytes)."""
    return HKDF(hashes.SHA256(), 32, None, HKDF_INFO).derive(ss)


def message(alg: str, ek: bytes, dk: bytes, seed: bytes, i: int, plaintext: str, aad: bytes) -> dict:
    m = shake256(f"{alg} encaps {i}", 32)
    ss, kem_ct = mlkem.encaps_internal(alg, ek, m)
    if mlkem.can_cross_check(alg) and mlkem.cross_check(alg, seed, m) != (ek, ss, kem_ct):
        raise mlkem.Mismatch(f"{alg} message {i}: pyca/cryptography agrees on other values")
    key = aes_key(ss)
    nonce = shake256(f"{alg} nonce {i}", 12)
    ct = AESGCM(key).encrypt(nonce, plaintext.encode(), aad)
    bundle = {"kem_ciphertext": kem_ct, "nonce": nonce, "ciphertext": ct, "aad": aad}
    fr = frames(bundle)

    # The receiving side, as the demo's server does it, on every frame.
    for hx in fr.values():
        b = bytes.fromhex(hx)
        (n,) = struct.unpack(">I", b[:4])
        assert n == len(b) - 4
        got = pickle.loads(b[4:])  # our own bytes, never a peer's
        assert list(got) == ["kem_ciphertext", "nonce", "ciphertext", "aad"]
        k = aes_key(mlkem.decaps(alg, dk, got["kem_ciphertext"]))
        assert AESGCM(k).decrypt(got["nonce"], got["ciphertext"], got["aad"]).decode() == plaintext

    return {
        "plaintext": plaintext,
        "aad": aad.hex(),
        "encaps_seed": m.hex(),
        "kem_ciphertext": kem_ct.hex(),
        "shared_secret": ss.hex(),
        "aes_key": key.hex(),
        "nonce": nonce.hex(),
        "ciphertext": ct.hex(),
        "frames": fr,
    }


def vector(alg: str) -> dict:
    seed = shake256(f"{alg} keypair seed", mlkem.SEED_SIZE)
    ek, dk = mlkem.keygen(alg, seed)
    for proto in PROTOCOLS:
        b = bytes.fromhex(frames(ek)[f"pickle{proto}"])
        assert pickle.loads(b[4:]) == ek
    return {
        "alg": alg,
        "keypair_seed": seed.hex(),
        "ek": ek.hex(),
        "dk": dk.hex(),
        "public_key_frames": frames(ek),
        "messages": [message(alg, ek, dk, seed, i, pt, aad) for i, (pt, aad) in enumerate(MESSAGES)],
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUT.json", file=sys.stderr)
        return 2
    doc = {"description": DESCRIPTION, "liboqs": LIBOQS, "vectors": [vector(alg) for alg in ALGS]}
    with open(argv[1], "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
