package session

import (
	"io"
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
