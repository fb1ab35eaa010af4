package wire

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTranscriptHash(t *testing.T) {
	a, b, c := []byte("server hello"), []byte("client hello"), []byte("ek_c")
	want := sha256.Sum256([]byte("server helloclient helloek_c"))
	assert.Equal(t, want, TranscriptHash(a, b, c))
	assert.Equal(t, sha256.Sum256(nil), TranscriptHash())
	assert.Equal(t, sha256.Sum256(a), TranscriptHash(a, nil))
	assert.NotEqual(t, TranscriptHash(a, b), TranscriptHash(b, a))
}

func TestExtract(t *testing.T) {
	salt := bytes.Repeat([]byte{0x11}, HashSize)
	a, b := bytes.Repeat([]byte{1}, SharedKeySize), bytes.Repeat([]byte{2}, SharedKeySize)
	got, err := Extract(salt, a, b)
	require.NoError(t, err)
	want, err := hkdf.Extract(sha256.New, append(bytes.Clone(a), b...), salt)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Len(t, got, SecretSize)
	// The inputs are left as they were.
	assert.Equal(t, bytes.Repeat([]byte{1}, SharedKeySize), a)
	assert.Equal(t, bytes.Repeat([]byte{2}, SharedKeySize), b)
	// ss_e and ss_s are ordered: swapping them changes the PRK.
	swapped, err := Extract(salt, b, a)
	require.NoError(t, err)
	assert.NotEqual(t, got, swapped)
	// And the salt counts.
	other, err := Extract(bytes.Repeat([]byte{0x12}, HashSize), a, b)
	require.NoError(t, err)
	assert.NotEqual(t, got, other)
}

func TestExtractSaltSize(t *testing.T) {
	ss := make([]byte, SharedKeySize)
	for _, n := range []int{0, 1, 31, 33, 64} {
		_, err := Extract(make([]byte, n), ss, ss)
		assert.EqualError(t, err, fmt.Sprintf("HKDF-Extract: salt is %d bytes, want 32", n))
	}
}

// TestExtractInputSizes: prk = Extract(th, ss_e, ss_s) and master =
// Extract(th2, prk, ss_c) take 32-byte inputs only; inputs of other sizes
// would make a || b ambiguous.
func TestExtractInputSizes(t *testing.T) {
	th := make([]byte, HashSize)
	ss := bytes.Repeat([]byte{3}, SharedKeySize)
	for _, tc := range []struct {
		name string
		a, b []byte
	}{
		{"a short", ss[1:], ss},
		{"b long", ss, append(bytes.Clone(ss), 0)},
		{"a empty", nil, ss},
		{"b empty", ss, nil},
		{"a 64 bytes, b empty", append(bytes.Clone(ss), ss...), nil},
	} {
		_, err := Extract(th, tc.a, tc.b)
		assert.Error(t, err, tc.name)
	}
}

func TestExpand(t *testing.T) {
	secret := bytes.Repeat([]byte{0x22}, SecretSize)
	for _, n := range []int{0, 1, 16, 32, 33, 100, MaxExport} {
		got, err := Expand(secret, LabelKey, n)
		require.NoError(t, err, "%d bytes", n)
		want, err := hkdf.Expand(sha256.New, secret, LabelKey, n)
		require.NoError(t, err)
		assert.Equal(t, want, got, "%d bytes", n)
		assert.Len(t, got, n)
	}
	a, err := Expand(secret, LabelV1ClientToServer, KeySize)
	require.NoError(t, err)
	b, err := Expand(secret, LabelV1ServerToClient, KeySize)
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
}

func TestExpandInputSizes(t *testing.T) {
	for _, n := range []int{0, 1, 31, 33, 64} {
		_, err := Expand(make([]byte, n), LabelKey, KeySize)
		assert.EqualError(t, err, fmt.Sprintf(`HKDF-Expand "kemtcp v2 key": secret is %d bytes, want 32`, n))
	}
	secret := make([]byte, SecretSize)
	_, err := Expand(secret, LabelKey, MaxExport+1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `HKDF-Expand "kemtcp v2 key": `)
	// A negative length is an error, not a crash.
	for _, n := range []int{-1, -32, -1 << 31} {
		err, panicked := expandNoPanic(secret, n)
		assert.Nil(t, panicked, "Expand(secret, label, %d) panicked", n)
		assert.Error(t, err, "length %d", n)
	}
}

// expandNoPanic calls Expand and returns what it panicked with, if it did.
func expandNoPanic(secret []byte, n int) (err error, panicked any) {
	defer func() { panicked = recover() }()
	_, err = Expand(secret, LabelKey, n)
	return err, nil
}

// exportBySpec is PROTOCOL.md's exporter, computed with crypto/hkdf:
//
//	secret = Expand(exporter_secret, "kemtcp exporter " || label, 32)
//	output = Expand(secret, length (u16) || SHA-256(context), length)
func exportBySpec(t testing.TB, exporterSecret []byte, label string, context []byte, length int) []byte {
	t.Helper()
	secret, err := hkdf.Expand(sha256.New, exporterSecret, "kemtcp exporter "+label, 32)
	require.NoError(t, err)
	h := sha256.Sum256(context)
	info := binary.BigEndian.AppendUint16(nil, uint16(length))
	info = append(info, h[:]...)
	out, err := hkdf.Expand(sha256.New, secret, string(info), length)
	require.NoError(t, err)
	return out
}

func TestExportBySpec(t *testing.T) {
	es := bytes.Repeat([]byte{0x33}, SecretSize)
	for _, label := range []string{"", "EXPERIMENTAL test", "kemtcp", "\x00\xff"} {
		for _, context := range [][]byte{nil, {}, []byte("context"), bytes.Repeat([]byte{9}, 1000)} {
			for _, length := range []int{0, 1, 31, 32, 33, 255, 256, 257, 1000, MaxExport - 1, MaxExport} {
				got, err := Export(es, label, context, length)
				require.NoError(t, err, "%q %q %d", label, context, length)
				require.Len(t, got, length)
				require.Equal(t, exportBySpec(t, es, label, context, length), got, "%q %q %d", label, context, length)
			}
		}
	}
}

func TestExportLength(t *testing.T) {
	es := make([]byte, SecretSize)
	for _, n := range []int{0, 1, MaxExport} {
		out, err := Export(es, "l", nil, n)
		require.NoError(t, err, "%d bytes", n)
		assert.Len(t, out, n)
	}
	assert.Equal(t, 8160, MaxExport)
	for _, n := range []int{MaxExport + 1, 1 << 16, 1<<16 + 5, -1, -1 << 40} {
		out, err := Export(es, "l", nil, n)
		assert.EqualError(t, err, fmt.Sprintf("exporter: length %d is outside [0, 8160]", n))
		assert.Nil(t, out)
	}
	for _, n := range []int{0, 31, 33} {
		_, err := Export(make([]byte, n), "l", nil, 32)
		assert.EqualError(t, err, fmt.Sprintf(`HKDF-Expand "kemtcp exporter l": secret is %d bytes, want 32`, n))
	}
}

// TestExportUnrelated: other labels, contexts or lengths give unrelated
// outputs; in particular a shorter output is no prefix of a longer one. An
// absent context is the empty one.
func TestExportUnrelated(t *testing.T) {
	es := bytes.Repeat([]byte{0x44}, SecretSize)
	type in struct {
		label, context string
		length         int
	}
	var ins []in
	for _, label := range []string{"", "a", "b", "ab", "EXPERIMENTAL x"} {
		for _, context := range []string{"", "a", "b", "ab"} {
			for _, length := range []int{8, 16, 31, 32, 33, 64, 100} {
				ins = append(ins, in{label, context, length})
			}
		}
	}
	outs := make([][]byte, len(ins))
	for i, x := range ins {
		var err error
		outs[i], err = Export(es, x.label, []byte(x.context), x.length)
		require.NoError(t, err)
		if x.context == "" {
			absent, err := Export(es, x.label, nil, x.length)
			require.NoError(t, err)
			require.Equal(t, outs[i], absent, "absent context is the empty string")
		}
	}
	for i := range ins {
		for j := i + 1; j < len(ins); j++ {
			n := min(len(outs[i]), len(outs[j]))
			require.NotEqual(t, outs[i][:n], outs[j][:n], "%+v and %+v", ins[i], ins[j])
		}
	}
	// A label and context do not run into each other.
	x, err := Export(es, "ab", []byte("c"), 32)
	require.NoError(t, err)
	y, err := Export(es, "a", []byte("bc"), 32)
	require.NoError(t, err)
	assert.NotEqual(t, x, y)
	// And the secret counts.
	z, err := Export(bytes.Repeat([]byte{0x45}, SecretSize), "ab", []byte("c"), 32)
	require.NoError(t, err)
	assert.NotEqual(t, x, z)
}
