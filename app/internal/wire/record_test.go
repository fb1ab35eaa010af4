package wire

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func randomKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

func newSealerOpener(t testing.TB) (*Sealer, *Opener, []byte) {
	t.Helper()
	key := randomKey(t)
	s, o := new(Sealer), new(Opener)
	require.NoError(t, s.SetKey(key))
	require.NoError(t, o.SetKey(key))
	return s, o, key
}

// directBlocks counts what PROTOCOL.md says a record adds to q + s: one
// record, and the 16-byte blocks of type || body, the last one partial.
func directBlocks(n int) uint64 {
	blocks := uint64(1)
	for off := 0; off < TypeSize+n; off += 16 {
		blocks++
	}
	return blocks
}

func TestBlocks(t *testing.T) {
	for n := 0; n <= 4096; n++ {
		require.Equal(t, directBlocks(n), Blocks(n), "%d-byte body", n)
	}
	for _, n := range []int{1 << 20, 1<<30 - 17, 1 << 30, 1<<31 - 1} {
		assert.Equal(t, directBlocks(n), Blocks(n), "%d-byte body", n)
	}
	// ceil((1+n)/16) + 1
	assert.Equal(t, uint64(2), Blocks(0))
	assert.Equal(t, uint64(2), Blocks(15))
	assert.Equal(t, uint64(3), Blocks(16))
	assert.Equal(t, uint64(3), Blocks(31))
	assert.Equal(t, uint64(4), Blocks(32))
}

func TestRecordKeySize(t *testing.T) {
	for _, n := range []int{0, 1, 16, 24, 31, 33, 64} {
		want := fmt.Sprintf("record key is %d bytes, want 32", n)
		var s Sealer
		assert.EqualError(t, s.SetKey(make([]byte, n)), want)
		assert.False(t, s.Ready())
		var o Opener
		assert.EqualError(t, o.SetKey(make([]byte, n)), want)
		_, err := NewAEAD(make([]byte, n))
		assert.EqualError(t, err, want)
	}
	a, err := NewAEAD(make([]byte, KeySize))
	require.NoError(t, err)
	assert.Equal(t, NonceSize, a.NonceSize())
	assert.Equal(t, TagSize, a.Overhead())
}

// TestRecordSetKeyFailureKeepsKey: a refused key leaves the sealer and the
// opener as they were, key and counters.
func TestRecordSetKeyFailureKeepsKey(t *testing.T) {
	s, o, _ := newSealerOpener(t)
	_, _, err := o.Open(s.Seal(nil, RecordData, []byte("zero")))
	require.NoError(t, err)
	require.Error(t, s.SetKey(make([]byte, 31)))
	require.Error(t, o.SetKey(make([]byte, 33)))
	assert.True(t, s.Ready())
	assert.Equal(t, uint64(1), s.Seq)
	assert.Equal(t, Blocks(4), s.Blocks)
	assert.Equal(t, uint64(1), o.Seq)
	assert.Equal(t, Blocks(4), o.Blocks)
	_, body, err := o.Open(s.Seal(nil, RecordData, []byte("one")))
	require.NoError(t, err)
	assert.Equal(t, "one", string(body))
}

// TestRecordSetKeyRestarts: a new key starts again at seq 0 and 0 blocks.
func TestRecordSetKeyRestarts(t *testing.T) {
	s, o, _ := newSealerOpener(t)
	for range 3 {
		_, _, err := o.Open(s.Seal(nil, RecordData, []byte("x")))
		require.NoError(t, err)
	}
	key := randomKey(t)
	require.NoError(t, s.SetKey(key))
	require.NoError(t, o.SetKey(key))
	assert.Zero(t, s.Seq)
	assert.Zero(t, s.Blocks)
	assert.Zero(t, o.Seq)
	assert.Zero(t, o.Blocks)
	// The first record under the new key is sealed at seq 0.
	fresh := new(Sealer)
	require.NoError(t, fresh.SetKey(key))
	assert.Equal(t, fresh.Seal(nil, RecordClose, nil), s.Seal(nil, RecordClose, nil))
}

func TestRecordSealOpen(t *testing.T) {
	s, o, _ := newSealerOpener(t)
	assert.True(t, s.Ready())
	var seq, blocks uint64
	sizes := []int{0, 1, 2, 14, 15, 16, 17, 30, 31, 32, 33, 47, 48, 100, 255, 256, 1000, 4095, 4096, 10000, 1<<16 + 3, 1 << 20}
	for i, n := range sizes {
		for _, typ := range []byte{RecordData, RecordFinished, RecordClose, RecordKeyUpdate, 0x00, 0xFF} {
			body := make([]byte, n)
			rand.Read(body)
			if n == 0 && i%2 == 0 {
				body = nil
			}
			r := s.Seal(nil, typ, body)
			require.Len(t, r, n+RecordOverhead)
			seq++
			blocks += directBlocks(n)
			require.Equal(t, seq, s.Seq)
			require.Equal(t, blocks, s.Blocks)

			gotTyp, got, err := o.Open(r)
			require.NoError(t, err, "%d-byte body, type %d", n, typ)
			assert.Equal(t, typ, gotTyp)
			assert.Len(t, got, n)
			assert.True(t, bytes.Equal(body, got))
			if n > 0 {
				assert.Same(t, &r[TypeSize], &got[0], "Open decrypts in place")
			}
			require.Equal(t, seq, o.Seq)
			require.Equal(t, blocks, o.Blocks)
		}
	}
}

// TestRecordSealAppends: Seal keeps what dst holds, whether or not it has
// room.
func TestRecordSealAppends(t *testing.T) {
	s, o, _ := newSealerOpener(t)
	for _, c := range []int{6, 6 + RecordOverhead + 4, 1000} {
		dst := make([]byte, 6, c)
		copy(dst, "prefix")
		out := s.Seal(dst, RecordData, []byte("body"))
		require.Len(t, out, 6+4+RecordOverhead)
		assert.Equal(t, "prefix", string(out[:6]))
		assert.Equal(t, "prefix", string(dst), "dst's own bytes are untouched")
		if c >= len(out) {
			assert.Same(t, &dst[0], &out[0], "sealed in dst's room")
		}
		_, body, err := o.Open(out[6:])
		require.NoError(t, err)
		assert.Equal(t, "body", string(body))
	}
}

// TestRecordSealInPlace: the body may already sit where Seal writes it, and
// Seal does not allocate when dst has room.
func TestRecordSealInPlace(t *testing.T) {
	for _, at := range []int{4, 5} { // where the body is: dst[len(dst)] on
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			s, o, key := newSealerOpener(t)
			buf := make([]byte, 4, 5+100+RecordOverhead)
			body := buf[at : at+100]
			for i := range body {
				body[i] = byte(i)
			}
			want := bytes.Clone(body)
			s2 := new(Sealer)
			require.NoError(t, s2.SetKey(key))
			expect := s2.Seal(nil, RecordData, want)

			out := s.Seal(buf, RecordData, body)
			require.Same(t, &buf[:1][0], &out[:1][0], "sealed in place")
			assert.Equal(t, expect, out[4:])
			_, got, err := o.Open(out[4:])
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

func TestRecordNoAllocs(t *testing.T) {
	s, o, _ := newSealerOpener(t)
	scratch := make([]byte, 0, 64+RecordOverhead)
	msg := make([]byte, 64)
	assert.Zero(t, testing.AllocsPerRun(100, func() { s.Seal(scratch, RecordData, msg) }))

	// Seal and Open in place, and OpenTo into a buffer with room.
	s, o, _ = newSealerOpener(t)
	plain := make([]byte, 0, 64+TagSize)
	allocs := testing.AllocsPerRun(100, func() {
		r := s.Seal(scratch, RecordData, msg)
		if _, _, err := o.Open(r); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
	allocs = testing.AllocsPerRun(100, func() {
		r := s.Seal(scratch, RecordData, msg)
		if _, _, err := o.OpenTo(plain, r); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

// TestRecordOpenTo: OpenTo writes the plaintext to a separate buffer and
// leaves the record as it was.
func TestRecordOpenTo(t *testing.T) {
	s, o, _ := newSealerOpener(t)
	for _, n := range []int{0, 1, 15, 16, 100, 5000} {
		body := make([]byte, n)
		rand.Read(body)
		r := s.Seal(nil, RecordData, body)
		saved := bytes.Clone(r)
		dst := make([]byte, 3, len(r)) // length ignored, room enough
		typ, got, err := o.OpenTo(dst, r)
		require.NoError(t, err)
		assert.Equal(t, byte(RecordData), typ)
		assert.True(t, bytes.Equal(body, got))
		assert.Equal(t, saved, r, "record untouched")
		if n > 0 {
			assert.Same(t, &dst[:2][1], &got[0], "body aliases dst")
		}
	}
	// OpenTo(record[:0], record) is Open.
	r := s.Seal(nil, RecordClose, []byte{CloseIdle})
	typ, got, err := o.OpenTo(r[:0], r)
	require.NoError(t, err)
	assert.Equal(t, byte(RecordClose), typ)
	assert.Equal(t, []byte{CloseIdle}, got)
	assert.Same(t, &r[1], &got[0])
	assert.Equal(t, uint64(7), o.Seq)
}

func TestRecordOpenFailures(t *testing.T) {
	s, o, _ := newSealerOpener(t)
	r0 := s.Seal(nil, RecordData, []byte("zero"))
	r1 := s.Seal(nil, RecordData, []byte("one"))
	r2 := s.Seal(nil, RecordClose, nil)

	open := func(r []byte) error {
		_, _, err := o.Open(bytes.Clone(r))
		return err
	}
	openTo := func(r []byte) error {
		_, _, err := o.OpenTo(make([]byte, len(r)), r)
		return err
	}
	unchanged := func(seq, blocks uint64, msg string, args ...any) {
		t.Helper()
		require.Equal(t, seq, o.Seq, append([]any{msg}, args...)...)
		require.Equal(t, blocks, o.Blocks, append([]any{msg}, args...)...)
	}
	// Every flipped bit fails, and a failure does not advance the counters.
	for i := range len(r0) * 8 {
		bad := bytes.Clone(r0)
		bad[i/8] ^= 1 << (i % 8)
		err := open(bad)
		require.ErrorIs(t, err, ErrAuth, "bit %d", i)
		require.EqualError(t, err, "record 0: record failed to authenticate")
		unchanged(0, 0, "bit %d", i)
		require.ErrorIs(t, openTo(bad), ErrAuth, "bit %d", i)
		unchanged(0, 0, "bit %d", i)
	}
	// Truncated, extended, empty, short, exactly the overhead.
	for _, bad := range [][]byte{r0[:len(r0)-1], append(bytes.Clone(r0), 0), nil, {}, r0[:1], r0[:TagSize], r0[:RecordOverhead-1], r0[:RecordOverhead]} {
		require.ErrorIs(t, open(bad), ErrAuth, "%d bytes", len(bad))
		require.ErrorIs(t, openTo(bad), ErrAuth, "%d bytes", len(bad))
		unchanged(0, 0, "%d bytes", len(bad))
	}
	assert.EqualError(t, open(r0[:RecordOverhead-1]), "record 0: record failed to authenticate: 16 bytes, shorter than the 17-byte minimum")
	assert.EqualError(t, open(nil), "record 0: record failed to authenticate: 0 bytes, shorter than the 17-byte minimum")
	// Dropped (r1 at seq 0) and reordered.
	err := open(r1)
	require.ErrorIs(t, err, ErrAuth)
	assert.EqualError(t, err, "record 0: record failed to authenticate")
	unchanged(0, 0, "dropped")
	require.NoError(t, open(r0))
	unchanged(1, Blocks(4), "opened")
	// Replayed.
	err = open(r0)
	require.ErrorIs(t, err, ErrAuth)
	assert.EqualError(t, err, "record 1: record failed to authenticate")
	unchanged(1, Blocks(4), "replayed")
	require.NoError(t, open(r1))
	unchanged(2, Blocks(4)+Blocks(3), "opened")
	// Another key at the right seq.
	other := new(Opener)
	require.NoError(t, other.SetKey(randomKey(t)))
	other.Seq = 2
	_, _, err = other.Open(bytes.Clone(r2))
	require.ErrorIs(t, err, ErrAuth)
	assert.Equal(t, uint64(2), other.Seq)
	assert.Zero(t, other.Blocks)
	// A sealer's counters never move back, and the right record still opens
	// after all those failures.
	require.NoError(t, open(r2))
	unchanged(3, Blocks(4)+Blocks(3)+Blocks(0), "opened")
	assert.Equal(t, o.Seq, s.Seq)
	assert.Equal(t, o.Blocks, s.Blocks)
}

// TestRecordDirectionsDiffer: with the real schedule, a record of one
// direction never opens in the other, even at the same seq.
func TestRecordDirectionsDiffer(t *testing.T) {
	prk := bytes.Repeat([]byte{7}, SecretSize)
	kc, err := Expand(prk, LabelV1ClientToServer, KeySize)
	require.NoError(t, err)
	ks, err := Expand(prk, LabelV1ServerToClient, KeySize)
	require.NoError(t, err)
	tsC, err := Expand(prk, LabelClientToServer, SecretSize)
	require.NoError(t, err)
	tsS, err := Expand(prk, LabelServerToClient, SecretSize)
	require.NoError(t, err)
	kc2, err := Expand(tsC, LabelKey, KeySize)
	require.NoError(t, err)
	ks2, err := Expand(tsS, LabelKey, KeySize)
	require.NoError(t, err)
	keys := [][]byte{kc, ks, kc2, ks2}
	for i, a := range keys {
		for j, b := range keys {
			if i == j {
				continue
			}
			require.NotEqual(t, a, b)
			s, o := new(Sealer), new(Opener)
			require.NoError(t, s.SetKey(a))
			require.NoError(t, o.SetKey(b))
			_, _, err = o.Open(s.Seal(nil, RecordData, []byte("hi")))
			require.ErrorIs(t, err, ErrAuth, "key %d sealed, key %d opened", i, j)
		}
	}
}

func TestRecordName(t *testing.T) {
	for typ, name := range map[byte]string{
		RecordFinished: "FINISHED", RecordData: "DATA", RecordClose: "CLOSE",
		RecordKeyUpdate: "KEY_UPDATE", RecordClientKey: "CLIENT_KEY",
		RecordClientCiphertext: "CLIENT_CIPHERTEXT", RecordRefused: "REFUSED",
		0x00: "unknown", 0x08: "unknown", 0xFF: "unknown",
	} {
		assert.Equal(t, name, RecordName(typ), "type 0x%02x", typ)
	}
}
