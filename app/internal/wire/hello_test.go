package wire

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// specSizes is PROTOCOL.md's "Algorithms" table: ek and ct by kem_id.
var specSizes = map[uint16]struct{ ek, ct int }{
	0x0200: {800, 768},   // ML-KEM-512
	0x0201: {1184, 1088}, // ML-KEM-768
	0x0202: {1568, 1568}, // ML-KEM-1024
	0x647A: {1216, 1120}, // X-Wing
}

// allParams returns the parameter sets kem.Algorithms lists.
func allParams(t testing.TB) []kem.Params {
	t.Helper()
	var ps []kem.Params
	for _, alg := range kem.Algorithms() {
		p, err := kem.ParamsFor(alg)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	require.NotEmpty(t, ps)
	return ps
}

// handHello builds a hello payload from PROTOCOL.md by hand, not with
// Append: "KEMTCP" || version || kem_id (u16) || flags || two random fields.
func handHello(version byte, id uint16, flags []byte, field int) []byte {
	b := append([]byte("KEMTCP"), version, byte(id>>8), byte(id))
	b = append(b, flags...)
	body := make([]byte, 2*field)
	rand.Read(body)
	return append(b, body...)
}

// helloKind is one kind of hello of one parameter set.
type helloKind struct {
	name    string // as error messages name the stage
	version byte
	size    int // what the spec says
	build   func() []byte
	parse   func([]byte) error
}

func parseSH(b []byte) error { _, err := ParseServerHello(b); return err }
func parseCH(b []byte) error { _, err := ParseClientHello(b); return err }

// helloKinds lists the version-1 and version-2 ServerHello and ClientHello
// of p, with the sizes of PROTOCOL.md.
func helloKinds(p kem.Params) []helloKind {
	spec := specSizes[p.ID]
	return []helloKind{
		{"ServerHello", Version1, 9 + 2*spec.ek, func() []byte { return handHello(Version1, p.ID, nil, p.EncapsulationKeySize) }, parseSH},
		{"ServerHello", Version2, 10 + 2*spec.ek, func() []byte { return handHello(Version2, p.ID, []byte{0}, p.EncapsulationKeySize) }, parseSH},
		{"ServerHello", Version2, 10 + 2*spec.ek, func() []byte { return handHello(Version2, p.ID, []byte{FlagClientKey}, p.EncapsulationKeySize) }, parseSH},
		{"ClientHello", Version1, 9 + 2*spec.ct, func() []byte { return handHello(Version1, p.ID, nil, p.CiphertextSize) }, parseCH},
		{"ClientHello", Version2, 9 + 2*spec.ct, func() []byte { return handHello(Version2, p.ID, nil, p.CiphertextSize) }, parseCH},
	}
}

func TestConstants(t *testing.T) {
	assert.Equal(t, 9, HelloHeaderSize)
	assert.Equal(t, 8, RefusalSize)
	assert.Equal(t, 17, RecordOverhead)
	assert.Equal(t, 32, KeySize)
	assert.Equal(t, 32, SecretSize)
	assert.Equal(t, 32, SharedKeySize)
	assert.Equal(t, 8160, MaxExport)
	assert.Equal(t, uint64(1<<24), DefaultLimits.MaxRecords)
	assert.Equal(t, uint64(1<<36-1), DefaultLimits.MaxBlocks)
	assert.Equal(t, uint64(1<<23), DefaultLimits.UpdateAtRecords)
	assert.Equal(t, uint64(1<<35), DefaultLimits.UpdateAtBlocks)
}

func TestHelloSizes(t *testing.T) {
	largest := 0
	for _, p := range allParams(t) {
		spec, ok := specSizes[p.ID]
		require.True(t, ok, "%s (0x%04x) is not in PROTOCOL.md's table", p.Name, p.ID)
		require.Equal(t, spec.ek, p.EncapsulationKeySize, p.Name)
		require.Equal(t, spec.ct, p.CiphertextSize, p.Name)
		assert.Equal(t, 9+2*spec.ek, ServerHelloSize(Version1, p), p.Name)
		assert.Equal(t, 10+2*spec.ek, ServerHelloSize(Version2, p), p.Name)
		assert.Equal(t, 9+2*spec.ct, ClientHelloSize(p), p.Name)
		largest = max(largest, 10+2*spec.ek, 9+2*spec.ct)
	}
	assert.Equal(t, largest, MaxHelloSize)
	if len(allParams(t)) == 3 {
		assert.Equal(t, 10+2*1568, MaxHelloSize, "the three ML-KEM sets")
	}
}

func TestDescribe(t *testing.T) {
	p, ok := kem.ParamsByID(0x0201)
	require.True(t, ok)
	assert.Equal(t, "ML-KEM-768 (0x0201)", Describe(p))
	assert.Equal(t, "ML-KEM-768 (0x0201)", describeID(0x0201))
	assert.Equal(t, "0x0300", describeID(0x0300))
}

func TestHelloRoundTrip(t *testing.T) {
	for _, p := range allParams(t) {
		ek, ct := p.EncapsulationKeySize, p.CiphertextSize
		for _, flags := range [][]byte{nil, {0}, {FlagClientKey}} {
			version := byte(Version1)
			if flags != nil {
				version = Version2
			}
			sh := handHello(version, p.ID, flags, ek)
			h, err := ParseServerHello(sh)
			require.NoError(t, err, "%s v%d", p.Name, version)
			off := HelloHeaderSize + len(flags)
			assert.Equal(t, version, h.Version)
			assert.Equal(t, p.ID, h.KEMID)
			if flags != nil {
				assert.Equal(t, flags[0], h.Flags)
			} else {
				assert.Zero(t, h.Flags)
			}
			assert.Equal(t, sh[off:off+ek], h.StaticKey)
			assert.Equal(t, sh[off+ek:], h.EphemeralKey)
			// The keys alias the payload, and appending to one does not
			// overwrite the other.
			assert.Same(t, &sh[off], &h.StaticKey[0])
			assert.Equal(t, ek, cap(h.StaticKey))
			assert.Equal(t, ek, cap(h.EphemeralKey))

			b, err := h.Append(nil)
			require.NoError(t, err)
			assert.Equal(t, sh, b)
			b, err = h.Append([]byte("prefix"))
			require.NoError(t, err)
			assert.Equal(t, append([]byte("prefix"), sh...), b)
		}

		for _, version := range []byte{Version1, Version2} {
			ch := handHello(version, p.ID, nil, ct)
			c, err := ParseClientHello(ch)
			require.NoError(t, err, "%s v%d", p.Name, version)
			assert.Equal(t, version, c.Version)
			assert.Equal(t, p.ID, c.KEMID)
			assert.Equal(t, ch[9:9+ct], c.StaticCiphertext)
			assert.Equal(t, ch[9+ct:], c.EphemeralCiphertext)
			assert.Same(t, &ch[9], &c.StaticCiphertext[0])
			assert.Equal(t, ct, cap(c.StaticCiphertext))
			assert.Equal(t, ct, cap(c.EphemeralCiphertext))
			b, err := c.Append(nil)
			require.NoError(t, err)
			assert.Equal(t, ch, b)
			b, err = c.Append([]byte("prefix"))
			require.NoError(t, err)
			assert.Equal(t, append([]byte("prefix"), ch...), b)
		}
	}
}

// TestParseHelloEveryWrongLength tries every length from 0 to one past the
// right one, as a prefix (or extension) of a valid hello, and checks the
// exact error.
func TestParseHelloEveryWrongLength(t *testing.T) {
	for _, p := range allParams(t) {
		for _, k := range helloKinds(p) {
			valid := append(k.build(), 0xAA)
			require.Len(t, valid, k.size+1)
			for n := 0; n <= k.size+1; n++ {
				err := k.parse(valid[:n])
				if n == k.size {
					require.NoError(t, err, "%s %s v%d", p.Name, k.name, k.version)
					continue
				}
				require.ErrorIs(t, err, ErrLength, "%s %s v%d, %d bytes", p.Name, k.name, k.version, n)
				want := fmt.Sprintf("%s: wrong length for %s (0x%04x): got %d bytes, want %d", k.name, p.Name, p.ID, n, k.size)
				if n < HelloHeaderSize {
					want = fmt.Sprintf("%s: wrong length: got %d bytes, want at least 9", k.name, n)
				}
				require.EqualError(t, err, want)
			}
		}
	}
}

// Equivalent mutants:
// hello.go:116 `len(p) < MagicSize` to `<=`: with len(p) == MagicSize the outer test means p is not Magic, so Magic[:len(p)] == p is false either way.
// hello.go:159 `len(payload) > RefusalSize` to `>=`: a refusal of exactly RefusalSize bytes is returned by the test before it.
// schedule.go:34 `len(a)+len(b)` to `-`: the initial capacity of a slice that append then grows.
func TestParseServerHelloErrors(t *testing.T) {
	p768, ok := kem.ParamsByID(0x0201)
	require.True(t, ok)
	sh := handHello(Version1, p768.ID, nil, p768.EncapsulationKeySize)
	sh2 := handHello(Version2, p768.ID, []byte{0}, p768.EncapsulationKeySize)
	with := func(b []byte, off int, v ...byte) []byte {
		b = bytes.Clone(b)
		copy(b[off:], v)
		return b
	}
	var ids []string
	for _, p := range allParams(t) {
		ids = append(ids, fmt.Sprintf("0x%04x %s", p.ID, p.Name))
	}
	known := strings.Join(ids, ", ")
	const legacy = "ServerHello: the server speaks the original demo's legacy protocol (its first frame is a pickled key), not the session protocol"
	for _, tc := range []struct {
		name    string
		payload []byte
		want    error
		msg     string // the whole error text; "" skips
	}{
		{"magic", with(sh, 0, 'k'), ErrBadMagic, `ServerHello: bad magic (the peer does not speak the kemtcp session protocol): got "kEMTCP", want "KEMTCP"`},
		{"magic v2", with(sh2, 5, 'p'), ErrBadMagic, `ServerHello: bad magic (the peer does not speak the kemtcp session protocol): got "KEMTCp", want "KEMTCP"`},
		{"magic short", []byte("HTTP"), ErrBadMagic, `ServerHello: bad magic (the peer does not speak the kemtcp session protocol): got "HTTP", want "KEMTCP"`},
		{"magic one byte", []byte("X"), ErrBadMagic, `ServerHello: bad magic (the peer does not speak the kemtcp session protocol): got "X", want "KEMTCP"`},
		{"magic prefix", []byte("KEM"), ErrLength, "ServerHello: wrong length: got 3 bytes, want at least 9"},
		{"magic only", []byte("KEMTCP"), ErrLength, "ServerHello: wrong length: got 6 bytes, want at least 9"},
		{"empty", nil, ErrLength, "ServerHello: wrong length: got 0 bytes, want at least 9"},
		{"version 0", with(sh, 6, 0), ErrVersion, "ServerHello: unsupported protocol version 0 (this build speaks versions 1 and 2)"},
		{"version 3", with(sh2, 6, 3), ErrVersion, "ServerHello: unsupported protocol version 3 (this build speaks versions 1 and 2)"},
		{"version 0xFE", with(sh, 6, 0xFE), ErrVersion, "ServerHello: unsupported protocol version 254 (this build speaks versions 1 and 2)"},
		// Version 2 in a version-1 layout (and the reverse) is one byte off.
		{"version 2 without flags", with(sh, 6, 2), ErrLength, "ServerHello: wrong length for ML-KEM-768 (0x0201): got 2377 bytes, want 2378"},
		{"version 1 with flags", with(sh2, 6, 1), ErrLength, "ServerHello: wrong length for ML-KEM-768 (0x0201): got 2378 bytes, want 2377"},
		{"kem id", with(sh, 7, 0x03, 0x00), ErrUnknownKEM, "ServerHello: unknown KEM id 0x0300 (want one of " + known + ")"},
		{"kem id 0x0203", with(sh, 7, 0x02, 0x03), ErrUnknownKEM, "ServerHello: unknown KEM id 0x0203 (want one of " + known + ")"},
		{"kem id v2", with(sh2, 7, 0xff, 0xff), ErrUnknownKEM, "ServerHello: unknown KEM id 0xffff (want one of " + known + ")"},
		{"length", sh[:len(sh)-1], ErrLength, "ServerHello: wrong length for ML-KEM-768 (0x0201): got 2376 bytes, want 2377"},
		{"length of another KEM", with(sh, 7, 0x02, 0x02), ErrLength, "ServerHello: wrong length for ML-KEM-1024 (0x0202): got 2377 bytes, want 3145"},
		{"length of another KEM v2", with(sh2, 7, 0x02, 0x00), ErrLength, "ServerHello: wrong length for ML-KEM-512 (0x0200): got 2378 bytes, want 1610"},
		{"flags 0x02", with(sh2, 9, 0x02), ErrFlags, "ServerHello: unknown ServerHello flags 0x02 (this build knows 0x01, client key required)"},
		{"flags 0x03", with(sh2, 9, 0x03), ErrFlags, "ServerHello: unknown ServerHello flags 0x03 (this build knows 0x01, client key required)"},
		{"flags 0x80", with(sh2, 9, 0x80), ErrFlags, "ServerHello: unknown ServerHello flags 0x80 (this build knows 0x01, client key required)"},
		{"flags 0xFF", with(sh2, 9, 0xFF), ErrFlags, "ServerHello: unknown ServerHello flags 0xff (this build knows 0x01, client key required)"},
		{"pickle 4", append([]byte{0x80, 0x04, 0x95}, sh[3:]...), ErrLegacyPeer, legacy},
		{"pickle 2", []byte{0x80, 0x02, 'C', 0x01, 0x00, '.'}, ErrLegacyPeer, legacy},
		{"pickle 3", []byte{0x80, 0x03}, ErrLegacyPeer, legacy},
		{"pickle 5", []byte{0x80, 0x05, 0x95}, ErrLegacyPeer, legacy},
		{"not a pickle 1", []byte{0x80, 0x01, 0x95}, ErrBadMagic, `ServerHello: bad magic (the peer does not speak the kemtcp session protocol): got "\x80\x01\x95", want "KEMTCP"`},
		{"not a pickle 6", []byte{0x80, 0x06, 0x95}, ErrBadMagic, ""},
		{"PROTO alone", []byte{0x80}, ErrBadMagic, ""},
		{"refusal full", []byte("KEMTCP\xff\x01"), ErrRefused, "ServerHello: the server refused the connection: the server is full (too many connections)"},
		{"refusal per source", []byte("KEMTCP\xff\x02"), ErrRefused, "ServerHello: the server refused the connection: too many connections from this address"},
		{"refusal shutting down", []byte("KEMTCP\xff\x03"), ErrRefused, "ServerHello: the server refused the connection: the server is shutting down"},
		{"refusal reason 0", []byte("KEMTCP\xff\x00"), ErrRefused, "ServerHello: the server refused the connection: reason 0x00"},
		{"refusal reason 0x42", []byte("KEMTCP\xff\x42"), ErrRefused, "ServerHello: the server refused the connection: reason 0x42"},
		{"refusal reason 0xFF", []byte("KEMTCP\xff\xff"), ErrRefused, "ServerHello: the server refused the connection: reason 0xff"},
		{"refusal bad magic", []byte("KEMTCp\xff\x01"), ErrBadMagic, ""},
		{"refusal short", []byte("KEMTCP\xff"), ErrLength, "ServerHello: wrong length: got 7 bytes, want at least 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseServerHello(tc.payload)
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, h)
			if tc.msg != "" {
				assert.EqualError(t, err, tc.msg)
			}
			if tc.want != ErrRefused {
				assert.NotErrorIs(t, err, ErrRefused)
			}
			assert.NotContains(t, err.Error(), "-proto", "library errors give no flag hints")
		})
	}
}

// TestParseServerHelloRefusalWrongSize: a refusal is exactly 8 bytes; one
// of another size is no refusal, just a payload of the wrong length (not an
// unsupported version 255).
func TestParseServerHelloRefusalWrongSize(t *testing.T) {
	for _, b := range [][]byte{
		[]byte("KEMTCP\xff"),
		[]byte("KEMTCP\xff\x01\x00"),
		[]byte("KEMTCP\xff\x02\x00\x00"),
		append([]byte("KEMTCP\xff\x01"), make([]byte, 100)...),
	} {
		_, err := ParseServerHello(b)
		require.Error(t, err, "%d bytes", len(b))
		assert.ErrorIs(t, err, ErrLength, "%d bytes: %v", len(b), err)
		assert.NotErrorIs(t, err, ErrRefused, "%d bytes", len(b))
		assert.Contains(t, err.Error(), fmt.Sprintf("got %d bytes", len(b)))
	}
}

func TestAppendRefusal(t *testing.T) {
	for _, r := range []byte{0, RefusedFull, RefusedPerSource, RefusedShuttingDown, 0xFF} {
		b := AppendRefusal([]byte("x"), r)
		assert.Equal(t, append([]byte("xKEMTCP\xff"), r), b)
		_, err := ParseServerHello(b[1:])
		require.ErrorIs(t, err, ErrRefused)
		assert.Contains(t, err.Error(), RefusalReason(r))
	}
	assert.Equal(t, "the server is full (too many connections)", RefusalReason(RefusedFull))
	assert.Equal(t, "too many connections from this address", RefusalReason(RefusedPerSource))
	assert.Equal(t, "the server is shutting down", RefusalReason(RefusedShuttingDown))
	assert.Equal(t, "reason 0x04", RefusalReason(4))
}

func TestParseClientHelloErrors(t *testing.T) {
	p768, ok := kem.ParamsByID(0x0201)
	require.True(t, ok)
	ch := handHello(Version2, p768.ID, nil, p768.CiphertextSize)
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
		{"version 9", with(ch, 6, 9), ErrVersion, "ClientHello: unsupported protocol version 9 (this build speaks versions 1 and 2)"},
		{"version 0", with(ch, 6, 0), ErrVersion, "ClientHello: unsupported protocol version 0 (this build speaks versions 1 and 2)"},
		{"version 3", with(ch, 6, 3), ErrVersion, "ClientHello: unsupported protocol version 3 (this build speaks versions 1 and 2)"},
		{"version 0xFE", with(ch, 6, 0xFE), ErrVersion, "ClientHello: unsupported protocol version 254 (this build speaks versions 1 and 2)"},
		{"version 0xFF", with(ch, 6, 0xFF), ErrVersion, "ClientHello: unsupported protocol version 255 (this build speaks versions 1 and 2)"},
		// A pickle is no legacy server here: just bad magic.
		{"pickle", []byte{0x80, 0x04, 0x95, 1, 2, 3, 4, 5, 6, 7}, ErrBadMagic, `ClientHello: bad magic (the peer does not speak the kemtcp session protocol): got "\x80\x04\x95\x01\x02\x03", want "KEMTCP"`},
		{"magic", with(ch, 0, 'k'), ErrBadMagic, `ClientHello: bad magic (the peer does not speak the kemtcp session protocol): got "kEMTCP", want "KEMTCP"`},
		{"magic prefix", []byte("KEMT"), ErrLength, "ClientHello: wrong length: got 4 bytes, want at least 9"},
		{"kem id", with(ch, 7, 0xff, 0xff), ErrUnknownKEM, ""},
		{"length", ch[:len(ch)-1], ErrLength, "ClientHello: wrong length for ML-KEM-768 (0x0201): got 2184 bytes, want 2185"},
		{"length of another KEM", with(ch, 7, 0x02, 0x00), ErrLength, "ClientHello: wrong length for ML-KEM-512 (0x0200): got 2185 bytes, want 1545"},
		// A refusal is a ServerHello's: here it is too short.
		{"refusal", []byte("KEMTCP\xff\x01"), ErrLength, "ClientHello: wrong length: got 8 bytes, want at least 9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseClientHello(tc.payload)
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, h)
			if tc.msg != "" {
				assert.EqualError(t, err, tc.msg)
			}
			assert.NotErrorIs(t, err, ErrRefused)
			assert.NotErrorIs(t, err, ErrLegacyPeer)
		})
	}
	_, err := ParseClientHello(with(ch, 7, 0xff, 0xff))
	assert.Contains(t, err.Error(), "ClientHello: unknown KEM id 0xffff (want one of 0x0200 ML-KEM-512")
}

func TestAppendHelloErrors(t *testing.T) {
	p, ok := kem.ParamsByID(0x0200)
	require.True(t, ok)
	ek := make([]byte, p.EncapsulationKeySize)
	ct := make([]byte, p.CiphertextSize)
	for _, tc := range []struct {
		name string
		h    interface{ Append([]byte) ([]byte, error) }
		want error
		msg  string
	}{
		{"SH kem id", &ServerHello{Version: Version1, KEMID: 0x0300, StaticKey: ek, EphemeralKey: ek}, ErrUnknownKEM, "ServerHello: unknown KEM id 0x0300"},
		{"SH kem id v2", &ServerHello{Version: Version2, KEMID: 0x0203, StaticKey: ek, EphemeralKey: ek}, ErrUnknownKEM, "ServerHello: unknown KEM id 0x0203"},
		{"SH ek_s short", &ServerHello{Version: Version1, KEMID: p.ID, StaticKey: ek[1:], EphemeralKey: ek}, ErrLength, "ServerHello: wrong length of ek_s for ML-KEM-512 (0x0200): got 799 bytes, want 800"},
		{"SH ek_s nil", &ServerHello{Version: Version2, KEMID: p.ID, EphemeralKey: ek}, ErrLength, "ServerHello: wrong length of ek_s for ML-KEM-512 (0x0200): got 0 bytes, want 800"},
		{"SH ek_e long", &ServerHello{Version: Version1, KEMID: p.ID, StaticKey: ek, EphemeralKey: append(bytes.Clone(ek), 0)}, ErrLength, "ServerHello: wrong length of ek_e for ML-KEM-512 (0x0200): got 801 bytes, want 800"},
		{"SH ek_e a ciphertext", &ServerHello{Version: Version2, KEMID: p.ID, StaticKey: ek, EphemeralKey: ct}, ErrLength, "ServerHello: wrong length of ek_e for ML-KEM-512 (0x0200): got 768 bytes, want 800"},
		{"SH version 0", &ServerHello{KEMID: p.ID, StaticKey: ek, EphemeralKey: ek}, ErrVersion, "ServerHello: unsupported protocol version 0"},
		{"SH version 3", &ServerHello{Version: 3, KEMID: p.ID, StaticKey: ek, EphemeralKey: ek}, ErrVersion, "ServerHello: unsupported protocol version 3"},
		{"SH version 0xFE", &ServerHello{Version: 0xFE, KEMID: p.ID, StaticKey: ek, EphemeralKey: ek}, ErrVersion, "ServerHello: unsupported protocol version 254"},
		{"SH version 0xFF", &ServerHello{Version: VersionRefusal, KEMID: p.ID, StaticKey: ek, EphemeralKey: ek}, ErrVersion, "ServerHello: unsupported protocol version 255"},
		{"SH v1 flags", &ServerHello{Version: Version1, KEMID: p.ID, Flags: FlagClientKey, StaticKey: ek, EphemeralKey: ek}, ErrFlags, "ServerHello: unknown ServerHello flags: version 1 has no flags"},
		{"SH v1 flags 0x80", &ServerHello{Version: Version1, KEMID: p.ID, Flags: 0x80, StaticKey: ek, EphemeralKey: ek}, ErrFlags, "ServerHello: unknown ServerHello flags: version 1 has no flags"},
		{"CH kem id", &ClientHello{Version: Version2, KEMID: 0x0300, StaticCiphertext: ct, EphemeralCiphertext: ct}, ErrUnknownKEM, "ClientHello: unknown KEM id 0x0300"},
		{"CH ct_s nil", &ClientHello{Version: Version1, KEMID: p.ID, EphemeralCiphertext: ct}, ErrLength, "ClientHello: wrong length of ct_s for ML-KEM-512 (0x0200): got 0 bytes, want 768"},
		{"CH ct_e a key", &ClientHello{Version: Version2, KEMID: p.ID, StaticCiphertext: ct, EphemeralCiphertext: ek}, ErrLength, "ClientHello: wrong length of ct_e for ML-KEM-512 (0x0200): got 800 bytes, want 768"},
		{"CH version 0", &ClientHello{KEMID: p.ID, StaticCiphertext: ct, EphemeralCiphertext: ct}, ErrVersion, "ClientHello: unsupported protocol version 0"},
		{"CH version 3", &ClientHello{Version: 3, KEMID: p.ID, StaticCiphertext: ct, EphemeralCiphertext: ct}, ErrVersion, "ClientHello: unsupported protocol version 3"},
		{"CH version 0xFE", &ClientHello{Version: 0xFE, KEMID: p.ID, StaticCiphertext: ct, EphemeralCiphertext: ct}, ErrVersion, "ClientHello: unsupported protocol version 254"},
		{"CH version 0xFF", &ClientHello{Version: 0xFF, KEMID: p.ID, StaticCiphertext: ct, EphemeralCiphertext: ct}, ErrVersion, "ClientHello: unsupported protocol version 255"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.h.Append([]byte("prefix"))
			require.ErrorIs(t, err, tc.want)
			assert.EqualError(t, err, tc.msg)
			assert.Nil(t, b)
		})
	}

	// A ClientHello's ciphertexts do not make a ServerHello.
	b, err := (&ClientHello{Version: Version1, KEMID: p.ID, StaticCiphertext: ct, EphemeralCiphertext: ct}).Append(nil)
	require.NoError(t, err)
	assert.Equal(t, uint16(0x0200), binary.BigEndian.Uint16(b[7:]))
	_, err = ParseServerHello(b)
	require.ErrorIs(t, err, ErrLength)
}
