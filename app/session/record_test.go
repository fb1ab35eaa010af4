package session

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newSealerOpener(t testing.TB) (*RecordSealer, *RecordOpener, []byte) {
	t.Helper()
	key := randomKey()
	s, err := NewRecordSealer(key)
	require.NoError(t, err)
	o, err := NewRecordOpener(key)
	require.NoError(t, err)
	return s, o, key
}

func TestRecordKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33} {
		_, err := NewRecordSealer(make([]byte, n))
		require.Error(t, err, "%d-byte key", n)
		assert.Contains(t, err.Error(), "want 32")
		_, err = NewRecordOpener(make([]byte, n))
		require.Error(t, err, "%d-byte key", n)
	}
}

func TestRecordSealOpen(t *testing.T) {
	s, o, _ := newSealerOpener(t)
	for i, body := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte("ab"), 5000)} {
		r := s.Seal(nil, RecordData, body)
		require.Len(t, r, len(body)+RecordOverhead)
		require.Equal(t, uint64(i+1), s.Seq())
		typ, got, err := o.Open(r)
		require.NoError(t, err)
		assert.Equal(t, byte(RecordData), typ)
		assert.Equal(t, len(body), len(got))
		assert.True(t, bytes.Equal(body, got))
		assert.Equal(t, uint64(i+1), o.Seq())
	}
}

// TestRecordSealInPlace: the body may already sit where Seal writes it, and
// Seal does not allocate when dst has room.
func TestRecordSealInPlace(t *testing.T) {
	s, o, key := newSealerOpener(t)
	buf := make([]byte, 4, 4+RecordOverhead+100)
	body := buf[5 : 5+100]
	for i := range body {
		body[i] = byte(i)
	}
	want := bytes.Clone(body)
	s2, err := NewRecordSealer(key)
	require.NoError(t, err)
	expect := s2.Seal(nil, RecordData, want)

	out := s.Seal(buf, RecordData, body)
	require.Equal(t, &buf[:1][0], &out[:1][0], "sealed in place")
	assert.Equal(t, expect, out[4:])
	_, got, err := o.Open(out[4:])
	require.NoError(t, err)
	assert.Equal(t, want, got)

	scratch := make([]byte, 0, 64+RecordOverhead)
	msg := make([]byte, 64)
	allocs := testing.AllocsPerRun(100, func() { s.Seal(scratch, RecordData, msg) })
	assert.Zero(t, allocs)
}

func TestRecordOpenFailures(t *testing.T) {
	s, o, key := newSealerOpener(t)
	r0 := s.Seal(nil, RecordData, []byte("zero"))
	r1 := s.Seal(nil, RecordData, []byte("one"))
	r2 := s.Seal(nil, RecordClose, nil)

	open := func(r []byte) error {
		_, _, err := o.Open(bytes.Clone(r))
		return err
	}
	// Every flipped bit fails, and a failure does not advance seq.
	for i := range len(r0) * 8 {
		bad := bytes.Clone(r0)
		bad[i/8] ^= 1 << (i % 8)
		require.ErrorIs(t, open(bad), ErrAuth, "bit %d", i)
		require.Zero(t, o.Seq())
	}
	// Truncated, extended, empty, short.
	for _, bad := range [][]byte{r0[:len(r0)-1], append(bytes.Clone(r0), 0), nil, r0[:RecordOverhead-1], r0[:RecordOverhead]} {
		require.ErrorIs(t, open(bad), ErrAuth, "%d bytes", len(bad))
	}
	// Dropped (r1 at seq 0) and reordered.
	err := open(r1)
	require.ErrorIs(t, err, ErrAuth)
	assert.Contains(t, err.Error(), "record 0:")
	require.NoError(t, open(r0))
	// Replayed.
	require.ErrorIs(t, open(r0), ErrAuth)
	require.NoError(t, open(r1))
	// Another key, and the other direction's key at the same seq.
	other, err := NewRecordOpener(randomKey())
	require.NoError(t, err)
	other.seq = 2
	_, _, err = other.Open(bytes.Clone(r2))
	require.ErrorIs(t, err, ErrAuth)
	require.NoError(t, open(r2))
	_ = key
}

func TestRecordDirectionsDiffer(t *testing.T) {
	// With the real schedule, a record of one direction never opens in the
	// other, even at the same seq.
	kc, ks, err := ExpandKeys(bytes.Repeat([]byte{7}, PRKSize))
	require.NoError(t, err)
	require.NotEqual(t, kc, ks)
	s, _ := NewRecordSealer(kc)
	o, _ := NewRecordOpener(ks)
	_, _, err = o.Open(s.Seal(nil, RecordData, []byte("hi")))
	require.ErrorIs(t, err, ErrAuth)
}

func TestScheduleInputSizes(t *testing.T) {
	ss := make([]byte, SharedKeySize)
	th := make([]byte, HashSize)
	_, err := ExtractPRK(th[1:], ss, ss)
	require.Error(t, err)
	_, err = ExtractPRK(th, ss[1:], ss)
	require.Error(t, err)
	_, err = ExtractPRK(th, ss, append(ss, 0))
	require.Error(t, err)
	_, _, err = ExpandKeys(make([]byte, PRKSize-1))
	require.Error(t, err)
	// ss_e and ss_s are ordered: swapping them changes the PRK.
	a, b := bytes.Repeat([]byte{1}, SharedKeySize), bytes.Repeat([]byte{2}, SharedKeySize)
	p1, err := ExtractPRK(th, a, b)
	require.NoError(t, err)
	p2, err := ExtractPRK(th, b, a)
	require.NoError(t, err)
	assert.NotEqual(t, p1, p2)
}
