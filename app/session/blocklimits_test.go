package session

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/kem"
)

// The usage limits counted in AES blocks, each at its exact boundary: a
// record that takes a key exactly to a limit is within it, one block more
// is past it. The limits are lowered on a live session, from the blocks its
// handshake used, so that one record of 64 bytes meets them.

// v1Pair returns a handshaken version-1 session; maxFrame sets the client's
// MaxFrame (0: the default).
func v1Pair(t *testing.T, maxFrame int) (srv, cli *Conn) {
	t.Helper()
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	v1Client(cc)
	cc.MaxFrame = maxFrame
	return handshake(t, sc, cc)
}

// TestVersion1BlockLimit: a version-1 sender (no key update) sends CLOSE
// with the DATA that takes it to MaxBlocks (the two fit exactly), sends
// CLOSE alone when even the DATA would not fit, and, when the limit falls
// inside a Write of several records, says so after the records that fit.
//
// Equivalent mutant: conn.go:353 `break` to `continue` once CLOSE is sent with nothing left to write: the loop ends either way.
func TestVersion1BlockLimit(t *testing.T) {
	msg := randomBytes(64)
	dataAndClose := wire.Blocks(len(msg)) + wire.Blocks(0)

	t.Run("DATA and CLOSE fit exactly", func(t *testing.T) {
		srv, cli := v1Pair(t, 0)
		cli.set.limits.MaxBlocks = cli.out.sealer.Blocks + dataAndClose
		n, err := cli.Write(msg)
		require.NoError(t, err)
		require.Equal(t, len(msg), n)
		got, err := io.ReadAll(srv)
		require.NoError(t, err, "CLOSE came with the DATA")
		require.Equal(t, msg, got)
		_, err = cli.Write([]byte("x"))
		require.ErrorIs(t, err, ErrClosed)
	})

	t.Run("one block short: CLOSE alone", func(t *testing.T) {
		srv, cli := v1Pair(t, 0)
		cli.set.limits.MaxBlocks = cli.out.sealer.Blocks + dataAndClose - 1
		n, err := cli.Write(msg)
		require.ErrorIs(t, err, ErrRecordLimit)
		require.ErrorIs(t, err, ErrClosed)
		require.Zero(t, n)
		got, err := io.ReadAll(srv)
		require.NoError(t, err)
		require.Empty(t, got)
	})

	t.Run("the limit inside a Write", func(t *testing.T) {
		srv, cli := v1Pair(t, wire.RecordOverhead+len(msg)) // one record per 64 bytes
		cli.set.limits.MaxBlocks = cli.out.sealer.Blocks + wire.Blocks(len(msg)) + dataAndClose
		long := bytes.Repeat(msg, 3)
		n, err := cli.Write(long)
		require.ErrorIs(t, err, ErrRecordLimit)
		require.ErrorContains(t, err, "the version-1 record limit")
		require.Equal(t, 2*len(msg), n, "two records went, with CLOSE")
		got, err := io.ReadAll(srv)
		require.NoError(t, err)
		require.Equal(t, long[:n], got)
	})
}

// TestReceiveBlockLimit: a receiver takes a record that brings its key
// exactly to MaxBlocks, and refuses the next one (a peer that never
// updates its key).
func TestReceiveBlockLimit(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli := handshake(t, sc, cc)
	msg := string(randomBytes(64))
	srv.set.limits.MaxBlocks = srv.in.opener.Blocks + wire.Blocks(len(msg))
	go rawRecords(t, cli, data(msg), data("y"))
	got, err := io.ReadAll(srv)
	require.ErrorIs(t, err, ErrRecordLimit)
	assert.Equal(t, msg, string(got), "the record within the limit is delivered")
}

// TestKeyUpdateAtBlocks: a sender whose key reaches UpdateAtBlocks exactly
// keeps it; the next record goes under a new key.
func TestKeyUpdateAtBlocks(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli := handshake(t, sc, cc)
	msg := randomBytes(64)
	cli.set.limits.UpdateAtBlocks = cli.out.sealer.Blocks + wire.Blocks(len(msg))
	_, err := cli.Write(msg)
	require.NoError(t, err)
	assert.Zero(t, cli.ConnectionState().KeyUpdatesSent, "at the limit, not past it")
	_, err = cli.Write([]byte("y"))
	require.NoError(t, err)
	assert.Equal(t, uint64(1), cli.ConnectionState().KeyUpdatesSent)
	got := make([]byte, len(msg)+1)
	_, err = io.ReadFull(srv, got)
	require.NoError(t, err)
	require.Equal(t, append(msg, 'y'), got)
}
