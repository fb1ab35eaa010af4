package session

import (
	"bytes"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/kem"
)

// steps is a reader that returns its steps one per Read (a string, or ""
// for a read of no bytes and no error), then io.EOF.
type steps []string

func (s *steps) Read(p []byte) (int, error) {
	if len(*s) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*s)[0])
	*s = (*s)[1:]
	return n, nil
}

// TestReadFromEmptyRead: a read of no bytes sends no record (an empty DATA
// record would be an empty message to the peer's ReadMessage).
//
// Equivalent mutants (the bytes sent are the same; only which buffer holds them, or its size, differs):
// copy.go:43 `retainBufSize-extra` to `+extra`; copy.go:49 `filled && bigChunk > smallChunk` to `||`, `>=` or `<=`; copy.go:54 `n == chunk` to `!=`.
// Living mutants, not equivalent, that only a write timeout inside ReadFrom would show (a record left pending): copy.go:85 `err == nil` to `!=` (no flush of pending bytes first) and copy.go:94 `big != nil` to `==` (a small record sealed in ReadFrom's own buffer).
// Living mutant, not equivalent: handshake_client.go:146 `len(body) == 1 && body[0] == wire.RefusedClientKey` to `||`: it takes a server that refuses a client key with another reason byte, which only a hand-written server's key schedule could send.
func TestReadFromEmptyRead(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli := handshake(t, sc, cc)
	r := &steps{"", "data", "", "more"}
	n, err := cli.ReadFrom(r)
	require.NoError(t, err)
	require.Equal(t, int64(len("datamore")), n)
	require.NoError(t, cli.CloseWrite())
	for _, want := range []string{"data", "more"} {
		m, err := srv.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, want, string(m))
	}
	_, err = srv.ReadMessage()
	require.Equal(t, io.EOF, err)
}

// TestReadFromPastWriteDeadline: with the write deadline passed, ReadFrom
// seals nothing and sends nothing, and says so: it must not count as
// written the bytes it read from r and could not send.
//
// Issue 18, a bug the mutants led to: ReadFrom counted n whenever
// sendRead's error was a timeout, also the timeout of pastWriteDeadline
// (and of flush) before anything was sealed: it returned (5, deadline
// exceeded) for 5 bytes never delivered. sendRead now says whether it
// sealed.
func TestReadFromPastWriteDeadline(t *testing.T) {
	srv, cli := pipeSessions(t)
	require.NoError(t, cli.SetWriteDeadline(time.Now().Add(-time.Second)))
	n, err := cli.ReadFrom(strings.NewReader("never"))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	assert.Zero(t, n, "nothing was sealed: no byte may be reported as written")
	require.NoError(t, cli.SetWriteDeadline(time.Time{}))
	go func() {
		cli.Write([]byte("after"))
		cli.CloseWrite()
	}()
	got, err := io.ReadAll(srv)
	require.NoError(t, err)
	assert.Equal(t, "after", string(got))
}

// TestReadFromVersion1Limit: ReadFrom on a version-1 session stops at the
// record limit, with CLOSE sent and an error that says so, after the
// records that fit, and counts every byte it sent, as Write does.
//
// Issue 18, a bug the mutants led to: sendRead returns the record-limit
// error after it sealed and sent the DATA record that went with CLOSE, and
// ReadFrom did not count that record: it returned 64 where 128 bytes were
// delivered (Write counts them).
func TestReadFromVersion1Limit(t *testing.T) {
	srv, cli := v1Pair(t, 0)
	msg := string(randomBytes(64))
	cli.set.limits.MaxBlocks = cli.out.sealer.Blocks + 2*wire.Blocks(len(msg)) + wire.Blocks(0)
	n, err := cli.ReadFrom(&steps{msg, msg, msg})
	require.ErrorIs(t, err, ErrRecordLimit)
	got, err := io.ReadAll(srv)
	require.NoError(t, err, "CLOSE came with the second record")
	require.Equal(t, msg+msg, string(got))
	assert.Equal(t, int64(len(got)), n, "ReadFrom counts the bytes it sealed and sent, as Write does")
}

// noWriterTo hides a reader's WriteTo, so that io.Copy to a Conn takes
// the Conn's ReadFrom.
type noWriterTo struct{ io.Reader }

// TestReadFromLargeAcrossKeyUpdates: ReadFrom on a source that fills every
// read moves to its large buffer, seals each record in place there, and
// seals the key updates that fall due (by record count, and by AES block
// count) in the room before it: the peer gets every byte in order. Each
// update falls exactly at its limit, where a sender that left no room for
// it would write it over the record's body.
//
// Equivalent mutants (a record placed from the buffer's start when no update is due is moved there whole, then sealed: the bytes sent are the same):
// copy.go:131 `c.version >= wire.Version2 && (...)` to `||`; copy.go:131 `s.Blocks+wire.Blocks(n) > lim.UpdateAtBlocks` to `>=`.
func TestReadFromLargeAcrossKeyUpdates(t *testing.T) {
	for _, tc := range []struct {
		name    string
		records uint64 // UpdateAtRecords
		blocks  uint64 // UpdateAtBlocks
	}{
		{"by records", 3, wire.DefaultLimits.UpdateAtBlocks},
		{"by blocks", wire.DefaultLimits.UpdateAtRecords, 3 * wire.Blocks(readFromChunk)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli := pipeSessions(t)
			cli.set.limits.UpdateAtRecords = tc.records
			cli.set.limits.UpdateAtBlocks = tc.blocks
			data := randomBytes(4 << 20)
			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(srv)
				got <- b
			}()
			n, err := io.Copy(cli, noWriterTo{bytes.NewReader(data)})
			require.NoError(t, err)
			require.Equal(t, int64(len(data)), n)
			require.NoError(t, cli.CloseWrite())
			assert.True(t, bytes.Equal(data, <-got), "the peer got other bytes")
			cs := cli.ConnectionState()
			assert.GreaterOrEqual(t, cs.KeyUpdatesSent, uint64(4), "key updates sent")
			assert.Equal(t, cs.KeyUpdatesSent, srv.ConnectionState().KeyUpdatesReceived)
		})
	}
}

// TestRefuseWriteFails: Refuse on a connection it cannot write to says so.
func TestRefuseWriteFails(t *testing.T) {
	a, b := net.Pipe()
	b.Close()
	err := Refuse(a, RefusedFull)
	require.Error(t, err)
	assert.ErrorContains(t, err, "session: refuse: ")
	assert.ErrorIs(t, err, io.ErrClosedPipe)
}
