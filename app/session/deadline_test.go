package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// pipeSessions returns a handshaken client and server over net.Pipe, whose
// writes block until the other end reads: what a deadline test needs.
func pipeSessions(t *testing.T) (srv, cli *Conn) {
	t.Helper()
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srvRaw, cliRaw := pipePair(t)
	srv, cli, srvErr, cliErr := handshakeOn(srvRaw, cliRaw, sc, cc)
	require.NoError(t, srvErr)
	require.NoError(t, cliErr)
	require.NoError(t, srv.SetDeadline(time.Time{}))
	require.NoError(t, cli.SetDeadline(time.Time{}))
	return srv, cli
}

// TestWriteTimeoutKeepsRecord: a Write that times out partway through a
// record counts the record in n and sends its rest first on the next
// Write: the reader gets every byte, in order.
func TestWriteTimeoutKeepsRecord(t *testing.T) {
	srv, cli := pipeSessions(t)
	big := randomBytes(64 << 10)

	// The server reads only the first 1000 bytes of the wire before the
	// client's deadline passes.
	raw := srv.NetConn()
	got := make(chan []byte, 1)
	started := make(chan struct{})
	go func() {
		head := make([]byte, 1000)
		io.ReadFull(raw, head)
		close(started)
		<-got // wait for the client's timed-out Write to return
		got <- head
	}()
	require.NoError(t, cli.SetWriteDeadline(time.Now().Add(200*time.Millisecond)))
	n, err := cli.Write(big)
	require.Error(t, err)
	require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "%v", err)
	assert.Equal(t, len(big), n, "n counts the record that will be delivered")
	<-started
	got <- nil
	head := <-got

	// Now the server reads on, through its session; the client writes
	// again without a deadline: the rest of the record goes first.
	require.NoError(t, cli.SetWriteDeadline(time.Time{}))
	done := make(chan error, 1)
	go func() {
		_, err := cli.Write([]byte("tail"))
		if err == nil {
			err = cli.CloseWrite()
		}
		done <- err
	}()
	// Put back the 1000 bytes the test took off the wire.
	srv.in.rd.buf = append(bytes.Clone(head), make([]byte, 64<<10)...)
	srv.in.rd.pos, srv.in.rd.end = 0, len(head)
	rest, err := io.ReadAll(srv)
	require.NoError(t, err)
	require.NoError(t, <-done)
	assert.Equal(t, append(bytes.Clone(big), "tail"...), rest)
}

// TestReadTimeoutKeepsInput: a Read that times out inside a record keeps
// what has arrived, and the next Read returns the record whole.
func TestReadTimeoutKeepsInput(t *testing.T) {
	srv, cli := pipeSessions(t)
	msg := randomBytes(10000)
	// Seal the record by hand and send it in two parts, with a timeout
	// in between.
	rec := appendRecord(nil, &cli.out.sealer, 0x02, msg)
	go func() {
		cli.NetConn().Write(rec[:5000])
	}()
	require.NoError(t, srv.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	n, err := srv.Read(make([]byte, len(msg)))
	assert.Zero(t, n)
	require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "%v", err)
	go cli.NetConn().Write(rec[5000:])
	require.NoError(t, srv.SetReadDeadline(time.Time{}))
	got := make([]byte, len(msg))
	_, err = io.ReadFull(srv, got)
	require.NoError(t, err)
	assert.Equal(t, msg, got)
}

// TestPastWriteDeadline: with the write deadline already passed, Write
// sends nothing and says nothing was written.
func TestPastWriteDeadline(t *testing.T) {
	srv, cli := pipeSessions(t)
	require.NoError(t, cli.SetWriteDeadline(time.Now().Add(-time.Second)))
	n, err := cli.Write([]byte("never"))
	assert.Zero(t, n)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.NoError(t, cli.SetWriteDeadline(time.Time{}))
	go func() {
		cli.Write([]byte("after"))
		cli.CloseWrite()
	}()
	got, err := io.ReadAll(srv)
	require.NoError(t, err)
	assert.Equal(t, "after", string(got))
}

// TestFrameTimeout: a peer that dribbles a frame is cut off with
// frame.ErrSlow, fast, while an idle peer is not.
func TestFrameTimeout(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	sc.FrameTimeout = 100 * time.Millisecond
	srv, cli := handshake(t, sc, cc)
	rec := appendRecord(nil, &cli.out.sealer, 0x02, []byte("slow"))
	errc := make(chan error, 1)
	go func() {
		_, err := srv.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(250 * time.Millisecond) // idle longer than the frame timeout: fine
	cli.NetConn().Write(rec[:3])       // a frame begins, and stops
	select {
	case err := <-errc:
		require.ErrorContains(t, err, "too slow")
	case <-time.After(5 * time.Second):
		t.Fatal("the frame timeout did not fire")
	}
}

// TestFrameTimeoutIdleAfterFrame: the frame timeout bounds a frame, not
// the wait after it: once a frame is read whole, the connection may sit
// idle longer than the timeout, and the next frame is read.
//
// Equivalent mutant: conn.go:209 `c.set.frameTimeout <= 0` to `< 0`: with no timeout the frame timer never started, so stopping it finds nothing to stop.
func TestFrameTimeoutIdleAfterFrame(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	sc.FrameTimeout = 100 * time.Millisecond
	srv, cli := handshake(t, sc, cc)
	buf := make([]byte, 10)
	go cli.Write([]byte("one"))
	n, err := srv.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "one", string(buf[:n]))
	time.Sleep(300 * time.Millisecond) // idle for three frame timeouts: the point of the test
	go cli.Write([]byte("two"))
	n, err = srv.Read(buf)
	require.NoError(t, err, "idle after a frame is no slow frame")
	require.Equal(t, "two", string(buf[:n]))
}

// TestHandshakeContextCancel: cancelling the context of a handshake that
// waits for its peer ends it at once (the connection is closed), with an
// error that says so and wraps the context's error.
func TestHandshakeContextCancel(t *testing.T) {
	_, cc := defaultConfigs(t, kem.MLKEM768)
	srvRaw, cliRaw := net.Pipe() // no deadlines: only the context can end the wait
	defer srvRaw.Close()
	defer cliRaw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- Client(cliRaw, cc).HandshakeContext(ctx) }()
	// Two bytes of a ServerHello's header: net.Pipe's Write returns once
	// the client has read them, so the client now waits for the rest.
	_, err := srvRaw.Write([]byte{0, 0})
	require.NoError(t, err)
	cancel()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorContains(t, err, "session: handshake interrupted: context canceled")
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled handshake did not end")
	}
}
