// Package identity is how a kemtcp server proves who it is and how a client
// remembers it: server key files, fingerprints, pinning and known hosts.
//
// # Key files
//
// A server's static ML-KEM key pair lives in a PEM "PRIVATE KEY" file: a
// PKCS#8 OneAsymmetricKey (RFC 5958) holding the ML-KEM private key in the
// IETF LAMPS format of RFC 9935 (draft-ietf-lamps-kyber-certificates), with the
// NIST algorithm identifiers id-alg-ml-kem-512/768/1024 (2.16.840.1.101.3.4.4.1,
// .2, .3) and absent parameters. The privateKey OCTET STRING holds one of
//
//	ML-KEM-768-PrivateKey ::= CHOICE {
//	  seed [0] OCTET STRING (SIZE (64)),          -- DEFINITIONS IMPLICIT TAGS: 0x80 0x40
//	  expandedKey OCTET STRING (SIZE (2400)),     -- 0x04 0x82 0x09 0x60
//	  both SEQUENCE {                             -- 0x30 0x82 0x09 0xa6
//	    seed OCTET STRING (SIZE (64)),
//	    expandedKey OCTET STRING (SIZE (2400)) } }
//
// (the ASN.1 module X509-ML-KEM-2025 of the draft; sizes 1632 and 3168 for
// ML-KEM-512 and ML-KEM-1024). Section numbers cited in this package are
// those of the draft as of github.com/lamps-wg/kyber-certificates commit
// b013568 (Section 3 identifiers, 6 private key format, 8 consistency
// testing, Appendix C.4 bad keys). kemtcp writes the seed form, the 64-byte
// d||z of FIPS 203, Algorithm 16, as the RFC recommends, and reads all three.
// OpenSSL 3.5 writes the "both" form by default ("seed-priv" in its
// providers/implementations/encode_decode/ml_kem_codecs.c), wrapped as
// version 0 with no attributes and no publicKey field (PKCS8_pkey_set0 in
// encode_key2any.c); its "seed-only" and "priv-only" output formats are the
// seed and expandedKey forms. OpenSSL also reads and, on request
// (-provparam ml-kem.output_formats=bare-seed|bare-priv), writes two
// pre-standard forms in which the privateKey OCTET STRING holds the raw
// 64-byte seed or the raw expanded key with no inner tag; no well-formed DER
// form has their lengths, so they are read too (FormBareSeed,
// FormBareExpanded). A field of such a length that is itself one whole DER
// element of the CHOICE, e.g. a seed [0] of 62 bytes (64 bytes with its
// header), is malformed, not bare, and is refused: OpenSSL would load it
// silently as another key. A OneAsymmetricKey version 1 (v2) with the optional
// publicKey [1] field, as other toolkits write it, is read, and the public
// key is checked against the private key.
//
// On reading, the checks of RFC 9935, Section 8 and FIPS 203, Section 7.3
// are made: a seed and an expanded key in one file must agree (the seed is
// expanded again and compared in constant time); an expanded key alone must
// pass the FIPS 203 hash check (H(ek) stored in it) and a pairwise
// consistency test (encapsulate to its ek, decapsulate, compare). Anything
// else, a wrong PEM type or OID, parameters, wrong sizes, trailing data
// after the DER or after the PEM block, a second PEM block, PEM headers (an
// encrypted key), a version other than 0 or 1, is refused with an error that
// names what was found.
//
// Public keys are PEM "PUBLIC KEY" files: a SubjectPublicKeyInfo whose BIT
// STRING holds the encapsulation key ek, checked with the FIPS 203 modulus
// check.
//
// Private key files are created with mode 0600 and never overwritten.
// ReadPrivateKeyFile opens the file without following a symbolic link and
// without blocking on a FIFO, then checks the file it opened: as ssh does,
// it refuses anything but a regular file, a file owned by another user than
// the current one or root, and a file that group or others may access
// (saying how to fix it).
//
// # Fingerprints and pins
//
// A server's fingerprint is "SHA256:" followed by the unpadded standard
// base64 of SHA-256(ek), as OpenSSH prints key fingerprints (PROTOCOL.md,
// "Server identity"). A pin is such a fingerprint; CheckPin compares one with
// the key a server presents.
//
// # Known hosts
//
// A known-hosts file remembers the key of each server a client has talked
// to, trusting it on first use as ssh does. It is a text file with one entry
// per line:
//
//	# comment
//	example.com:9000 ML-KEM-768 SHA256:C3k0yDElx4iZXiumvXYeMwRrPkBXG+U+AjMJop85jMk
//	[2001:db8::1]:9000 ML-KEM-1024 SHA256:x7j6CqRx1a4Yki1sytWzHh2E+SrnI6v9E3RwGHQKhTA  # lab box
//
// Decisions the protocol leaves open:
//
//   - Fields are separated by spaces or tabs. Blank lines and lines whose
//     first non-blank character is '#' are ignored; after the three fields a
//     line may carry a comment starting with '#'. Anything else is an error
//     that quotes the file, line number and line: a known-hosts file is never
//     silently ignored in part.
//   - The address is host:port as dialled, normalized by NormalizeAddr (host
//     lower-cased, IP addresses in canonical form, IPv6 in brackets, port in
//     decimal); no name resolution, so "localhost:9000" and
//     "127.0.0.1:9000" are different entries, as in ssh.
//   - The KEM is any spelling kem.CanonicalName accepts; Add writes the
//     canonical name.
//   - One key per address: a server has one static key and one KEM. A
//     server that presents a different key or a different KEM for a known
//     address is refused with ErrHostKeyChanged. Duplicate lines for an
//     address that agree (two clients that met a server for the first time
//     at once) are harmless; duplicates that disagree make every connection
//     to that address fail until the wrong line is removed.
//   - Add appends one line with a single O_APPEND write while it holds an
//     exclusive flock(2) on the file (LoadKnownHosts reads under a shared
//     one), so clients that add at once neither interleave nor break a
//     line; it creates the file (0600) when needed, and the directory
//     (0700) only for the default location (LoadDefaultKnownHosts): a path
//     named explicitly must be in a directory that exists. Remove deletes
//     the entries of one address, as ssh-keygen -R does, keeping every
//     other line byte for byte, by writing a temporary file and renaming
//     it over the old one under the same lock. A KnownHosts sees the
//     entries of the file as it was loaded plus its own additions, and
//     after Remove the file as it wrote it.
//   - Errors of the file itself (cannot create, read or write it, not a
//     regular file) wrap ErrKnownHostsFile; a malformed line is a
//     *KnownHostsSyntaxError (ErrMalformedKnownHosts) with its line
//     number. Neither is ever reported as a problem of a server's key.
//
// # Authorized client keys
//
// An authorized-keys file lists the KEM public keys of the clients a server
// accepts, one per line as in OpenSSH's authorized_keys: "ALGORITHM BASE64
// [comment]", the key as the DER of a SubjectPublicKeyInfo or as the raw
// encapsulation key (AuthorizedKeys gives the format in full;
// ParseAuthorizedKeys, LoadAuthorizedKeys, FormatAuthorizedKey).
package identity
