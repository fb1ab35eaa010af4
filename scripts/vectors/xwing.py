"""X-Wing, the hybrid KEM of draft-connolly-cfrg-xwing-kem, for test vectors.

Written from the draft's section "X-Wing Construction", as the editor's
copy has it at commit 9b6ce9e (2026-03-02) of
github.com/dconnolly/draft-connolly-cfrg-xwing-kem: ML-KEM-768 from
mlkem.py, X25519 (RFC 7748), SHA3-256 and SHAKE256 (FIPS 202) from
pyca/cryptography. Slow and not constant-time: for test vectors only.

API (all byte strings):

    generate_key_pair_derand(sk)         -> (sk, pk)    sk 32 bytes, pk 1216
    expand_decapsulation_key(sk)         -> (sk_M, sk_X, pk_M, pk_X)
    encapsulate_derand(pk, eseed)        -> (ss, ct)    eseed 64 bytes, ct 1120
    decapsulate(ct, sk)                  -> ss
    combiner(ss_M, ss_X, ct_X, pk_X)     -> ss

Run it (python3 xwing.py) to check it against the draft's test vectors in
testdata/xwing-test-vectors.json.
"""
import os
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlkem  # noqa: E402

ALG_M = "ML-KEM-768"
SK_SIZE = 32
PK_SIZE = 1216  # 1184 + 32
CT_SIZE = 1120  # 1088 + 32
ESEED_SIZE = 64
SS_SIZE = 32
XWING_LABEL = b"\\.//^\\"  # 5c2e2f2f5e5c, "\./" || "/^\"

_PK_M = mlkem.PARAMS[ALG_M].ek_size
_CT_M = mlkem.PARAMS[ALG_M].ct_size
assert _PK_M + 32 == PK_SIZE and _CT_M + 32 == CT_SIZE
assert XWING_LABEL.hex() == "5c2e2f2f5e5c"


def _shake256(data: bytes, n: int) -> bytes:
    x = hashes.XOFHash(hashes.SHAKE256(digest_size=n))
    x.update(data)
    return x.squeeze(n)


def _sha3_256(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SHA3_256())
    h.update(data)
    return h.finalize()


def _x25519(k: bytes, u: bytes) -> bytes:
    """X25519(k, u) of RFC 7748 section 5."""
    return X25519PrivateKey.from_private_bytes(k).exchange(X25519PublicKey.from_public_bytes(u))


def _x25519_base(k: bytes) -> bytes:
    """X25519(k, X25519_BASE)."""
    return X25519PrivateKey.from_private_bytes(k).public_key().public_bytes_raw()


def expand_decapsulation_key(sk: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """expandDecapsulationKey: returns (sk_M, sk_X, pk_M, pk_X)."""
    if len(sk) != SK_SIZE:
        raise ValueError(f"X-Wing decapsulation key is {len(sk)} bytes, want {SK_SIZE}")
    expanded = _shake256(sk, 96)  # SHAKE256(sk, 96*8): 96 bytes
    pk_m, sk_m = mlkem.keygen_internal(ALG_M, expanded[0:32], expanded[32:64])
    sk_x = expanded[64:96]
    pk_x = _x25519_base(sk_x)
    return sk_m, sk_x, pk_m, pk_x


def generate_key_pair_derand(sk: bytes) -> tuple[bytes, bytes]:
    """GenerateKeyPairDerand: returns (sk, pk), pk = pk_M || pk_X."""
    _, _, pk_m, pk_x = expand_decapsulation_key(sk)
    return sk, pk_m + pk_x


def combiner(ss_m: bytes, ss_x: bytes, ct_x: bytes, pk_x: bytes) -> bytes:
    """Combiner: SHA3-256(ss_M || ss_X || ct_X || pk_X || XWingLabel)."""
    return _sha3_256(ss_m + ss_x + ct_x + pk_x + XWING_LABEL)


def encapsulate_derand(pk: bytes, eseed: bytes) -> tuple[bytes, bytes]:
    """EncapsulateDerand: returns (ss, ct), ct = ct_M || ct_X. Raises
    ValueError if pk_M fails the FIPS 203 section 7.2 checks."""
    if len(pk) != PK_SIZE:
        raise ValueError(f"X-Wing encapsulation key is {len(pk)} bytes, want {PK_SIZE}")
    if len(eseed) != ESEED_SIZE:
        raise ValueError(f"eseed is {len(eseed)} bytes, want {ESEED_SIZE}")
    pk_m, pk_x = pk[:_PK_M], pk[_PK_M:]
    ek_x = eseed[32:64]
    ct_x = _x25519_base(ek_x)
    ss_x = _x25519(ek_x, pk_x)
    ss_m, ct_m = mlkem.encaps_internal(ALG_M, pk_m, eseed[0:32])
    return combiner(ss_m, ss_x, ct_x, pk_x), ct_m + ct_x


def decapsulate(ct: bytes, sk: bytes) -> bytes:
    """Decapsulate: returns ss."""
    if len(ct) != CT_SIZE:
        raise ValueError(f"X-Wing ciphertext is {len(ct)} bytes, want {CT_SIZE}")
    sk_m, sk_x, _, pk_x = expand_decapsulation_key(sk)
    ct_m, ct_x = ct[:_CT_M], ct[_CT_M:]
    ss_m = mlkem.decaps(ALG_M, sk_m, ct_m)
    ss_x = _x25519(sk_x, ct_x)
    return combiner(ss_m, ss_x, ct_x, pk_x)


def check_vectors(path: str) -> int:
    """Checks every vector of the draft's test-vectors.json; returns how many."""
    import json

    with open(path) as f:
        vectors = json.load(f)
    for i, v in enumerate(vectors):
        b = {k: bytes.fromhex(x) for k, x in v.items()}
        sk, pk = generate_key_pair_derand(b["seed"])
        if sk != b["sk"] or pk != b["pk"]:
            raise mlkem.Mismatch(f"X-Wing vector {i}: key pair differs")
        ss, ct = encapsulate_derand(pk, b["eseed"])
        if ct != b["ct"] or ss != b["ss"]:
            raise mlkem.Mismatch(f"X-Wing vector {i}: encapsulation differs")
        if decapsulate(ct, sk) != b["ss"]:
            raise mlkem.Mismatch(f"X-Wing vector {i}: decapsulation differs")
    return len(vectors)


if __name__ == "__main__":
    p = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata", "xwing-test-vectors.json")
    print(f"X-Wing: {check_vectors(p)} draft test vectors pass")
