// Package identity is how a kemtcp server proves who it is and how a client
// remembers it: key files, fingerprints and pins, known hosts, and the
// authorized keys of clients. Every KEM of package kem has them: ML-KEM-512,
// -768 and -1024, and X-Wing.
//
//   - Key files are PEM. A private key is a PKCS#8 "PRIVATE KEY" (RFC
//     5958) in the format RFC 9935 defines for ML-KEM and
//     draft-connolly-cfrg-xwing-kem-10 for X-Wing (PrivateKey);
//     WritePrivateKeyFile writes its seed form (mode 0600, never
//     overwriting) and ReadPrivateKeyFile reads and checks every form,
//     refusing, as ssh does, a file that others own or may access. A public
//     key is a "PUBLIC KEY" SubjectPublicKeyInfo (MarshalPublicKeyPEM).
//   - A fingerprint is "SHA256:" and the unpadded base64 of SHA-256 of the
//     encapsulation key, as OpenSSH prints key fingerprints (Fingerprint);
//     a pin is the fingerprint a client requires of a server (CheckPin).
//   - A known-hosts file remembers the key each server presented, trusting
//     it on first use as ssh does (KnownHosts, LoadKnownHosts).
//   - An authorized-keys file lists the public keys of the clients a server
//     accepts, one per line as in OpenSSH (AuthorizedKeys,
//     LoadAuthorizedKeys, FormatAuthorizedKey).
//
// Errors wrap the sentinels of each part (ErrMalformedKey,
// ErrInconsistentKey, ErrPinMismatch, ErrHostKeyChanged,
// ErrKnownHostsFile, ErrMalformedAuthorizedKeys, ...); compare them with
// errors.Is.
package identity
