// Package oqs is kemtcp's cgo binding to the key encapsulation mechanisms
// (KEMs) of liboqs, the Open Quantum Safe C library
// (https://openquantumsafe.org). It does the job of liboqs-go's KEM half and
// keeps its names (KeyEncapsulation, Details, EnabledKEMs, IsKEMEnabled,
// LiboqsVersion), but:
//
//   - every length is checked before a pointer is taken, every C string is
//     freed and every NULL returned by liboqs is checked;
//   - the secret key (and the seed it came from) lives in C memory from
//     OQS_MEM_malloc, which the Go garbage collector never moves or copies,
//     and is wiped with OQS_MEM_cleanse when the key is replaced, closed or
//     collected (a KeyEncapsulation that is never closed is still wiped and
//     freed once it is garbage, through runtime.AddCleanup);
//   - the derandomized calls of liboqs 0.15.0 and newer are bound:
//     GenerateKeyPairDerand (OQS_KEM_keypair_derand, the 64-byte seed d||z of
//     FIPS 203) and EncapSecretDerand (OQS_KEM_encaps_derand, the 32-byte m);
//   - nothing happens at import time: liboqs is initialised (OQS_init) and its
//     version checked on first use, once;
//   - a KeyEncapsulation is safe for concurrent use by many goroutines; Close
//     waits for the operations in flight and makes later ones fail with
//     ErrClosed;
//   - errors are sentinel values (compare them with errors.Is) wrapped with
//     the bad input and the sizes involved.
//
// The package is compiled against liboqs only with the "liboqs" build tag
// (go build -tags liboqs), and finds liboqs through pkg-config ("liboqs");
// 'make liboqs' builds and installs a pinned, static liboqs. Without the tag
// the same API is present, Compiled is false, and every call that can fail
// returns an error wrapping ErrNotCompiled.
//
// Typical use, one side generating a key pair and the other encapsulating:
//
//	server, err := oqs.NewKEM("ML-KEM-768")
//	defer server.Close()
//	publicKey, err := server.GenerateKeyPair()
//
//	client, err := oqs.NewKEM("ML-KEM-768")
//	defer client.Close()
//	ciphertext, clientSecret, err := client.EncapSecret(publicKey)
//
//	serverSecret, err := server.DecapSecret(ciphertext)
package oqs
