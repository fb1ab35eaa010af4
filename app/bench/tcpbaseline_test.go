package bench

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// TestRecordHandshake: the recorded writes of a session connection are a
// version-2 handshake's (PROTOCOL.md): the ServerHello (a server that
// requires no client key sends version 1's), the ClientHello, the server's
// FINISHED, the client's FINISHED, then each side's CLOSE.
func TestRecordHandshake(t *testing.T) {
	s, err := kem.Lookup(kem.MLKEM768, kem.BackendCircl)
	require.NoError(t, err)
	p := s.Params()
	script, err := recordHandshake(s)
	require.NoError(t, err)
	const frameHeader, hello, record = 4, 6 + 1 + 2, recordOverhead
	want := wireScript{
		{Server: true, Bytes: frameHeader + hello + 2*p.EncapsulationKeySize}, // ServerHello: ek_s, ek_e
		{Server: false, Bytes: frameHeader + hello + 2*p.CiphertextSize},      // ClientHello: ct_s, ct_e
		{Server: true, Bytes: frameHeader + record},                           // FINISHED
		{Server: false, Bytes: frameHeader + record},                          // FINISHED
		{Server: false, Bytes: frameHeader + record},                          // CLOSE
		{Server: true, Bytes: frameHeader + record},                           // CLOSE
	}
	assert.Equal(t, want, script)
	assert.Equal(t, "S 2381, C 2189, S 21, C 21, C 21, S 21", script.String())
	assert.Equal(t, 2381+2189+4*21, script.total())
	assert.Equal(t, 4, script.lastClientStep())
}

// TestScriptBaseline: the baseline's client and server play a script with
// plain TCP, and a client that strays from it makes the server fail.
func TestScriptBaseline(t *testing.T) {
	script := wireScript{{Server: true, Bytes: 100}, {Bytes: 80}, {Server: true, Bytes: 10}, {Bytes: 10}, {Bytes: 10}, {Server: true, Bytes: 10}}
	srv, err := startScriptServer(script)
	require.NoError(t, err)
	op := scriptClient(srv.addr(), script)
	x, err := rate(2, 20*time.Millisecond, op)
	require.NoError(t, err)
	assert.Positive(t, x)
	require.NoError(t, srv.Close())

	srv, err = startScriptServer(script)
	require.NoError(t, err)
	c, err := net.Dial("tcp", srv.addr())
	require.NoError(t, err)
	buf := make([]byte, 100)
	_, err = c.Read(buf[:1])
	require.NoError(t, err)
	c.Write(buf[:79]) // one byte short of the ClientHello's size
	c.Close()
	assert.ErrorContains(t, srv.Close(), "plain TCP baseline, step 1 (80 bytes)")
}
