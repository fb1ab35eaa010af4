package legacy

import (
	"bytes"
	"crypto/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/pickle"
)

// dictPickle pickles a dict built from key/value pairs (protocol 4).
func dictPickle(t testing.TB, kv ...pickle.Value) []byte {
	t.Helper()
	d := &pickle.Dict{}
	for i := 0; i < len(kv); i += 2 {
		require.NoError(t, d.Set(kv[i], kv[i+1]))
	}
	p, err := pickle.Encode(d)
	require.NoError(t, err)
	return p
}

func S(s string) pickle.String { return pickle.String(s) }
func B(s string) pickle.Bytes  { return pickle.Bytes(s) }

var nonce12 = B("0123456789ab")

func TestParseBundle(t *testing.T) {
	ok := []pickle.Value{S("kem_ciphertext"), B("ct"), S("nonce"), nonce12, S("ciphertext"), B("c"), S("aad"), B("")}
	b, err := ParseBundle(dictPickle(t, ok...))
	require.NoError(t, err)
	require.Equal(t, &Bundle{KEMCiphertext: []byte("ct"), Nonce: []byte(nonce12), Ciphertext: []byte("c"), AAD: []byte{}}, b)

	// Any key order is fine: the original server looks keys up by name.
	b2, err := ParseBundle(dictPickle(t, S("aad"), B(""), S("ciphertext"), B("c"), S("nonce"), nonce12, S("kem_ciphertext"), B("ct")))
	require.NoError(t, err)
	require.Equal(t, b, b2)

	with := func(k pickle.Value, v pickle.Value) []pickle.Value {
		out := append([]pickle.Value{}, ok...)
		for i := 0; i < len(out); i += 2 {
			if pickle.Equal(out[i], k) {
				out[i+1] = v
				return out
			}
		}
		return append(out, k, v)
	}
	without := func(k string) []pickle.Value {
		var out []pickle.Value
		for i := 0; i < len(ok); i += 2 {
			if ok[i] != S(k) {
				out = append(out, ok[i], ok[i+1])
			}
		}
		return out
	}
	inner := &pickle.Dict{}
	for _, tc := range []struct {
		name    string
		payload []byte
		msg     string
		err     error
	}{
		{"missing nonce", dictPickle(t, without("nonce")...), "message lacks the key 'nonce'; want exactly 'kem_ciphertext', 'nonce', 'ciphertext', 'aad'", ErrMalformed},
		{"missing aad", dictPickle(t, without("aad")...), "message lacks the key 'aad'", ErrMalformed},
		{"extra key", dictPickle(t, with(S("mac"), B("x"))...), "message has an unexpected key 'mac'; want exactly 'kem_ciphertext', 'nonce', 'ciphertext', 'aad'", ErrMalformed},
		{"odd extra key", dictPickle(t, with(S("it's\n\x00"), B("x"))...), `message has an unexpected key 'it\'s\n\x00'`, ErrMalformed},
		{"long extra key", dictPickle(t, with(S(strings.Repeat("k", 100)), B("x"))...), "'" + strings.Repeat("k", 40) + "'...", ErrMalformed},
		{"bytes key", dictPickle(t, with(B("nonce"), B("x"))...), "message has a bytes key b'nonce'; its keys are str", ErrMalformed},
		{"str value", dictPickle(t, with(S("ciphertext"), S("c"))...), "message key 'ciphertext' holds a str, not bytes", ErrMalformed},
		{"dict value", dictPickle(t, with(S("aad"), inner)...), "message key 'aad' holds a dict, not bytes", ErrMalformed},
		{"short nonce", dictPickle(t, with(S("nonce"), B("01234567890"))...), "nonce is 11 bytes, want 12", ErrMalformed},
		{"long nonce", dictPickle(t, with(S("nonce"), B(strings.Repeat("n", 16)))...), "nonce is 16 bytes, want 12", ErrMalformed},
		{"not a dict", mustPickle(t, B("x")), "message holds bytes, not a dict", ErrMalformed},
		{"str", mustPickle(t, S("x")), "message holds a str, not a dict", ErrMalformed},
		{"not a pickle", []byte("hello"), "message is not a valid pickle: pickle: opcode BINGET ('h', 0x68) is not allowed (offset 0)", pickle.ErrNotAllowed},
		{"no PROTO", []byte("}."), "message is not a valid pickle: pickle: input starts with EMPTY_DICT ('}', 0x7d), not PROTO", pickle.ErrMalformed},
		{"GLOBAL", []byte("\x80\x04cos\nsystem\n."), "message is not a valid pickle: pickle: opcode GLOBAL ('c', 0x63) is not allowed (offset 2)", pickle.ErrNotAllowed},
		{"truncated", dictPickle(t, ok...)[:40], "message is not a valid pickle: pickle: ", pickle.ErrTruncated},
		{"session hello", []byte("KEMTCP\x01\x02\x01" + strings.Repeat("\x00", 100)), "the client speaks kemtcp's session protocol, not the legacy one", ErrSessionPeer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBundle(tc.payload)
			require.Nil(t, b)
			require.ErrorIs(t, err, tc.err)
			require.ErrorContains(t, err, tc.msg)
		})
	}
}

func mustPickle(t testing.TB, v pickle.Value) []byte {
	t.Helper()
	p, err := pickle.Encode(v)
	require.NoError(t, err)
	return p
}

func TestDecodePublicKey(t *testing.T) {
	ek, err := DecodePublicKey(mustPickle(t, B("key")))
	require.NoError(t, err)
	require.Equal(t, []byte("key"), ek)
	for _, tc := range []struct {
		name    string
		payload []byte
		msg     string
		err     error
	}{
		{"dict", dictPickle(t, S("k"), B("v")), "server's key frame holds a dict, not bytes (EMPTY_DICT at offset 11)", pickle.ErrShape},
		{"str", mustPickle(t, S("key")), "server's key frame holds a str, not bytes (SHORT_BINUNICODE at offset 11)", pickle.ErrShape},
		{"REDUCE", []byte("\x80\x04\x95\x04\x00\x00\x00\x00\x00\x00\x00C\x00R."), "server's key frame is not a valid pickle: pickle: opcode REDUCE ('R', 0x52) is not allowed (offset 13)", pickle.ErrNotAllowed},
		{"session", []byte("KEMTCP\x01\x02\x01"), "the server speaks kemtcp's session protocol, not the legacy one", ErrSessionPeer},
		{"empty", nil, "server's key frame is not a valid pickle: pickle: empty input", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ek, err := DecodePublicKey(tc.payload)
			require.Nil(t, ek)
			require.ErrorIs(t, err, tc.err)
			require.EqualError(t, err, tc.msg)
		})
	}
	require.False(t, LooksLikePickle([]byte("KEMTCP")))
	require.False(t, LooksLikePickle([]byte{0x80}))
	require.False(t, LooksLikePickle([]byte{0x80, 6}))
	require.True(t, LooksLikePickle([]byte{0x80, 2}))
}

func TestMarshal(t *testing.T) {
	// A nil field is b"" on the wire, like an empty one.
	a := (&Bundle{KEMCiphertext: []byte("ct"), Nonce: []byte(nonce12), Ciphertext: []byte("c")}).Marshal()
	b := (&Bundle{KEMCiphertext: []byte("ct"), Nonce: []byte(nonce12), Ciphertext: []byte("c"), AAD: []byte{}}).Marshal()
	require.Equal(t, a, b)
	// Keys in the original's order.
	v, err := pickle.Decode(a)
	require.NoError(t, err)
	var keys []string
	for _, it := range v.(*pickle.Dict).Items() {
		keys = append(keys, string(it.Key.(pickle.String)))
	}
	require.Equal(t, []string{"kem_ciphertext", "nonce", "ciphertext", "aad"}, keys)
}

func TestDeriveKey(t *testing.T) {
	_, err := DeriveKey(make([]byte, 31))
	require.ErrorContains(t, err, "shared secret is 31 bytes, want 32")
	_, err = DeriveKey(nil)
	require.Error(t, err)
	k1, err := DeriveKey(make([]byte, 32))
	require.NoError(t, err)
	require.Len(t, k1, KeySize)
}

func TestSealOpen(t *testing.T) {
	for _, alg := range kem.Algorithms() {
		for _, s := range schemes(t, alg) {
			t.Run(alg+"/"+s.Backend(), func(t *testing.T) {
				dk, err := s.GenerateKey()
				require.NoError(t, err)
				ek := dk.EncapsulationKey()
				b1, err := Seal(ek, []byte("hi"), []byte("aad"))
				require.NoError(t, err)
				b2, err := Seal(ek, []byte("hi"), []byte("aad"))
				require.NoError(t, err)
				require.NotEqual(t, b1.KEMCiphertext, b2.KEMCiphertext, "a fresh encapsulation per message")
				require.NotEqual(t, b1.Nonce, b2.Nonce)
				require.Len(t, b1.KEMCiphertext, s.Params().CiphertextSize)
				require.Len(t, b1.Nonce, NonceSize)
				require.Len(t, b1.Ciphertext, 2+TagSize)
				require.Equal(t, []byte("aad"), b1.AAD)

				pt, err := Open(dk, b1)
				require.NoError(t, err)
				require.Equal(t, []byte("hi"), pt)

				// Every field matters.
				for name, mutate := range map[string]func(b *Bundle){
					"kem_ciphertext": func(b *Bundle) { b.KEMCiphertext[5] ^= 1 },
					"nonce":          func(b *Bundle) { b.Nonce[0] ^= 1 },
					"ciphertext":     func(b *Bundle) { b.Ciphertext[0] ^= 1 },
					"tag":            func(b *Bundle) { b.Ciphertext[len(b.Ciphertext)-1] ^= 1 },
					"aad":            func(b *Bundle) { b.AAD = []byte("other") },
					"no aad":         func(b *Bundle) { b.AAD = nil },
				} {
					b := cloneBundle(b1)
					mutate(b)
					pt, err := Open(dk, b)
					require.Nil(t, pt, name)
					require.ErrorIs(t, err, ErrDecrypt, name)
					require.ErrorContains(t, err, "message failed to decrypt: cipher: message authentication failed", name)
				}
				// Another key pair cannot open it.
				other, err := s.GenerateKey()
				require.NoError(t, err)
				_, err = Open(other, b1)
				require.ErrorIs(t, err, ErrDecrypt)

				b := cloneBundle(b1)
				b.Ciphertext = b.Ciphertext[:TagSize-1]
				_, err = Open(dk, b)
				require.ErrorIs(t, err, ErrDecrypt)
				require.EqualError(t, err, "message failed to decrypt: ciphertext is 15 bytes, shorter than the 16-byte tag")

				b = cloneBundle(b1)
				b.Nonce = b.Nonce[:8]
				_, err = Open(dk, b)
				require.ErrorIs(t, err, ErrMalformed)

				b = cloneBundle(b1)
				b.KEMCiphertext = b.KEMCiphertext[:100]
				_, err = Open(dk, b)
				require.ErrorIs(t, err, ErrMalformed)
				require.EqualError(t, err, "kem_ciphertext is 100 bytes, want "+strconv.Itoa(s.Params().CiphertextSize)+" for "+alg)

				_, err = Open(nil, b1)
				require.Error(t, err)
				_, err = Open(dk, nil)
				require.Error(t, err)
			})
		}
	}
}

func TestOpenKEMMismatch(t *testing.T) {
	for _, tc := range []struct{ server, client, msg string }{
		{kem.MLKEM768, kem.MLKEM1024, "kem_ciphertext is 1568 bytes: the client uses ML-KEM-1024, not ML-KEM-768"},
		{kem.MLKEM1024, kem.MLKEM512, "kem_ciphertext is 768 bytes: the client uses ML-KEM-512, not ML-KEM-1024"},
		{kem.MLKEM512, kem.MLKEM768, "kem_ciphertext is 1088 bytes: the client uses ML-KEM-768, not ML-KEM-512"},
	} {
		ss, err := kem.Lookup(tc.server, kem.BackendCircl)
		require.NoError(t, err)
		cs, err := kem.Lookup(tc.client, kem.BackendCircl)
		require.NoError(t, err)
		dk, err := ss.GenerateKey()
		require.NoError(t, err)
		cdk, err := cs.GenerateKey()
		require.NoError(t, err)
		b, err := Seal(cdk.EncapsulationKey(), []byte("x"), nil)
		require.NoError(t, err)
		_, err = Open(dk, b)
		require.ErrorIs(t, err, ErrKEMMismatch)
		require.EqualError(t, err, tc.msg)
	}
}

// TestSealWipesSharedSecret: the shared secret the KEM hands seal is zero
// once seal returns.
func TestSealWipesSharedSecret(t *testing.T) {
	var ss []byte
	encaps := func() ([]byte, []byte, error) {
		ss = make([]byte, 32)
		rand.Read(ss)
		return ss, []byte("ct"), nil
	}
	_, err := seal(encaps, make([]byte, NonceSize), []byte("x"), nil)
	require.NoError(t, err)
	require.Equal(t, make([]byte, 32), ss)

	_, err = seal(encaps, make([]byte, 11), []byte("x"), nil)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = seal(func() ([]byte, []byte, error) { return nil, nil, kem.ErrEncapsKey }, make([]byte, NonceSize), nil, nil)
	require.ErrorIs(t, err, kem.ErrEncapsKey)
}

func cloneBundle(b *Bundle) *Bundle {
	return &Bundle{
		KEMCiphertext: bytes.Clone(b.KEMCiphertext),
		Nonce:         bytes.Clone(b.Nonce),
		Ciphertext:    bytes.Clone(b.Ciphertext),
		AAD:           bytes.Clone(b.AAD),
	}
}
