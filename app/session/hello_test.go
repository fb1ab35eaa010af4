package session

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// allParams returns the three parameter sets.
func allParams(t testing.TB) []kem.Params {
	var ps []kem.Params
	for _, alg := range kem.Algorithms() {
		p, err := kem.ParamsFor(alg)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	return ps
}

// randomHello returns a structurally valid hello payload of the given body
// field size.
func randomHello(id uint16, field int) []byte {
	b := appendHelloHeader(nil, id)
	body := make([]byte, 2*field)
	rand.Read(body)
	return append(b, body...)
}

func TestHelloSizes(t *testing.T) {
	want := map[string][2]int{
		kem.MLKEM512:  {9 + 2*800, 9 + 2*768},
		kem.MLKEM768:  {9 + 2*1184, 9 + 2*1088},
		kem.MLKEM1024: {9 + 2*1568, 9 + 2*1568},
	}
	for _, p := range allParams(t) {
		assert.Equal(t, want[p.Name][0], ServerHelloSize(p), p.Name)
		assert.Equal(t, want[p.Name][1], ClientHelloSize(p), p.Name)
	}
	assert.Equal(t, 9+2*1568, helloMaxSize)
}

func TestHelloRoundTrip(t *testing.T) {
	for _, p := range allParams(t) {
		sh := randomHello(p.ID, p.EncapsulationKeySize)
		h, err := ParseServerHello(sh)
		require.NoError(t, err, p.Name)
		assert.Equal(t, p.ID, h.KEMID)
		assert.Len(t, h.StaticKey, p.EncapsulationKeySize)
		assert.Len(t, h.EphemeralKey, p.EncapsulationKeySize)
		assert.Equal(t, sh, append(append(appendHelloHeader(nil, p.ID), h.StaticKey...), h.EphemeralKey...))
		b, err := h.Marshal()
		require.NoError(t, err)
		assert.Equal(t, sh, b)

		ch := randomHello(p.ID, p.CiphertextSize)
		c, err := ParseClientHello(ch)
		require.NoError(t, err, p.Name)
		assert.Len(t, c.StaticCiphertext, p.CiphertextSize)
		assert.Len(t, c.EphemeralCiphertext, p.CiphertextSize)
		b, err = c.Marshal()
		require.NoError(t, err)
		assert.Equal(t, ch, b)
	}
}

// TestParseHelloEveryWrongLength tries every length from 0 to one past the
// right one, as a prefix (or extension) of a valid hello.
func TestParseHelloEveryWrongLength(t *testing.T) {
	for _, p := range allParams(t) {
		for _, tc := range []struct {
			name  string
			size  int
			field int
			parse func([]byte) error
		}{
			{"ServerHello", ServerHelloSize(p), p.EncapsulationKeySize, func(b []byte) error { _, err := ParseServerHello(b); return err }},
			{"ClientHello", ClientHelloSize(p), p.CiphertextSize, func(b []byte) error { _, err := ParseClientHello(b); return err }},
		} {
			valid := append(randomHello(p.ID, tc.field), 0xAA)
			for n := 0; n <= tc.size+1; n++ {
				if n == tc.size {
					require.NoError(t, tc.parse(valid[:n]))
					continue
				}
				err := tc.parse(valid[:n])
				require.ErrorIs(t, err, ErrLength, "%s %s, %d bytes", p.Name, tc.name, n)
				require.Contains(t, err.Error(), tc.name+":")
				require.Contains(t, err.Error(), fmt.Sprintf("got %d bytes", n))
			}
		}
	}
}

func TestParseHelloErrors(t *testing.T) {
	p768, _ := kem.ParamsByID(0x0201)
	sh := randomHello(p768.ID, p768.EncapsulationKeySize)
	ch := randomHello(p768.ID, p768.CiphertextSize)
	with := func(b []byte, off int, v ...byte) []byte {
		b = bytes.Clone(b)
		copy(b[off:], v)
		return b
	}
	for _, tc := range []struct {
		name    string
		payload []byte
		want    error
		msg     string
	}{
		{"magic", with(sh, 0, 'k'), ErrBadMagic, `ServerHello: bad magic (the peer does not speak the kemtcp session protocol): got "kEMTCP", want "KEMTCP"`},
		{"magic short", []byte("HTTP"), ErrBadMagic, `got "HTTP", want "KEMTCP"`},
		{"magic prefix", []byte("KEM"), ErrLength, "got 3 bytes, want at least 9"},
		{"version 0", with(sh, 6, 0), ErrVersion, "ServerHello: unsupported protocol version 0 (this build speaks version 1)"},
		{"version 2", with(sh, 6, 2), ErrVersion, "version 2"},
		{"kem id", with(sh, 7, 0x03, 0x00), ErrUnknownKEM, "ServerHello: unknown KEM id 0x0300"},
		{"kem id 0x0203", with(sh, 7, 0x02, 0x03), ErrUnknownKEM, "0x0203"},
		{"length", sh[:len(sh)-1], ErrLength, "ServerHello: wrong length for ML-KEM-768 (0x0201): got 2376 bytes, want 2377"},
		{"length of another KEM", with(sh, 7, 0x02, 0x02), ErrLength, "for ML-KEM-1024 (0x0202): got 2377 bytes, want 3145"},
		{"pickle 4", append([]byte{0x80, 0x04, 0x95}, sh[3:]...), ErrLegacyPeer, "ServerHello: server speaks the legacy protocol (pickled key), not session; use -proto legacy"},
		{"pickle 2", []byte{0x80, 0x02, 'C', 0x01, 0x00, '.'}, ErrLegacyPeer, ""},
		{"pickle 3", []byte{0x80, 0x03}, ErrLegacyPeer, ""},
		{"pickle 5", []byte{0x80, 0x05, 0x95}, ErrLegacyPeer, ""},
		{"not a pickle 1", []byte{0x80, 0x01, 0x95}, ErrBadMagic, `got "\x80\x01\x95"`},
		{"not a pickle 6", []byte{0x80, 0x06, 0x95}, ErrBadMagic, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseServerHello(tc.payload)
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
	// The ClientHello parser says ClientHello, and a pickle is no seed
	// server there: just bad magic.
	_, err := ParseClientHello(with(ch, 6, 9))
	require.ErrorIs(t, err, ErrVersion)
	assert.Contains(t, err.Error(), "ClientHello: unsupported protocol version 9")
	_, err = ParseClientHello([]byte{0x80, 0x04, 0x95, 1, 2, 3, 4, 5, 6, 7})
	require.ErrorIs(t, err, ErrBadMagic)
	_, err = ParseClientHello(with(ch, 7, 0xff, 0xff))
	require.ErrorIs(t, err, ErrUnknownKEM)
	assert.Contains(t, err.Error(), "ClientHello: unknown KEM id 0xffff")
}

func TestMarshalHelloErrors(t *testing.T) {
	p, _ := kem.ParamsByID(0x0200)
	ek := make([]byte, p.EncapsulationKeySize)
	ct := make([]byte, p.CiphertextSize)
	_, err := (&ServerHello{KEMID: 0x0300, StaticKey: ek, EphemeralKey: ek}).Marshal()
	require.ErrorIs(t, err, ErrUnknownKEM)
	_, err = (&ServerHello{KEMID: p.ID, StaticKey: ek[1:], EphemeralKey: ek}).Marshal()
	require.ErrorIs(t, err, ErrLength)
	assert.Contains(t, err.Error(), "ek_s")
	_, err = (&ServerHello{KEMID: p.ID, StaticKey: ek, EphemeralKey: append(ek, 0)}).Marshal()
	require.ErrorIs(t, err, ErrLength)
	assert.Contains(t, err.Error(), "ek_e")
	_, err = (&ClientHello{KEMID: 0x0300, StaticCiphertext: ct, EphemeralCiphertext: ct}).Marshal()
	require.ErrorIs(t, err, ErrUnknownKEM)
	_, err = (&ClientHello{KEMID: p.ID, StaticCiphertext: nil, EphemeralCiphertext: ct}).Marshal()
	require.ErrorIs(t, err, ErrLength)
	assert.Contains(t, err.Error(), "ct_s")
	_, err = (&ClientHello{KEMID: p.ID, StaticCiphertext: ct, EphemeralCiphertext: ek}).Marshal()
	require.ErrorIs(t, err, ErrLength)
	assert.Contains(t, err.Error(), "ct_e")
	// A ServerHello's ciphertext-sized keys are not a ClientHello's.
	b, err := (&ClientHello{KEMID: p.ID, StaticCiphertext: ct, EphemeralCiphertext: ct}).Marshal()
	require.NoError(t, err)
	assert.Equal(t, uint16(0x0200), binary.BigEndian.Uint16(b[7:]))
	_, err = ParseServerHello(b)
	require.ErrorIs(t, err, ErrLength)
}
