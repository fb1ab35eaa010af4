#!/usr/bin/env python3
"""Makes app/session/testdata/session-v2.json, byte for byte.

Known answers for version 2 of the kemtcp session protocol
(app/session/PROTOCOL.md), for ML-KEM-512, -768, -1024 (FIPS 203) and
X-Wing (draft-connolly-cfrg-xwing-kem), each in two handshakes:

- "no client key": a version-1 ServerHello (a server that does not require
  client keys sends version 1) answered by a version-2 ClientHello;
- "client key": a version-2 ServerHello with flag 0x01, the CLIENT_KEY and
  CLIENT_CIPHERTEXT handshake records under hs_c / hs_s, th2 and master,
  and the REFUSED record a server that does not know the key sends instead.

Then, for each, the version-2 key schedule (traffic secrets, keys, one key
update, the exporter secret), a short conversation of AES-256-GCM records
(both FINISHED, DATA, KEY_UPDATE, CLOSE with and without a reason) and four
exporter outputs.

Unlike session-v1.json, the keys and ciphertexts are real: every key pair
comes from a seed (ML-KEM: KeyGen_internal of the 64-byte d || z; X-Wing:
its 32-byte decapsulation key) and every encapsulation is derandomized
(ML-KEM: the 32-byte m; X-Wing: the 64-byte eseed). Those seeds are
SHAKE256 of an ASCII label, cut to size, and are written into the file:

    server_static_seed     SHAKE256("<alg> server_static_seed")
    server_ephemeral_seed  SHAKE256("<alg> server_ephemeral_seed")
    client_key_seed        SHAKE256("<alg> client_key_seed")
    encaps_seed_X          SHAKE256("<alg> <case name> encaps_seed_X"), X = s, e, c

ML-KEM and X-Wing come from mlkem.py and xwing.py. Before it writes
anything the script checks: xwing.py against the draft's test vectors;
ML-KEM-768 and -1024 key pairs and ciphertexts against pyca/cryptography;
every ciphertext decapsulates to its shared secret; every record opens;
and its own transcript hash, HKDF and record sealing reproduce
gen_session_v1.py's version-1 vectors (the part of the key schedule the
two versions share).

    python3 scripts/vectors/gen_session_v2.py OUT.json

Needs Python 3 and pyca/cryptography 48 or later; independent of the Go code.
"""
import json
import os
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_session_v1  # noqa: E402
import mlkem  # noqa: E402
import xwing  # noqa: E402

# The version of pyca/cryptography that made the committed file; the output
# does not depend on it (every value is deterministic), so it is a constant,
# as in gen_session_v1.py.
GENERATOR = "scripts/vectors/gen_session_v2.py (pyca/cryptography 48.0.0)"
DESCRIPTION = (
    "kemtcp session protocol v2 known answers (see PROTOCOL.md): for each KEM, "
    "a handshake without a client key (version-1 ServerHello, version-2 ClientHello) "
    "and one with a client key (version-2 ServerHello, flags 01, CLIENT_KEY and "
    "CLIENT_CIPHERTEXT under hs_c/hs_s, REFUSED as the alternative), the key "
    "schedule with one c2s key update, a short record conversation and exporter "
    "outputs. Key pairs come from the recorded seeds (ML-KEM: KeyGen_internal(d, z) "
    "of the 64-byte d||z; X-Wing: the 32-byte decapsulation key), encapsulations "
    "from the recorded derandomized inputs (ML-KEM: m; X-Wing: eseed). Each seed is "
    "SHAKE256 of the ASCII label '<alg> <field>' (encapsulation seeds: "
    "'<alg> <case name> <field>'), cut to size. Records are the frame payload "
    "(ciphertext || tag) without the 4-byte length."
)

MAGIC = b"KEMTCP"
FLAG_CLIENT_KEY = 0x01
FINISHED, DATA, CLOSE, KEY_UPDATE, CLIENT_KEY, CLIENT_CIPHERTEXT, REFUSED = 1, 2, 3, 4, 5, 6, 7
REFUSED_NOT_AUTHORIZED = 0x01
CLOSE_SHUTTING_DOWN = 0x01

# PROTOCOL.md labels.
L_HS_C = "kemtcp v2 client handshake"
L_HS_S = "kemtcp v2 server handshake"
L_TS_C2S = "kemtcp v2 client to server"
L_TS_S2C = "kemtcp v2 server to client"
L_KEY = "kemtcp v2 key"
L_UPDATE = "kemtcp v2 key update"
L_EXPORTER = "kemtcp v2 exporter"
L_EXPORT_PREFIX = b"kemtcp exporter "

EXPORT_LABEL = "EXPERIMENTAL kemtcp test"
EXPORT_CONTEXTS = [None, b"context"]  # None: absent, the same as empty
EXPORT_LENGTHS = [32, 100]

CASES = ["no client key", "client key"]

# The conversation after the handshake: (direction, key index, type, body).
# Sequence numbers follow from the order (each key counts from 0, so they
# restart after the key update); case() checks them against EXPECTED_SEQS.
CONVERSATION = [
    ("s2c", 0, FINISHED, b""),
    ("c2s", 0, FINISHED, b""),
    ("c2s", 0, DATA, b"hello"),
    ("c2s", 0, DATA, b""),
    ("c2s", 0, KEY_UPDATE, b""),
    ("c2s", 1, DATA, b"after update"),
    ("s2c", 0, DATA, b"reply"),
    ("s2c", 0, CLOSE, bytes([CLOSE_SHUTTING_DOWN])),
    ("c2s", 1, CLOSE, b""),
]
EXPECTED_SEQS = [0, 0, 1, 2, 3, 0, 1, 2, 1]


class MLKEM:
    def __init__(self, alg: str, kem_id: int):
        self.alg, self.kem_id = alg, kem_id
        p = mlkem.PARAMS[alg]
        self.seed_size, self.encaps_seed_size = mlkem.SEED_SIZE, 32
        self.ek_size, self.ct_size = p.ek_size, p.ct_size

    def keygen(self, seed: bytes) -> tuple[bytes, bytes]:
        """(ek, dk) = KeyGen_internal(d, z), seed = d || z."""
        return mlkem.keygen(self.alg, seed)

    def encaps(self, ek: bytes, m: bytes) -> tuple[bytes, bytes]:
        """(ss, ct) = Encaps_internal(ek, m), after the FIPS 203 7.2 checks."""
        return mlkem.encaps_internal(self.alg, ek, m)

    def decaps(self, dk: bytes, ct: bytes) -> bytes:
        return mlkem.decaps(self.alg, dk, ct)

    def cross_check(self, seed: bytes, m: bytes, ek: bytes, ss: bytes, ct: bytes) -> None:
        """The same (ek, ss, ct) from pyca/cryptography, where it has alg."""
        if mlkem.can_cross_check(self.alg):
            if mlkem.cross_check(self.alg, seed, m) != (ek, ss, ct):
                raise mlkem.Mismatch(f"{self.alg}: cross-check returned other values")


class XWing:
    alg, kem_id = "X-Wing", 0x647A
    seed_size, encaps_seed_size = xwing.SK_SIZE, xwing.ESEED_SIZE
    ek_size, ct_size = xwing.PK_SIZE, xwing.CT_SIZE

    def keygen(self, seed: bytes) -> tuple[bytes, bytes]:
        """(pk, sk) = GenerateKeyPairDerand(seed); sk is the seed."""
        sk, pk = xwing.generate_key_pair_derand(seed)
        return pk, sk

    def encaps(self, ek: bytes, eseed: bytes) -> tuple[bytes, bytes]:
        return xwing.encapsulate_derand(ek, eseed)

    def decaps(self, dk: bytes, ct: bytes) -> bytes:
        return xwing.decapsulate(ct, dk)

    def cross_check(self, seed: bytes, m: bytes, ek: bytes, ss: bytes, ct: bytes) -> None:
        pass  # xwing.py is checked against the draft's vectors in main()


# PROTOCOL.md "Algorithms", in the file's order.
KEMS = [
    MLKEM("ML-KEM-512", 0x0200),
    MLKEM("ML-KEM-768", 0x0201),
    MLKEM("ML-KEM-1024", 0x0202),
    XWing(),
]


def shake256(label: str, n: int) -> bytes:
    x = hashes.XOFHash(hashes.SHAKE256(digest_size=n))
    x.update(label.encode("ascii"))
    return x.squeeze(n)


def sha256(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    return h.finalize()


def extract(salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract (RFC 5869 2.2) with SHA-256."""
    return HKDF.extract(hashes.SHA256(), salt, ikm)


def expand(prk: bytes, info, n: int) -> bytes:
    """Expand(k, label, n) of PROTOCOL.md: HKDF-Expand (RFC 5869 2.3),
    info = the label's ASCII bytes (or the given bytes)."""
    if isinstance(info, str):
        info = info.encode("ascii")
    return HKDFExpand(hashes.SHA256(), n, info).derive(prk)


def nonce(seq: int) -> bytes:
    """0x00000000 || seq (u64)."""
    return b"\x00" * 4 + struct.pack(">Q", seq)


def seal(key: bytes, seq: int, typ: int, body: bytes) -> bytes:
    """AES-256-GCM-Seal(key, nonce(seq), type || body, aad empty), checked by
    opening it again."""
    rec = AESGCM(key).encrypt(nonce(seq), bytes([typ]) + body, None)
    if AESGCM(key).decrypt(nonce(seq), rec, None) != bytes([typ]) + body:
        raise AssertionError("a record does not open")
    return rec


def server_hello(version: int, kem_id: int, flags: int, ek_s: bytes, ek_e: bytes) -> bytes:
    """Version 1: "KEMTCP" || 01 || kem_id || ek_s || ek_e;
    version 2: "KEMTCP" || 02 || kem_id || flags || ek_s || ek_e."""
    head = MAGIC + bytes([version]) + struct.pack(">H", kem_id)
    if version == 1:
        if flags:
            raise ValueError("version 1 has no flags")
        return head + ek_s + ek_e
    return head + bytes([flags]) + ek_s + ek_e


def client_hello(version: int, kem_id: int, ct_s: bytes, ct_e: bytes) -> bytes:
    """"KEMTCP" || version || kem_id || ct_s || ct_e (no flags in either version)."""
    return MAGIC + bytes([version]) + struct.pack(">H", kem_id) + ct_s + ct_e


def key_schedule_prk(sh: bytes, ch: bytes, ss_s: bytes, ss_e: bytes) -> tuple[bytes, bytes]:
    """th = SHA-256(ServerHello || ClientHello), prk = Extract(th, ss_e || ss_s)."""
    th = sha256(sh + ch)
    return th, extract(th, ss_e + ss_s)


def traffic(master: bytes, n: int, label: str) -> tuple[list[bytes], list[bytes]]:
    """ts[0] = Expand(master, label), ts[i+1] = Expand(ts[i], "kemtcp v2 key
    update"), key[i] = Expand(ts[i], "kemtcp v2 key"), for i < n."""
    ts = [expand(master, label, 32)]
    while len(ts) < n:
        ts.append(expand(ts[-1], L_UPDATE, 32))
    return ts, [expand(t, L_KEY, 32) for t in ts]


def export(exporter_secret: bytes, label: str, context, length: int) -> bytes:
    """secret = Expand(exporter_secret, "kemtcp exporter " || label, 32);
    output = Expand(secret, length (u16) || SHA-256(context), length); absent
    context = empty."""
    secret = expand(exporter_secret, L_EXPORT_PREFIX + label.encode("ascii"), 32)
    return expand(secret, length.to_bytes(2, "big") + sha256(context or b""), length)


def record(direction: str, key_index, seq: int, typ: int, body: bytes, rec: bytes) -> dict:
    return {
        "direction": direction,
        "key": key_index,
        "seq": seq,
        "type": typ,
        "body": body.hex(),
        "record": rec.hex(),
    }


class KeyPair:
    """A key pair and the seed it comes from."""

    def __init__(self, kem, seed: bytes):
        self.kem, self.seed = kem, seed
        self.ek, self.dk = kem.keygen(seed)
        if len(self.ek) != kem.ek_size:
            raise AssertionError(f"{kem.alg}: ek is {len(self.ek)} bytes, want {kem.ek_size}")

    def encaps(self, m: bytes) -> tuple[bytes, bytes]:
        """(ss, ct) = Encaps(ek, m), checked: ct decapsulates to ss with dk,
        and pyca/cryptography, where it has the KEM, agrees."""
        ss, ct = self.kem.encaps(self.ek, m)
        if len(ct) != self.kem.ct_size or len(ss) != 32:
            raise AssertionError(f"{self.kem.alg}: ct {len(ct)} bytes, ss {len(ss)}")
        if self.kem.decaps(self.dk, ct) != ss:
            raise AssertionError(f"{self.kem.alg}: a ciphertext does not decapsulate")
        self.kem.cross_check(self.seed, m, self.ek, ss, ct)
        return ss, ct


def case(kem, name: str, static: KeyPair, ephemeral: KeyPair, client: KeyPair) -> dict:
    with_key = name == "client key"
    alg, kem_id = kem.alg, kem.kem_id
    seeds = {x: shake256(f"{alg} {name} encaps_seed_{x}", kem.encaps_seed_size)
             for x in (["s", "e", "c"] if with_key else ["s", "e"])}

    # Client: ServerHello in, Encaps to both server keys, ClientHello out.
    ek_s, ek_e, ek_c = static.ek, ephemeral.ek, client.ek
    sh = (server_hello(2, kem_id, FLAG_CLIENT_KEY, ek_s, ek_e) if with_key
          else server_hello(1, kem_id, 0, ek_s, ek_e))
    ss_s, ct_s = static.encaps(seeds["s"])
    ss_e, ct_e = ephemeral.encaps(seeds["e"])
    ch = client_hello(2, kem_id, ct_s, ct_e)
    th, prk = key_schedule_prk(sh, ch, ss_s, ss_e)
    if HKDF(hashes.SHA256(), 32, th, L_TS_C2S.encode()).derive(ss_e + ss_s) != expand(prk, L_TS_C2S, 32):
        raise AssertionError("HKDF extract-then-expand differs from HKDF")

    out = {
        "name": name,
        "server_hello": sh.hex(),
        "encaps_seed_s": seeds["s"].hex(),
        "encaps_seed_e": seeds["e"].hex(),
    }
    if with_key:
        out["encaps_seed_c"] = seeds["c"].hex()
    out.update({
        "client_hello": ch.hex(),
        "ss_s": ss_s.hex(),
        "ss_e": ss_e.hex(),
        "th": th.hex(),
        "prk": prk.hex(),
    })

    records = []
    if with_key:
        hs_c, hs_s = expand(prk, L_HS_C, 32), expand(prk, L_HS_S, 32)
        client_key_rec = seal(hs_c, 0, CLIENT_KEY, ek_c)
        # Server: opens CLIENT_KEY, encapsulates to ek_c.
        if AESGCM(hs_c).decrypt(nonce(0), client_key_rec, None) != bytes([CLIENT_KEY]) + ek_c:
            raise AssertionError("CLIENT_KEY does not open")
        ss_c, ct_c = client.encaps(seeds["c"])
        client_ct_rec = seal(hs_s, 0, CLIENT_CIPHERTEXT, ct_c)
        refused_rec = seal(hs_s, 0, REFUSED, bytes([REFUSED_NOT_AUTHORIZED]))
        th2 = sha256(sh + ch + ek_c + ct_c)
        master = extract(th2, prk + ss_c)
        out.update({
            "ek_c": ek_c.hex(),
            "hs_c": hs_c.hex(),
            "hs_s": hs_s.hex(),
            "ct_c": ct_c.hex(),
            "ss_c": ss_c.hex(),
            "th2": th2.hex(),
            "client_key_record": client_key_rec.hex(),
            "client_ciphertext_record": client_ct_rec.hex(),
            "refused_record": refused_rec.hex(),
        })
        records.append(record("c2s", "handshake", 0, CLIENT_KEY, ek_c, client_key_rec))
        records.append(record("s2c", "handshake", 0, CLIENT_CIPHERTEXT, ct_c, client_ct_rec))
    else:
        master = prk

    ts_c2s, key_c2s = traffic(master, 2, L_TS_C2S)
    ts_s2c, key_s2c = traffic(master, 1, L_TS_S2C)
    exporter_secret = expand(master, L_EXPORTER, 32)
    out.update({
        "master": master.hex(),
        "exporter_secret": exporter_secret.hex(),
        "ts_c2s": [t.hex() for t in ts_c2s],
        "ts_s2c": [t.hex() for t in ts_s2c],
        "key_c2s": [k.hex() for k in key_c2s],
        "key_s2c": [k.hex() for k in key_s2c],
    })

    keys = {"c2s": key_c2s, "s2c": key_s2c}
    seq = {("c2s", 0): 0, ("c2s", 1): 0, ("s2c", 0): 0}
    for (direction, n, typ, body), want_seq in zip(CONVERSATION, EXPECTED_SEQS):
        s = seq[(direction, n)]
        seq[(direction, n)] += 1
        if s != want_seq:
            raise AssertionError(f"conversation: {direction} key {n} seq {s}, want {want_seq}")
        records.append(record(direction, n, s, typ, body, seal(keys[direction][n], s, typ, body)))
    out["records"] = records

    out["exports"] = [
        {
            "label": EXPORT_LABEL,
            "context": None if ctx is None else ctx.hex(),
            "length": n,
            "output": export(exporter_secret, EXPORT_LABEL, ctx, n).hex(),
        }
        for ctx in EXPORT_CONTEXTS for n in EXPORT_LENGTHS
    ]
    return out


def vector(kem) -> dict:
    alg = kem.alg
    seeds = {f: shake256(f"{alg} {f}", kem.seed_size)
             for f in ("server_static_seed", "server_ephemeral_seed", "client_key_seed")}
    static = KeyPair(kem, seeds["server_static_seed"])
    ephemeral = KeyPair(kem, seeds["server_ephemeral_seed"])
    client = KeyPair(kem, seeds["client_key_seed"])
    return {
        "alg": alg,
        "kem_id": kem.kem_id,
        "server_static_seed": seeds["server_static_seed"].hex(),
        "server_ephemeral_seed": seeds["server_ephemeral_seed"].hex(),
        "client_key_seed": seeds["client_key_seed"].hex(),
        "cases": [case(kem, name, static, ephemeral, client) for name in CASES],
    }


def check_v1() -> None:
    """This script's transcript hash, HKDF and record sealing reproduce
    gen_session_v1.py's version-1 vectors."""
    for alg in gen_session_v1.KEMS:
        v = gen_session_v1.vector(alg)
        b = {k: bytes.fromhex(v[k]) for k in ("server_hello", "client_hello", "ss_s", "ss_e")}
        th, prk = key_schedule_prk(b["server_hello"], b["client_hello"], b["ss_s"], b["ss_e"])
        keys = {"c2s": expand(prk, "kemtcp v1 client to server", 32),
                "s2c": expand(prk, "kemtcp v1 server to client", 32)}
        if (th.hex(), prk.hex(), keys["c2s"].hex(), keys["s2c"].hex()) != (
                v["transcript_hash"], v["prk"], v["key_c2s"], v["key_s2c"]):
            raise AssertionError(f"{alg}: version-1 key schedule differs from gen_session_v1.py")
        for r in v["records"]:
            rec = seal(keys[r["direction"]], r["seq"], r["type"], bytes.fromhex(r["body"]))
            if rec.hex() != r["record"]:
                raise AssertionError(f"{alg}: version-1 record differs from gen_session_v1.py")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUT.json", file=sys.stderr)
        return 2
    xwing.check_vectors(os.path.join(HERE, "testdata", "xwing-test-vectors.json"))
    check_v1()
    doc = {
        "description": DESCRIPTION,
        "generator": GENERATOR,
        "vectors": [vector(kem) for kem in KEMS],
    }
    with open(argv[1], "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
