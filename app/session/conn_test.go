package session

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/identity"
	"github.com/kemtcp/kemtcp/app/kem"
)

// TestRoundTrip: every KEM on every backend completes the handshake over
// TCP, and bytes go both ways; ConnectionState agrees on both sides.
func TestRoundTrip(t *testing.T) {
	forEachScheme(t, func(t *testing.T, s kem.Scheme) {
		sc, cc := configs(t, s)
		srv, cli := handshake(t, sc, cc)
		msg := randomBytes(1000)
		go cli.Write(msg)
		got := make([]byte, len(msg))
		_, err := io.ReadFull(srv, got)
		require.NoError(t, err)
		require.Equal(t, msg, got)
		go srv.Write(msg[:10])
		_, err = io.ReadFull(cli, got[:10])
		require.NoError(t, err)
		require.Equal(t, msg[:10], got[:10])

		for _, c := range []*Conn{srv, cli} {
			cs := c.ConnectionState()
			assert.True(t, cs.HandshakeComplete)
			assert.Equal(t, 2, cs.Version)
			assert.Equal(t, s.Name(), cs.KEM)
			ek := sc.Static.EncapsulationKey().Bytes()
			assert.Equal(t, ek, cs.ServerKey)
			assert.Equal(t, identity.Fingerprint(ek), cs.ServerKeyFingerprint)
			assert.Nil(t, cs.ClientKey)
			assert.Empty(t, cs.ClientKeyFingerprint)
		}
	})
}

// TestReadAcrossRecords: Read returns at most one record's data, keeps
// what p could not take, and a sequence of Reads returns the stream
// whatever the record boundaries.
func TestReadAcrossRecords(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli := handshake(t, sc, cc)
	go func() {
		cli.Write([]byte("hello "))
		cli.Write([]byte("world, "))
		cli.Write(nil) // nothing: no record
		cli.Write([]byte("and more"))
		cli.CloseWrite()
	}()
	buf := make([]byte, 4)
	n, err := srv.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "hell", string(buf[:n]), "a partly read record is kept")
	n, err = srv.Read(make([]byte, 100))
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the rest of the first record, and not the next one")
	rest, err := io.ReadAll(srv)
	require.NoError(t, err, "CLOSE is a clean EOF")
	assert.Equal(t, "world, and more", string(rest))
}

// TestMessages: WriteMessage/ReadMessage keep message boundaries, empty
// messages included, and refuse a message over MaxMessageSize without
// breaking the session.
func TestMessages(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	sc.MaxFrame, cc.MaxFrame = 4096, 4096
	srv, cli := handshake(t, sc, cc)
	require.Equal(t, 4096-17, cli.MaxMessageSize())
	msgs := [][]byte{[]byte("one"), {}, bytes.Repeat([]byte("x"), cli.MaxMessageSize()), []byte("last")}
	errc := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			if err := cli.WriteMessage(m); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for _, want := range msgs {
		got, err := srv.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	require.NoError(t, <-errc)
	err := cli.WriteMessage(make([]byte, cli.MaxMessageSize()+1))
	require.Error(t, err)
	go cli.WriteMessage([]byte("still fine"))
	got, err := srv.ReadMessage()
	require.NoError(t, err)
	assert.Equal(t, "still fine", string(got))
}

// TestHalfClose: CloseWrite sends CLOSE; the peer reads to io.EOF and can
// still write back, and the closing side reads on until the peer's CLOSE.
func TestHalfClose(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli := handshake(t, sc, cc)
	go func() {
		cli.Write([]byte("request"))
		cli.CloseWrite()
	}()
	req, err := io.ReadAll(srv)
	require.NoError(t, err)
	assert.Equal(t, "request", string(req))
	_, err = srv.Write([]byte("response after the client's EOF"))
	require.NoError(t, err)
	require.NoError(t, srv.CloseWrite())
	require.NoError(t, srv.CloseWrite(), "idempotent")
	resp, err := io.ReadAll(cli)
	require.NoError(t, err)
	assert.Equal(t, "response after the client's EOF", string(resp))
	_, err = cli.Write([]byte("x"))
	require.ErrorIs(t, err, ErrClosed, "nothing is written after CLOSE")
	n, err := srv.Read(make([]byte, 1))
	assert.Equal(t, 0, n)
	assert.Equal(t, io.EOF, err, "EOF stays EOF")
}

// TestTruncation: a connection that ends without CLOSE is an unexpected
// EOF, never io.EOF, and says so.
func TestTruncation(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli := handshake(t, sc, cc)
	go func() {
		cli.Write([]byte("partial"))
		cli.NetConn().Close()
	}()
	got, err := io.ReadAll(srv)
	assert.Equal(t, "partial", string(got))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.ErrorIs(t, err, ErrTruncated)
	assert.Contains(t, err.Error(), "without CLOSE")
	_, err2 := srv.Read(make([]byte, 1))
	assert.Equal(t, err, err2, "the error is sticky")
	_, err = srv.Write([]byte("x"))
	require.ErrorIs(t, err, ErrTruncated, "a receive error ends writing too")
}

// TestConcurrentReadWrite: one goroutine reads while another writes, on
// both sides at once (run with -race).
func TestConcurrentReadWrite(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli := handshake(t, sc, cc)
	data := randomBytes(1 << 20)
	var wg sync.WaitGroup
	check := func(c *Conn) {
		wg.Go(func() {
			_, err := c.Write(data)
			assert.NoError(t, err)
			assert.NoError(t, c.CloseWrite())
		})
		wg.Go(func() {
			got, err := io.ReadAll(c)
			assert.NoError(t, err)
			assert.True(t, bytes.Equal(data, got))
		})
	}
	check(srv)
	check(cli)
	wg.Wait()
}

// TestClose: Close sends CLOSE, so the peer sees a clean end; a second
// Close says it is closed; Write after Close fails.
func TestClose(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli := handshake(t, sc, cc)
	_, err := cli.Write([]byte("bye"))
	require.NoError(t, err)
	require.NoError(t, cli.Close())
	got, err := io.ReadAll(srv)
	require.NoError(t, err)
	assert.Equal(t, "bye", string(got))
	assert.ErrorIs(t, cli.Close(), net.ErrClosed)
	_, err = cli.Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed)
	_, err = cli.ConnectionState().ExportKeyingMaterial("x", nil, 1)
	assert.ErrorIs(t, err, net.ErrClosed, "the exporter secret is gone")
}

// TestCloseWithReason: a version-2 CLOSE carries its reason to the peer.
func TestCloseWithReason(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli := handshake(t, sc, cc)
	go srv.CloseWithReason(CloseShutdown)
	_, err := io.ReadAll(cli)
	require.NoError(t, err)
	assert.Equal(t, CloseShutdown, cli.ConnectionState().PeerCloseReason)
	assert.Equal(t, "the server is shutting down", CloseShutdown.String())
}

// TestCloseWhileReadFromWaits: a Close while ReadFrom waits for its source
// (a tunnel's idle target) is not a write in progress: the CLOSE and its
// reason reach the peer after what ReadFrom sent, and ReadFrom ends once
// its source does.
func TestCloseWhileReadFromWaits(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli := handshake(t, sc, cc)
	pr, feed := io.Pipe()
	src := &waitingReader{r: pr, waiting: make(chan struct{}, 2)}
	done := make(chan error, 1)
	go func() {
		_, err := srv.ReadFrom(src)
		done <- err
	}()
	<-src.waiting
	_, err := feed.Write([]byte("before"))
	require.NoError(t, err)
	buf := make([]byte, 6)
	_, err = io.ReadFull(cli, buf)
	require.NoError(t, err)
	require.Equal(t, "before", string(buf))
	<-src.waiting // ReadFrom sent it and waits again

	require.NoError(t, srv.CloseWithReason(CloseTarget)) // ReadFrom waits in src.Read
	rest, err := io.ReadAll(cli)
	require.NoError(t, err, "a CLOSE, not a cut connection")
	assert.Empty(t, rest)
	assert.Equal(t, CloseTarget, cli.ConnectionState().PeerCloseReason)

	// What the source gives after Close is not sent.
	_, err = feed.Write([]byte("after"))
	require.NoError(t, err)
	require.ErrorIs(t, <-done, net.ErrClosed)
}

// waitingReader tells on waiting each time a Read begins.
type waitingReader struct {
	r       io.Reader
	waiting chan struct{}
}

func (w *waitingReader) Read(p []byte) (int, error) {
	w.waiting <- struct{}{}
	return w.r.Read(p)
}

// TestHandshakeErrorsSticky: a failed handshake fails every later call the
// same way, and CloseWrite needs a completed handshake.
func TestHandshakeErrorsSticky(t *testing.T) {
	s := lookup(t, kem.MLKEM768, "")
	other := lookup(t, kem.MLKEM1024, "")
	sc, _ := configs(t, s)
	_, cc := configs(t, other)
	srvRaw, cliRaw := tcpPair(t)
	_, cli, _, cliErr := handshakeOn(srvRaw, cliRaw, sc, cc)
	require.ErrorIs(t, cliErr, ErrKEMMismatch)
	_, err := cli.Write([]byte("x"))
	assert.Equal(t, cliErr, err)
	_, err = cli.Read(make([]byte, 1))
	assert.Equal(t, cliErr, err)
	assert.ErrorIs(t, cli.CloseWrite(), ErrHandshakeIncomplete)
	assert.False(t, cli.ConnectionState().HandshakeComplete)
}

// TestConfigErrors: unusable configs fail the handshake with ErrConfig.
func TestConfigErrors(t *testing.T) {
	s := lookup(t, kem.MLKEM768, "")
	for name, tc := range map[string]struct {
		sc *ServerConfig
		cc *ClientConfig
	}{
		"nil server":       {sc: nil},
		"no scheme":        {sc: &ServerConfig{Static: staticKey(t, s)}},
		"no static key":    {sc: &ServerConfig{Scheme: s}},
		"wrong static key": {sc: &ServerConfig{Scheme: s, Static: staticKey(t, lookup(t, kem.MLKEM512, kem.BackendCircl))}},
		"tiny MaxFrame":    {sc: &ServerConfig{Scheme: s, Static: staticKey(t, s), MaxFrame: 17}},
		"nil client":       {cc: nil},
		"wrong client key": {cc: &ClientConfig{Scheme: s, ClientKey: clientKey(t, lookup(t, kem.MLKEM1024, ""))}},
		"client no scheme": {cc: &ClientConfig{}},
	} {
		t.Run(name, func(t *testing.T) {
			a, _ := net.Pipe()
			defer a.Close()
			var err error
			if tc.sc != nil || name == "nil server" {
				err = Server(a, tc.sc).Handshake()
			} else {
				err = Client(a, tc.cc).Handshake()
			}
			require.ErrorIs(t, err, ErrConfig)
		})
	}
}
