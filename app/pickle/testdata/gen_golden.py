#!/usr/bin/env python3
"""Makes golden.json.gz: pickles written by CPython's own pickle.dumps.

Run from this directory with CPython (3.11.7 made the committed file):

    python3 gen_golden.py

The Go tests never run Python; they read golden.json.gz. Each case has a
value spec (rebuilt by the Go test, see golden_test.go) and the bytes of
pickle.dumps(value, protocol=P) for P = 3, 4, 5, in hex. Cases marked
"refused" are pickles CPython writes that the Go decoder must refuse (they
use the memo GET opcodes), with the opcode name it must give.
"""
import gzip
import json
import pickle
import pickletools
import sys

USTR_ALPHABET = ["a", "b", "c", "\u00e9", "\u20ac", "\U0001d11e"]  # 1,1,1,2,3,4 UTF-8 bytes


def build(spec):
    """Builds the Python object a spec describes (mirrored in golden_test.go)."""
    (kind, arg), = spec.items()
    if kind == "bytes":  # patterned bytes: n bytes, byte i = (131*i + k) mod 256
        return bytes((131 * i + arg["k"]) & 0xFF for i in range(arg["n"]))
    if kind == "hex":
        return bytes.fromhex(arg)
    if kind == "str":
        return arg
    if kind == "astr":  # n ASCII letters from (i + k) mod 26
        return "".join(chr(ord("a") + (i + arg["k"]) % 26) for i in range(arg["n"]))
    if kind == "ustr":  # n code points cycling through USTR_ALPHABET from k
        return "".join(USTR_ALPHABET[(i + arg["k"]) % len(USTR_ALPHABET)] for i in range(arg["n"]))
    if kind == "dict":
        d = {}
        for k, v in arg:
            d[build(k)] = build(v)
        return d
    if kind == "gendict":  # n items: str(i) -> patterned bytes of length 2, k = i
        return {str(i): build({"bytes": {"n": 2, "k": i}}) for i in range(arg["n"])}
    raise ValueError(kind)


def B(n, k=0):
    return {"bytes": {"n": n, "k": k}}


def S(s):
    return {"str": s}


def bundle(kem, nonce, ct, aad):
    return {"dict": [[S("kem_ciphertext"), kem], [S("nonce"), nonce], [S("ciphertext"), ct], [S("aad"), aad]]}


CASES = {}
# bytes objects at every size boundary of the encoding and of framing
for n in (0, 1, 2, 3, 4, 5, 12, 255, 256, 1184, 65535 - 13, 65535, 65536, 70000, 140000):
    CASES[f"bytes_{n}"] = B(n, n)
# str objects (values of a dict, and alone)
for n in (0, 1, 255, 256, 65535, 65536, 70000):
    CASES[f"astr_{n}"] = {"astr": {"n": n, "k": 3}}
for n in (1, 6, 100, 20000):
    CASES[f"ustr_{n}"] = {"ustr": {"n": n, "k": 1}}
# dicts
CASES["dict_empty"] = {"dict": []}
CASES["dict_one"] = {"dict": [[S("a"), B(2)]]}
CASES["dict_bytes_key"] = {"dict": [[{"hex": "00ff"}, B(3)], [S("x"), B(4, 1)]]}
CASES["dict_long_key"] = {"dict": [[{"astr": {"n": 300, "k": 0}}, B(5)], [{"ustr": {"n": 90, "k": 2}}, B(6)]]}
CASES["dict_unicode_keys"] = {"dict": [[S("cl\u00e9"), B(1)], [S("\U0001d11e"), B(7)], [S(""), B(8)]]}
CASES["dict_nested"] = {"dict": [[S("outer"), {"dict": [[S("inner"), {"dict": [[S("x"), B(3)]]}], [S("y"), B(9)]]}], [S("z"), {"dict": []}]]}
CASES["dict_str_values"] = {"dict": [[S("s"), {"astr": {"n": 10, "k": 1}}], [S("t"), {"ustr": {"n": 7, "k": 0}}]]}
# the message bundle at the sizes of the three KEMs, empty and non-empty aad
for name, ct in (("512", 768), ("768", 1088), ("1024", 1568)):
    CASES[f"bundle_{name}"] = bundle(B(ct, 1), B(12, 2), B(47, 3), {"hex": ""})
    CASES[f"bundle_{name}_aad"] = bundle(B(ct, 1), B(12, 2), B(300, 3), B(18, 4))
# bundles whose values cross CPython's 64 KiB framing thresholds
for i, (a, b, c, d) in enumerate([
    (0, 255, 256, 65535),
    (65536, 12, 70000, 1),
    (30000, 30000, 30000, 10),  # a frame that fills up over several values
    (65530, 2, 3, 4),           # frame closed right after the first value
    (10, 65522, 1, 0),
    (30000, 40000, 0, 2),
    (65536, 65536, 65536, 65536),
    (21845, 21845, 21845, 21845),
]):
    CASES[f"bundle_sizes_{i}"] = bundle(B(a, 1), B(b, 2), B(c, 3), B(d, 4))
# {"a": 65522 + x bytes}: the frame reaches 64 KiB at the last SETITEM / STOP
for n in range(65518, 65528):
    CASES[f"dict_one_{n}"] = {"dict": [[S("a"), B(n)]]}
# {"a": n bytes, "bb": 3 bytes}: the frame reaches exactly 64 KiB before the
# second key, or before the second value, for some n
for n in range(65514, 65529):
    CASES[f"dict_two_{n}"] = {"dict": [[S("a"), B(n)], [S("bb"), B(3, 1)]]}
# a large value followed by 3, 4 and 5 bytes: frames around frameSizeMin
CASES["tail_3"] = {"dict": [[S("a"), B(70000)]]}
CASES["tail_4"] = {"dict": [[S("a"), {"dict": [[S("b"), B(70000)]]}]]}
CASES["tail_5"] = {"dict": [[S("a"), {"dict": [[S("b"), {"dict": [[S("c"), B(70000)]]}]]}]]}
# CPython batches dict items by 1000 (and writes an empty batch after 1000n)
for n in (2, 999, 1000, 1001, 2000, 2001):
    CASES[f"gendict_{n}"] = {"gendict": {"n": n}}
# memo indexes past 255: LONG_BINPUT in protocol 3
CASES["gendict_300"] = {"gendict": {"n": 300}}

# CPython writes these with memo references (b"" and one-byte bytes are
# shared objects); the Go decoder refuses the GET opcode.
REFUSED = {
    "shared_empty_bytes": ({"dict": [[S("nonce"), B(0)], [S("aad"), B(0)]]}, "BINGET"),
    "shared_one_byte": ({"dict": [[S("a"), {"hex": "41"}], [S("b"), {"hex": "41"}]]}, "BINGET"),
}


def main():
    out = {
        "generator": "gen_golden.py",
        "python": sys.version.split()[0],
        "implementation": "CPython pickle.dumps (the C _pickle module)",
        "cases": [],
    }
    for name, spec in CASES.items():
        obj = build(spec)
        out["cases"].append({
            "name": name,
            "value": spec,
            "pickles": {str(p): pickle.dumps(obj, protocol=p).hex() for p in (3, 4, 5)},
        })
    for name, (spec, opname) in REFUSED.items():
        obj = build(spec)
        out["cases"].append({
            "name": name,
            "value": spec,
            "refused": opname,
            "pickles": {str(p): pickle.dumps(obj, protocol=p).hex() for p in (3, 4, 5)},
        })
    # Every pickle must round-trip through CPython itself, and only the
    # refused cases may hold memo references.
    for c in out["cases"]:
        for h in c["pickles"].values():
            p = bytes.fromhex(h)
            assert pickle.loads(p) == build(c["value"])
            ops = {op.name for op, _, _ in pickletools.genops(p)}
            assert ("BINGET" in ops) == ("refused" in c), c["name"]
    with gzip.GzipFile("golden.json.gz", "wb", mtime=0) as f:
        f.write(json.dumps(out, indent=1).encode())


if __name__ == "__main__":
    main()
