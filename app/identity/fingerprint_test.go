package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

var fingerprintRE = regexp.MustCompile(`^SHA256:[A-Za-z0-9+/]{43}$`)

// TestFingerprintKnownAnswer: the fingerprints of the RFC 9935 example
// public keys, computed once with Python's hashlib and base64 (see
// testdata/README.md).
func TestFingerprintKnownAnswer(t *testing.T) {
	for alg, want := range map[string]string{
		kem.MLKEM512:  "SHA256:OuJo3MxUVqwND5s5JX3Ej+CBODuXxABRLXErc5di2u4",
		kem.MLKEM768:  "SHA256:C3k0yDElx4iZXiumvXYeMwRrPkBXG+U+AjMJop85jMk",
		kem.MLKEM1024: "SHA256:x7j6CqRx1a4Yki1sytWzHh2E+SrnI6v9E3RwGHQKhTA",
	} {
		t.Run(alg, func(t *testing.T) {
			_, ek, err := ParsePublicKeyPEM(readTestdata(t, "lamps/"+alg+".pub"))
			require.NoError(t, err)
			assert.Equal(t, want, Fingerprint(ek))
			// The same key derived from the seed 00..3f.
			_, ek2 := keyMaterial(t, alg, countingSeed(alg))
			assert.Equal(t, want, Fingerprint(ek2))
			require.NoError(t, CheckPin(want, ek))
		})
	}
}

// TestFingerprintFormat checks the format and, by another route (hex), the
// digest inside.
func TestFingerprintFormat(t *testing.T) {
	for _, ek := range [][]byte{nil, {0}, make([]byte, 1184), []byte("kemtcp")} {
		fp := Fingerprint(ek)
		assert.Regexp(t, fingerprintRE, fp)
		assert.Len(t, fp, len("SHA256:")+43)
		assert.NotContains(t, fp, "=")
		sum, err := ParseFingerprint(fp)
		require.NoError(t, err)
		want := sha256.Sum256(ek)
		assert.Equal(t, hex.EncodeToString(want[:]), hex.EncodeToString(sum))
	}
	// SHA-256("") = e3b0c442...b855; its base64 is 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=.
	assert.Equal(t, "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", Fingerprint(nil))
}

func TestCheckPin(t *testing.T) {
	_, ek := keyMaterial(t, kem.MLKEM768, randomSeed(t, kem.MLKEM768))
	_, other := keyMaterial(t, kem.MLKEM768, randomSeed(t, kem.MLKEM768))
	pin := Fingerprint(ek)

	require.NoError(t, CheckPin(pin, ek))
	require.NoError(t, CheckPin("  "+pin+"\n", ek), "surrounding spaces are ignored")

	err := CheckPin(pin, other)
	require.ErrorIs(t, err, ErrPinMismatch)
	var pm *PinMismatchError
	require.ErrorAs(t, err, &pm)
	assert.Equal(t, pin, pm.Pin)
	assert.Equal(t, Fingerprint(other), pm.Got)
	assert.Contains(t, err.Error(), pin)
	assert.Contains(t, err.Error(), Fingerprint(other))

	b64 := strings.TrimPrefix(pin, "SHA256:")
	for _, tc := range []struct{ pin, want string }{
		{"", `want "SHA256:" followed by 43 base64 characters`},
		{"SHA256:", "0 base64 characters"},
		{b64, `want "SHA256:" followed by 43 base64 characters`},
		{"sha256:" + b64, `the prefix must be written "SHA256:"`},
		{"MD5:" + b64, `want "SHA256:"`},
		{pin + "=", "remove the trailing '='"},
		{pin[:len(pin)-1], "42 base64 characters"},
		{pin + "A", "44 base64 characters"},
		{"SHA256:" + strings.Repeat("-", 43), "not valid base64"},
		{"SHA256:" + strings.Repeat("A", 42) + "B", "not valid base64"}, // non-zero padding bits
		{"SHA256:" + b64[:20] + " " + b64[21:], "not valid base64"},
	} {
		t.Run(tc.pin, func(t *testing.T) {
			err := CheckPin(tc.pin, ek)
			require.ErrorIs(t, err, ErrMalformedFingerprint)
			assert.NotErrorIs(t, err, ErrPinMismatch)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "pin:")
		})
	}
}

// TestCheckPinEveryByte: a pin that differs from the key's fingerprint in
// exactly one byte of the digest, at each of the 32 positions, is refused
// (issue 18: comparing only part of the digest passed every other test).
func TestCheckPinEveryByte(t *testing.T) {
	_, ek := keyMaterial(t, kem.MLKEM768, randomSeed(t, kem.MLKEM768))
	sum := sha256.Sum256(ek)
	require.NoError(t, CheckPin(fingerprintOfDigest(sum[:]), ek))
	for i := range sha256.Size {
		for _, flip := range []byte{0x01, 0x80} {
			d := sum
			d[i] ^= flip
			pin := fingerprintOfDigest(d[:])
			err := CheckPin(pin, ek)
			require.ErrorIs(t, err, ErrPinMismatch, "byte %d ^ %#02x", i, flip)
			var pm *PinMismatchError
			require.ErrorAs(t, err, &pm)
			assert.Equal(t, pin, pm.Pin)
			assert.Equal(t, Fingerprint(ek), pm.Got)
		}
	}
}
