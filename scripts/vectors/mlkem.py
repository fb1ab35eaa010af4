"""ML-KEM (FIPS 203) in pure Python, for making test vectors.

Written from the standard, NIST FIPS 203 (August 13, 2024): section 4
(auxiliary algorithms), 5 (K-PKE), 6 (ML-KEM internal algorithms) and 7
(the input checks of 7.2 and 7.3). Hashes come from pyca/cryptography
(SHA3-256, SHA3-512, SHAKE128, SHAKE256: section 4.1).

It is slow, not constant-time, and meant only for test vectors: never use
it to protect anything.

API (alg is "ML-KEM-512", "ML-KEM-768" or "ML-KEM-1024"):

    keygen(alg, seed)              -> (ek, dk)   seed = d || z, 64 bytes
    keygen_internal(alg, d, z)     -> (ek, dk)   Algorithm 16
    encaps_internal(alg, ek, m)    -> (K, c)     Algorithm 17, m 32 bytes
    decaps(alg, dk, c)             -> K          Algorithm 18 (after the 7.3 checks)
    check_ek(alg, ek), check_dk(alg, dk), check_ct(alg, c)   raise ValueError
    cross_check(alg, seed, m)      compares with pyca/cryptography (768, 1024 only)
    can_cross_check(alg)           whether pyca/cryptography has alg
    PARAMS[alg]                    Params: k, eta1, eta2, du, dv and the sizes

Run it (python3 mlkem.py) to check it against pyca/cryptography.
"""
from typing import NamedTuple

from cryptography.hazmat.primitives import hashes

Q = 3329  # FIPS 203 section 2.4
N = 256


class Params(NamedTuple):
    """A parameter set of FIPS 203 section 8, Table 2."""

    name: str
    k: int
    eta1: int
    eta2: int
    du: int
    dv: int

    @property
    def ek_size(self) -> int:
        return 384 * self.k + 32

    @property
    def dk_size(self) -> int:
        return 768 * self.k + 96

    @property
    def ct_size(self) -> int:
        return 32 * (self.du * self.k + self.dv)


PARAMS = {
    p.name: p
    for p in (
        Params("ML-KEM-512", 2, 3, 2, 10, 4),
        Params("ML-KEM-768", 3, 2, 2, 10, 4),
        Params("ML-KEM-1024", 4, 2, 2, 11, 5),
    )
}

SHARED_KEY_SIZE = 32
SEED_SIZE = 64


class Mismatch(Exception):
    """This implementation and pyca/cryptography disagree."""


def params(alg: str) -> Params:
    try:
        return PARAMS[alg]
    except KeyError:
        raise ValueError(f"unknown ML-KEM parameter set {alg!r}") from None


# --- Hash functions, section 4.1 -------------------------------------------

def _digest(algorithm, data: bytes) -> bytes:
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize()


def _shake(algorithm, data: bytes, n: int) -> bytes:
    x = hashes.XOFHash(algorithm(digest_size=n))
    x.update(data)
    return x.squeeze(n)


def H(s: bytes) -> bytes:
    return _digest(hashes.SHA3_256(), s)


def G(c: bytes) -> tuple[bytes, bytes]:
    out = _digest(hashes.SHA3_512(), c)
    return out[:32], out[32:]


def J(s: bytes) -> bytes:
    return _shake(hashes.SHAKE256, s, 32)


def PRF(eta: int, s: bytes, b: int) -> bytes:
    return _shake(hashes.SHAKE256, s + bytes([b]), 64 * eta)


# --- Encoding, section 4.2.1 -----------------------------------------------

def byte_encode(f: list[int], d: int) -> bytes:
    """ByteEncode_d (Algorithm 5): 256 d-bit integers, least significant bit first."""
    v = 0
    for i in reversed(range(N)):
        v = (v << d) | f[i]
    return v.to_bytes(32 * d, "little")


def byte_decode(b: bytes, d: int) -> list[int]:
    """ByteDecode_d (Algorithm 6); for d = 12 the integers are reduced mod q."""
    assert len(b) == 32 * d
    v = int.from_bytes(b, "little")
    mask = (1 << d) - 1
    m = Q if d == 12 else 1 << d
    return [((v >> (d * i)) & mask) % m for i in range(N)]


def compress(x: int, d: int) -> int:
    """Compress_d (section 4.2.1, eq. 4.7): round(2^d / q * x) mod 2^d."""
    return (((x << d) + (Q - 1) // 2) // Q) & ((1 << d) - 1)


def decompress(y: int, d: int) -> int:
    """Decompress_d (eq. 4.8): round(q / 2^d * y), rounding halves up."""
    return (y * Q + (1 << (d - 1))) >> d


# --- Sampling, section 4.2.2 -----------------------------------------------

def sample_ntt(b: bytes) -> list[int]:
    """SampleNTT (Algorithm 7): rejection sampling from SHAKE128(b)."""
    xof = hashes.XOFHash(hashes.SHAKE128(digest_size=1 << 62))
    xof.update(b)
    a: list[int] = []
    while len(a) < N:
        c = xof.squeeze(168)  # one SHAKE128 block; 168 is a multiple of 3
        for i in range(0, 168, 3):
            d1 = c[i] + 256 * (c[i + 1] % 16)
            d2 = c[i + 1] // 16 + 16 * c[i + 2]
            if d1 < Q:
                a.append(d1)
            if d2 < Q and len(a) < N:
                a.append(d2)
            if len(a) == N:
                break
    return a


def sample_poly_cbd(b: bytes, eta: int) -> list[int]:
    """SamplePolyCBD_eta (Algorithm 8)."""
    assert len(b) == 64 * eta
    v = int.from_bytes(b, "little")
    lo = (1 << eta) - 1
    f = []
    for i in range(N):
        chunk = v >> (2 * eta * i)
        x = (chunk & lo).bit_count()
        y = ((chunk >> eta) & lo).bit_count()
        f.append((x - y) % Q)
    return f


# --- NTT, section 4.3 ------------------------------------------------------

def _bitrev7(i: int) -> int:
    return int(f"{i:07b}"[::-1], 2)


ZETAS = [pow(17, _bitrev7(i), Q) for i in range(128)]  # 17^BitRev7(i)
GAMMAS = [pow(17, 2 * _bitrev7(i) + 1, Q) for i in range(128)]  # 17^(2BitRev7(i)+1)
N_INV = pow(128, -1, Q)  # 3303


def ntt(f: list[int]) -> list[int]:
    """NTT (Algorithm 9)."""
    f = list(f)
    i = 1
    length = 128
    while length >= 2:
        for start in range(0, N, 2 * length):
            zeta = ZETAS[i]
            i += 1
            for j in range(start, start + length):
                t = zeta * f[j + length] % Q
                f[j + length] = (f[j] - t) % Q
                f[j] = (f[j] + t) % Q
        length //= 2
    return f


def ntt_inv(f: list[int]) -> list[int]:
    """NTT^-1 (Algorithm 10)."""
    f = list(f)
    i = 127
    length = 2
    while length <= 128:
        for start in range(0, N, 2 * length):
            zeta = ZETAS[i]
            i -= 1
            for j in range(start, start + length):
                t = f[j]
                f[j] = (t + f[j + length]) % Q
                f[j + length] = zeta * (f[j + length] - t) % Q
        length *= 2
    return [x * N_INV % Q for x in f]


def multiply_ntts(f: list[int], g: list[int]) -> list[int]:
    """MultiplyNTTs (Algorithm 11) with BaseCaseMultiply (Algorithm 12)."""
    h = [0] * N
    for i in range(128):
        a0, a1, b0, b1 = f[2 * i], f[2 * i + 1], g[2 * i], g[2 * i + 1]
        h[2 * i] = (a0 * b0 + a1 * b1 * GAMMAS[i]) % Q
        h[2 * i + 1] = (a0 * b1 + a1 * b0) % Q
    return h


def _add(f: list[int], g: list[int]) -> list[int]:
    return [(a + b) % Q for a, b in zip(f, g)]


def _sub(f: list[int], g: list[int]) -> list[int]:
    return [(a - b) % Q for a, b in zip(f, g)]


def _dot(u: list[list[int]], v: list[list[int]]) -> list[int]:
    """The NTT-domain inner product sum_j u[j] * v[j] (section 2.4.7)."""
    acc = [0] * N
    for a, b in zip(u, v):
        acc = _add(acc, multiply_ntts(a, b))
    return acc


def _matrix(p: Params, rho: bytes, transpose: bool) -> list[list[list[int]]]:
    """A_hat[i][j] = SampleNTT(rho || j || i) (Algorithm 13 lines 3-7, 14 lines 4-8)."""
    a = [[sample_ntt(rho + bytes([j, i])) for j in range(p.k)] for i in range(p.k)]
    if transpose:
        a = [[a[j][i] for j in range(p.k)] for i in range(p.k)]
    return a


# --- K-PKE, section 5 ------------------------------------------------------

def _kpke_keygen(p: Params, d: bytes) -> tuple[bytes, bytes]:
    """K-PKE.KeyGen (Algorithm 13): returns (ek_PKE, dk_PKE)."""
    rho, sigma = G(d + bytes([p.k]))
    a = _matrix(p, rho, transpose=False)
    n = 0
    s = []
    for _ in range(p.k):
        s.append(sample_poly_cbd(PRF(p.eta1, sigma, n), p.eta1))
        n += 1
    e = []
    for _ in range(p.k):
        e.append(sample_poly_cbd(PRF(p.eta1, sigma, n), p.eta1))
        n += 1
    s_hat = [ntt(x) for x in s]
    e_hat = [ntt(x) for x in e]
    t_hat = [_add(_dot(a[i], s_hat), e_hat[i]) for i in range(p.k)]
    ek = b"".join(byte_encode(t, 12) for t in t_hat) + rho
    dk = b"".join(byte_encode(x, 12) for x in s_hat)
    return ek, dk


def _kpke_encrypt(p: Params, ek: bytes, m: bytes, r: bytes) -> bytes:
    """K-PKE.Encrypt (Algorithm 14)."""
    t_hat = [byte_decode(ek[384 * i:384 * (i + 1)], 12) for i in range(p.k)]
    rho = ek[384 * p.k:]
    a_t = _matrix(p, rho, transpose=True)
    n = 0
    y = []
    for _ in range(p.k):
        y.append(sample_poly_cbd(PRF(p.eta1, r, n), p.eta1))
        n += 1
    e1 = []
    for _ in range(p.k):
        e1.append(sample_poly_cbd(PRF(p.eta2, r, n), p.eta2))
        n += 1
    e2 = sample_poly_cbd(PRF(p.eta2, r, n), p.eta2)
    y_hat = [ntt(x) for x in y]
    u = [_add(ntt_inv(_dot(a_t[i], y_hat)), e1[i]) for i in range(p.k)]
    mu = [decompress(b, 1) for b in byte_decode(m, 1)]
    v = _add(_add(ntt_inv(_dot(t_hat, y_hat)), e2), mu)
    c1 = b"".join(byte_encode([compress(x, p.du) for x in ui], p.du) for ui in u)
    c2 = byte_encode([compress(x, p.dv) for x in v], p.dv)
    return c1 + c2


def _kpke_decrypt(p: Params, dk: bytes, c: bytes) -> bytes:
    """K-PKE.Decrypt (Algorithm 15)."""
    c1, c2 = c[:32 * p.du * p.k], c[32 * p.du * p.k:]
    u = [[decompress(x, p.du) for x in byte_decode(c1[32 * p.du * i:32 * p.du * (i + 1)], p.du)]
         for i in range(p.k)]
    v = [decompress(x, p.dv) for x in byte_decode(c2, p.dv)]
    s_hat = [byte_decode(dk[384 * i:384 * (i + 1)], 12) for i in range(p.k)]
    w = _sub(v, ntt_inv(_dot(s_hat, [ntt(x) for x in u])))
    return byte_encode([compress(x, 1) for x in w], 1)


# --- Input checks, section 7.2 and 7.3 -------------------------------------

def check_ek(alg: str, ek: bytes) -> None:
    """The encapsulation key checks of section 7.2: length and modulus."""
    p = params(alg)
    if len(ek) != p.ek_size:
        raise ValueError(f"{alg}: encapsulation key is {len(ek)} bytes, want {p.ek_size}")
    for i in range(p.k):
        chunk = ek[384 * i:384 * (i + 1)]
        if byte_encode(byte_decode(chunk, 12), 12) != chunk:
            raise ValueError(f"{alg}: encapsulation key fails the modulus check")


def check_ct(alg: str, c: bytes) -> None:
    """The ciphertext length check of section 7.3."""
    p = params(alg)
    if len(c) != p.ct_size:
        raise ValueError(f"{alg}: ciphertext is {len(c)} bytes, want {p.ct_size}")


def check_dk(alg: str, dk: bytes) -> None:
    """The decapsulation key checks of section 7.3: length and hash."""
    p = params(alg)
    if len(dk) != p.dk_size:
        raise ValueError(f"{alg}: decapsulation key is {len(dk)} bytes, want {p.dk_size}")
    if H(dk[384 * p.k:768 * p.k + 32]) != dk[768 * p.k + 32:768 * p.k + 64]:
        raise ValueError(f"{alg}: decapsulation key fails the hash check")


# --- ML-KEM internal algorithms, section 6 ---------------------------------

def keygen_internal(alg: str, d: bytes, z: bytes) -> tuple[bytes, bytes]:
    """ML-KEM.KeyGen_internal (Algorithm 16): returns (ek, dk)."""
    p = params(alg)
    if len(d) != 32 or len(z) != 32:
        raise ValueError("d and z must be 32 bytes each")
    ek_pke, dk_pke = _kpke_keygen(p, d)
    return ek_pke, dk_pke + ek_pke + H(ek_pke) + z


def keygen(alg: str, seed: bytes) -> tuple[bytes, bytes]:
    """keygen_internal from the 64-byte seed d || z (the seed form of a
    decapsulation key, as pyca/cryptography's from_seed_bytes and liboqs's
    OQS_KEM_keypair_derand take it): returns (ek, dk)."""
    if len(seed) != SEED_SIZE:
        raise ValueError(f"seed is {len(seed)} bytes, want {SEED_SIZE}")
    return keygen_internal(alg, seed[:32], seed[32:])


def encaps_internal(alg: str, ek: bytes, m: bytes) -> tuple[bytes, bytes]:
    """ML-KEM.Encaps_internal (Algorithm 17) after the section 7.2 checks:
    returns (K, c), the shared key and the ciphertext."""
    p = params(alg)
    check_ek(alg, ek)
    if len(m) != 32:
        raise ValueError("m must be 32 bytes")
    k, r = G(m + H(ek))
    return k, _kpke_encrypt(p, ek, m, r)


def decaps(alg: str, dk: bytes, c: bytes) -> bytes:
    """ML-KEM.Decaps_internal (Algorithm 18) after the section 7.3 checks:
    returns the shared key K (the implicit-rejection key on a bad c)."""
    p = params(alg)
    check_dk(alg, dk)
    check_ct(alg, c)
    dk_pke = dk[:384 * p.k]
    ek_pke = dk[384 * p.k:768 * p.k + 32]
    h = dk[768 * p.k + 32:768 * p.k + 64]
    z = dk[768 * p.k + 64:]
    m2 = _kpke_decrypt(p, dk_pke, c)
    k2, r2 = G(m2 + h)
    k_bar = J(z + c)
    c2 = _kpke_encrypt(p, ek_pke, m2, r2)
    return k2 if c == c2 else k_bar


# --- Cross-check against pyca/cryptography --------------------------------

def _pyca_class(alg: str):
    from cryptography.hazmat.primitives.asymmetric import mlkem as pyca
    return {"ML-KEM-768": getattr(pyca, "MLKEM768PrivateKey", None),
            "ML-KEM-1024": getattr(pyca, "MLKEM1024PrivateKey", None)}.get(alg)


def can_cross_check(alg: str) -> bool:
    """Whether pyca/cryptography implements alg (it has no ML-KEM-512)."""
    return _pyca_class(alg) is not None


def cross_check(alg: str, seed: bytes, m: bytes) -> tuple[bytes, bytes, bytes]:
    """Checks this implementation against pyca/cryptography for the key pair
    of seed and the encapsulation with m: the same ek from the same seed,
    pyca's decapsulation of our ciphertext gives our K, and our
    decapsulation of a pyca ciphertext gives pyca's K. Raises Mismatch;
    returns the (ek, K, c) both agree on."""
    cls = _pyca_class(alg)
    if cls is None:
        raise ValueError(f"pyca/cryptography has no {alg}")
    ek, dk = keygen(alg, seed)
    priv = cls.from_seed_bytes(seed)
    if priv.public_key().public_bytes_raw() != ek:
        raise Mismatch(f"{alg}: ek from seed {seed.hex()} differs from pyca/cryptography's")
    k, c = encaps_internal(alg, ek, m)
    if priv.decapsulate(c) != k:
        raise Mismatch(f"{alg}: pyca/cryptography decapsulates our ciphertext (m {m.hex()}) to another key")
    k_pyca, c_pyca = priv.public_key().encapsulate()
    if decaps(alg, dk, c_pyca) != k_pyca:
        raise Mismatch(f"{alg}: we decapsulate a pyca/cryptography ciphertext to another key")
    if decaps(alg, dk, c) != k:
        raise Mismatch(f"{alg}: we do not decapsulate our own ciphertext")
    return ek, k, c


if __name__ == "__main__":
    import os

    for name in PARAMS:
        s, msg = os.urandom(64), os.urandom(32)
        if can_cross_check(name):
            cross_check(name, s, msg)
            print(f"{name}: agrees with pyca/cryptography")
        else:
            e, d = keygen(name, s)
            key, ct = encaps_internal(name, e, msg)
            assert decaps(name, d, ct) == key
            print(f"{name}: round trip (pyca/cryptography has no {name})")
