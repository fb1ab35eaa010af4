package session

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/kem"
)

// TestCloseWriteHalfCloses: CloseWrite sends CLOSE and then half-closes
// the TCP connection: the peer's raw socket reads the CLOSE record and then
// the end of the stream.
func TestCloseWriteHalfCloses(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srvRaw, cliRaw := tcpPair(t)
	_, cli, srvErr, cliErr := handshakeOn(srvRaw, cliRaw, sc, cc)
	require.NoError(t, srvErr)
	require.NoError(t, cliErr)
	require.NoError(t, cli.CloseWrite())
	require.NoError(t, srvRaw.SetReadDeadline(time.Now().Add(5*time.Second)))
	rest, err := io.ReadAll(srvRaw)
	require.NoError(t, err, "the stream ends: no FIN would time out here")
	p, err := frame.NewReader(strings.NewReader(string(rest)), 0).Next()
	require.NoError(t, err)
	require.Len(t, p, wire.RecordOverhead, "one empty record: CLOSE")
}

// TestCloseReportsFailedCLOSE: Close closes the connection even when the
// CLOSE record cannot be sent, and says that it could not.
func TestCloseReportsFailedCLOSE(t *testing.T) {
	srv, cli := pipeSessions(t)
	require.NoError(t, srv.NetConn().Close())
	err := cli.Close()
	require.ErrorContains(t, err, "session: sending CLOSE failed (the connection is closed anyway)")
	_, err = cli.Write([]byte("x"))
	require.Error(t, err)
}

// TestCloseAfterReadFrom: a ReadFrom (io.Copy) that has returned leaves no
// call in progress: Close then sends CLOSE, and the peer reads everything
// and a clean end, not a truncation.
//
// Equivalent mutant: copy.go:41 `bodyAt + wire.TagSize + update` to `bodyAt - wire.TagSize + update`: the bytes are the same; at worst the in-place seal of a large record grows its buffer (a copy) where its size class left no room.
func TestCloseAfterReadFrom(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli := handshake(t, sc, cc)
	for range 2 {
		// Hide strings.Reader's WriteTo, so that io.Copy calls ReadFrom.
		n, err := io.Copy(cli, struct{ io.Reader }{strings.NewReader("copied")})
		require.NoError(t, err)
		require.Equal(t, int64(len("copied")), n)
	}
	require.NoError(t, cli.Close())
	got, err := io.ReadAll(srv)
	require.NoError(t, err, "CLOSE, not a truncation")
	require.Equal(t, "copiedcopied", string(got))
}
