package legacy

import (
	"bytes"
	"errors"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/kemtcp/kemtcp/app/kem"
)

// FuzzParseBundle checks, for any message payload: ParseBundle never
// panics; it fails only with ErrMalformed or ErrSessionPeer and a lower-case
// message; what it accepts has a 12-byte nonce and survives Marshal then
// ParseBundle unchanged; and Open on it (with the ML-KEM-768 key of the
// vectors) never panics and fails only with this package's errors.
//
// go test -run '^$' -fuzz FuzzParseBundle ./app/legacy/
func FuzzParseBundle(f *testing.F) {
	var dk kem.DecapsulationKey
	for _, v := range vectors(f) {
		for _, m := range v.Messages {
			for _, fr := range m.Frames.byProtocol() {
				f.Add(payloadOf(f, fr))
			}
		}
		for _, fr := range v.PublicKeyFrames.byProtocol() {
			f.Add(payloadOf(f, fr))
		}
		if v.Alg == kem.MLKEM768 {
			s, err := kem.Lookup(v.Alg, kem.BackendCircl)
			if err != nil {
				f.Fatal(err)
			}
			if dk, err = s.NewDecapsulationKey(v.KeypairSeed); err != nil {
				f.Fatal(err)
			}
		}
	}
	f.Add([]byte("KEMTCP\x01\x02\x01"))
	f.Add([]byte("\x80\x04}\x94(\x8c\x05nonce\x94C\x0c0123456789ab\x94u."))
	f.Add([]byte("\x80\x04cos\nsystem\n."))

	f.Fuzz(func(t *testing.T, payload []byte) {
		b, err := ParseBundle(payload)
		if err != nil {
			if b != nil {
				t.Fatal("a bundle and an error")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSessionPeer) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if r, _ := utf8.DecodeRuneInString(err.Error()); !unicode.IsLower(r) {
				t.Fatalf("error message not lower-case: %q", err.Error())
			}
			return
		}
		if len(b.Nonce) != NonceSize {
			t.Fatalf("accepted a %d-byte nonce", len(b.Nonce))
		}
		again, err := ParseBundle(b.Marshal())
		if err != nil {
			t.Fatalf("Marshal of an accepted bundle does not parse: %v", err)
		}
		if !bytes.Equal(again.KEMCiphertext, b.KEMCiphertext) || !bytes.Equal(again.Nonce, b.Nonce) ||
			!bytes.Equal(again.Ciphertext, b.Ciphertext) || !bytes.Equal(again.AAD, b.AAD) {
			t.Fatal("Marshal then ParseBundle changed the bundle")
		}
		if _, err := Open(dk, b); err != nil &&
			!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrKEMMismatch) {
			t.Fatalf("Open: unexpected error kind: %v", err)
		}
	})
}
