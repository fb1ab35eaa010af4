package session

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/kem"
)

// scriptConn is a net.Conn that reads a fixed stream (or from r) and
// records every Write.
type scriptConn struct {
	r      io.Reader
	mu     sync.Mutex
	writes [][]byte
	closed bool
}

func newScript(stream []byte) *scriptConn { return &scriptConn{r: bytes.NewReader(stream)} }

func (s *scriptConn) Read(p []byte) (int, error) { return s.r.Read(p) }
func (s *scriptConn) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, bytes.Clone(p))
	return len(p), nil
}
func (s *scriptConn) written() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}
func (s *scriptConn) Close() error                     { s.closed = true; return nil }
func (s *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (s *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (s *scriptConn) SetDeadline(time.Time) error      { return nil }
func (s *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (s *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// TestHandshakeMatrix: every KEM, every pair of backends (server's,
// client's), with and without a client key, then data both ways.
func TestHandshakeMatrix(t *testing.T) {
	for _, alg := range kem.Algorithms() {
		for _, sb := range kem.Backends() {
			for _, cb := range kem.Backends() {
				for _, withKey := range []bool{false, true} {
					t.Run(fmt.Sprintf("%s/%s-%s/clientkey=%v", alg, sb, cb, withKey), func(t *testing.T) {
						ss, cs := lookup(t, alg, sb), lookup(t, alg, cb)
						static := staticKey(t, ss)
						var seen []byte
						sc := &ServerConfig{Scheme: ss, Static: static}
						cc := &ClientConfig{Scheme: cs, VerifyServerKey: func(ek []byte) error { seen = bytes.Clone(ek); return nil }}
						if withKey {
							cc.ClientKey = clientKey(t, cs)
							sc.VerifyClientKey = authorize(cc.ClientKey)
						}
						srv, cli := handshake(t, sc, cc)
						assert.Equal(t, static.EncapsulationKey().Bytes(), seen, "VerifyServerKey gets ek_s")
						go func() {
							cli.Write([]byte("ping"))
							cli.CloseWrite()
						}()
						got, err := io.ReadAll(srv)
						require.NoError(t, err)
						assert.Equal(t, "ping", string(got))
						go func() {
							srv.Write([]byte("pong"))
							srv.CloseWrite()
						}()
						got, err = io.ReadAll(cli)
						require.NoError(t, err)
						assert.Equal(t, "pong", string(got))
					})
				}
			}
		}
	}
}

// serverHello returns a real ServerHello payload of s.
func serverHello(t testing.TB, s kem.Scheme, version, flags byte) []byte {
	dkE, err := s.GenerateKey()
	require.NoError(t, err)
	defer dkE.Destroy()
	b, err := (&wire.ServerHello{Version: version, Flags: flags, KEMID: s.Params().ID,
		StaticKey: staticKey(t, s).EncapsulationKey().Bytes(), EphemeralKey: dkE.EncapsulationKey().Bytes()}).Append(nil)
	require.NoError(t, err)
	return b
}

// badModulus makes an ML-KEM encapsulation key fail the FIPS 203 modulus
// check: its first 12-bit coefficient becomes 4095 >= q = 3329.
func badModulus(ek []byte) []byte {
	ek = bytes.Clone(ek)
	ek[0] = 0xFF
	ek[1] |= 0x0F
	return ek
}

// TestClientServerHelloErrors feeds the client a bad ServerHello: it must
// fail with the right error, naming the stage, having written nothing.
func TestClientServerHelloErrors(t *testing.T) {
	s768 := lookup(t, kem.MLKEM768, "")
	s1024 := lookup(t, kem.MLKEM1024, "")
	good := serverHello(t, s768, wire.Version1, 0)
	p := s768.Params()
	with := func(off int, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	h := wire.HelloHeaderSize
	ekS := good[h : h+p.EncapsulationKeySize]
	ekE := good[h+p.EncapsulationKeySize:]
	badS := append(append(bytes.Clone(good[:h]), badModulus(ekS)...), ekE...)
	badE := append(append(bytes.Clone(good[:h]), ekS...), badModulus(ekE)...)
	v2 := serverHello(t, s768, wire.Version2, wire.FlagClientKey)
	errVerify := errors.New("pin mismatch: SHA256:abc")

	for _, tc := range []struct {
		name   string
		stream []byte
		verify func([]byte) error
		want   []error
		msg    string
	}{
		{"magic", frame.Append(nil, with(0, 'X')), nil, []error{ErrBadMagic}, `ServerHello: bad magic`},
		{"version", frame.Append(nil, with(6, 3)), nil, []error{ErrVersion}, "ServerHello: unsupported protocol version 3"},
		{"kem id", frame.Append(nil, with(7, 0x12, 0x34)), nil, []error{ErrUnknownKEM}, "ServerHello: unknown KEM id 0x1234"},
		{"kem mismatch", frame.Append(nil, serverHello(t, s1024, wire.Version1, 0)), nil, []error{ErrKEMMismatch},
			"ServerHello: KEM mismatch: the server uses ML-KEM-1024 (0x0202), the client ML-KEM-768 (0x0201)"},
		{"short", frame.Append(nil, good[:len(good)-1]), nil, []error{ErrLength}, "ServerHello: wrong length for ML-KEM-768 (0x0201): got 2376 bytes, want 2377"},
		{"long", frame.Append(nil, append(bytes.Clone(good), 0)), nil, []error{ErrLength}, "got 2378 bytes, want 2377"},
		{"v2 unknown flag", frame.Append(nil, append(append(bytes.Clone(v2[:h]), 0x02), v2[h+1:]...)), nil, []error{ErrFlags}, "ServerHello: unknown ServerHello flags 0x02"},
		{"v2 needs a client key", frame.Append(nil, v2), nil, []error{ErrClientKeyRequired}, "ServerHello: the server requires a client key, and this client has none"},
		{"legacy pickle", frame.Append(nil, append([]byte{0x80, 0x04, 0x95, 0x2a, 0x04, 0, 0, 0, 0, 0, 0, 'B'}, ekS...)), nil, []error{ErrLegacyPeer},
			"ServerHello: the server speaks the original demo's legacy protocol"},
		{"refused: full", frame.Append(nil, wire.AppendRefusal(nil, wire.RefusedFull)), nil, []error{ErrRefused}, "ServerHello: the server refused the connection: the server is full (too many connections)"},
		{"refused: per source", frame.Append(nil, wire.AppendRefusal(nil, wire.RefusedPerSource)), nil, []error{ErrRefused}, "too many connections from this address"},
		{"bad ek_s", frame.Append(nil, badS), nil, []error{ErrBadKey, kem.ErrEncapsKey}, "ServerHello: invalid encapsulation key: static key ek_s"},
		{"bad ek_e", frame.Append(nil, badE), nil, []error{ErrBadKey, kem.ErrEncapsKey}, "ephemeral key ek_e"},
		{"refused key", frame.Append(nil, good), func([]byte) error { return errVerify }, []error{ErrServerKeyRefused, errVerify}, "ServerHello: server key refused: pin mismatch: SHA256:abc"},
		{"empty stream", nil, nil, []error{ErrTruncated, io.ErrUnexpectedEOF}, "ServerHello: connection ended without CLOSE (truncated): the connection ended before the ServerHello (is it a kemtcp session server? A full one closes new connections too)"},
		{"half header", []byte{0, 0}, nil, []error{ErrTruncated, frame.ErrTruncated}, "ServerHello:"},
		{"half payload", frame.Append(nil, good)[:100], nil, []error{ErrTruncated, frame.ErrTruncated}, "got 96 of 2377 payload bytes"},
		{"zero frame", []byte{0, 0, 0, 0}, nil, []error{frame.ErrEmpty}, "ServerHello: zero-length frame"},
		{"ssh banner", []byte("SSH-2.0-OpenSSH_9.6\r\n"), nil, []error{frame.ErrTooLarge}, fmt.Sprintf("ServerHello: frame too large: 1397966893 bytes, limit %d (the peer sent what looks like an SSH banner, not the kemtcp session protocol)", wire.MaxHelloSize)},
		{"http response", []byte("HTTP/1.1 400 Bad Request\r\n"), nil, []error{frame.ErrTooLarge}, "(the peer sent what looks like an HTTP response, not the kemtcp session protocol)"},
		{"unknown protocol", []byte("\x7f\x00\x00\x00"), nil, []error{frame.ErrTooLarge}, "(the peer does not speak the kemtcp session protocol)"},
		{"huge hello", frame.AppendHeader(nil, wire.MaxHelloSize+1), nil, []error{frame.ErrTooLarge}, fmt.Sprintf("limit %d", wire.MaxHelloSize)},
		{"no FINISHED", frame.Append(nil, good), nil, []error{ErrTruncated}, "FINISHED: connection ended without CLOSE (truncated): the server closed the connection before FINISHED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := newScript(tc.stream)
			err := Client(conn, &ClientConfig{Scheme: s768, VerifyServerKey: tc.verify}).Handshake()
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorIs(t, err, w)
			}
			assert.Contains(t, err.Error(), tc.msg)
			if tc.name == "no FINISHED" {
				require.Len(t, conn.written(), 1, "the ClientHello, in one write")
				_, perr := wire.ParseClientHello(conn.written()[0][frame.HeaderSize:])
				require.NoError(t, perr)
				return
			}
			assert.Empty(t, conn.written(), "the client wrote nothing")
		})
	}
}

// serverAgainst runs a server whose client is answer: it gets the
// ServerHello payload and returns the bytes to send back.
func serverAgainst(t *testing.T, sc *ServerConfig, answer func(sh []byte) []byte) error {
	t.Helper()
	srvRaw, cliRaw := tcpPair(t)
	done := make(chan error, 1)
	go func() {
		err := Server(srvRaw, sc).Handshake()
		srvRaw.Close()
		done <- err
	}()
	sh, err := frame.NewReader(cliRaw, 0).Next()
	require.NoError(t, err)
	if out := answer(bytes.Clone(sh)); out != nil {
		cliRaw.Write(out)
	}
	// Half-close, and read on, so that the server sees our end of stream
	// and its own writes succeed.
	cliRaw.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, cliRaw)
	return <-done
}

func randomHello(version byte, id uint16, ctSize int) []byte {
	b := append([]byte(wire.Magic), version, byte(id>>8), byte(id))
	return append(b, randomBytes(2*ctSize)...)
}

// TestServerClientHelloErrors feeds the server a bad ClientHello.
func TestServerClientHelloErrors(t *testing.T) {
	sc, _ := defaultConfigs(t, kem.MLKEM768)
	p := sc.Scheme.Params()
	good := randomHello(wire.Version2, p.ID, p.CiphertextSize)
	with := func(off int, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	p512, _ := kem.ParamsByID(0x0200)
	for _, tc := range []struct {
		name   string
		stream []byte
		want   []error
		msg    string
	}{
		{"magic", frame.Append(nil, with(0, 'k', 'e', 'm')), []error{ErrBadMagic}, `ClientHello: bad magic (the peer does not speak the kemtcp session protocol): got "kemTCP"`},
		{"version", frame.Append(nil, with(6, 0)), []error{ErrVersion}, "ClientHello: unsupported protocol version 0"},
		{"kem id", frame.Append(nil, with(7, 0, 0)), []error{ErrUnknownKEM}, "ClientHello: unknown KEM id 0x0000"},
		{"kem mismatch", frame.Append(nil, randomHello(wire.Version2, p512.ID, p512.CiphertextSize)), []error{ErrKEMMismatch},
			"ClientHello: KEM mismatch: the server uses ML-KEM-768 (0x0201), the client ML-KEM-512 (0x0200)"},
		{"short", frame.Append(nil, good[:len(good)-1]), []error{ErrLength}, "ClientHello: wrong length for ML-KEM-768 (0x0201): got 2184 bytes, want 2185"},
		{"nothing", nil, []error{ErrTruncated}, "ClientHello: connection ended without CLOSE (truncated): the connection ended before the ClientHello (the client may have refused the server's key or KEM)"},
		{"half payload", frame.Append(nil, good)[:50], []error{ErrTruncated, frame.ErrTruncated}, "ClientHello:"},
		{"too large", frame.AppendHeader(nil, 1<<20), []error{frame.ErrTooLarge}, fmt.Sprintf("ClientHello: frame too large: 1048576 bytes, limit %d (the peer does not speak the kemtcp session protocol)", wire.MaxHelloSize)},
		// Other protocols' openings are named.
		{"PROXY v1", []byte("PROXY TCP4 10.9.9.9 127.0.0.1 4242 5000\r\n"), []error{frame.ErrTooLarge}, fmt.Sprintf("ClientHello: frame too large: 1347571544 bytes, limit %d (the peer sent what looks like a PROXY protocol v1 header, not the kemtcp session protocol)", wire.MaxHelloSize)},
		{"PROXY v2", []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"), []error{frame.ErrTooLarge}, "(the peer sent what looks like a PROXY protocol v2 header, not the kemtcp session protocol)"},
		{"HTTP request", []byte("GET / HTTP/1.1\r\n\r\n"), []error{frame.ErrTooLarge}, "(the peer sent what looks like an HTTP request, not the kemtcp session protocol)"},
		{"TLS", []byte("\x16\x03\x01\x02\x00\x01"), []error{frame.ErrTooLarge}, "(the peer sent what looks like a TLS handshake, not the kemtcp session protocol)"},
		// A random ClientHello of the right length decapsulates (implicit
		// rejection) but its sender cannot seal the client's FINISHED.
		{"random v2 hello", frame.Append(nil, good), []error{ErrTruncated}, "FINISHED: connection ended without CLOSE (truncated): the client closed the connection"},
		{"random v2 hello, garbage FINISHED", append(frame.Append(nil, good), frame.Append(nil, randomBytes(17))...), []error{ErrAuth}, "FINISHED: from the client: record 0: record failed to authenticate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := serverAgainst(t, sc, func([]byte) []byte { return tc.stream })
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorIs(t, err, w)
			}
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

// TestVerifyServerKeyAbortsBeforeClientHello: a refused key means not one
// byte of ClientHello is written.
func TestVerifyServerKeyAbortsBeforeClientHello(t *testing.T) {
	s := lookup(t, kem.MLKEM768, "")
	conn := newScript(frame.Append(nil, serverHello(t, s, wire.Version1, 0)))
	pinErr := errors.New("server key does not match the pin")
	err := Client(conn, &ClientConfig{Scheme: s, VerifyServerKey: func([]byte) error { return pinErr }}).Handshake()
	require.ErrorIs(t, err, ErrServerKeyRefused)
	require.ErrorIs(t, err, pinErr)
	assert.Empty(t, conn.written())
}

// impostor is a static key that shows the real ek_s but decapsulates with
// another dk: a man in the middle who forwards the real server's key.
type impostor struct {
	kem.DecapsulationKey // the impostor's own key
	shown                kem.EncapsulationKey
}

func (k impostor) EncapsulationKey() kem.EncapsulationKey { return k.shown }

// TestManInTheMiddleFailsKeyConfirmation: a server that shows a key it
// does not hold fails the client's key confirmation, and the client sends
// nothing after its ClientHello.
func TestManInTheMiddleFailsKeyConfirmation(t *testing.T) {
	forEachScheme(t, func(t *testing.T, s kem.Scheme) {
		sc, cc := configs(t, s)
		own, err := s.GenerateKey()
		require.NoError(t, err)
		defer own.Destroy()
		sc.Static = impostor{DecapsulationKey: own, shown: sc.Static.EncapsulationKey()}
		srvRaw, cliRaw := tcpPair(t)
		rec := &recordingConn{Conn: cliRaw}
		_, _, _, cliErr := handshakeOn(srvRaw, rec, sc, cc)
		require.ErrorIs(t, cliErr, ErrKeyConfirmation)
		require.ErrorIs(t, cliErr, ErrAuth)
		assert.Contains(t, cliErr.Error(), "FINISHED: server failed key confirmation: it does not hold the private key for the key it sent")
		require.Len(t, rec.written(), 1, "nothing after the ClientHello")
	})
}

// recordingConn records what is written to a net.Conn.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (r *recordingConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, bytes.Clone(p))
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *recordingConn) written() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes
}

// TestImplicitRejection: a random ct_e or ct_s of the right size
// decapsulates to the implicit-rejection key: the client's FINISHED check
// fails, and the server, which waits for the client's FINISHED, fails too.
func TestImplicitRejection(t *testing.T) {
	for _, alg := range kem.Algorithms() {
		for _, which := range []string{"ct_e", "ct_s"} {
			t.Run(alg+"/"+which, func(t *testing.T) {
				sc, cc := defaultConfigs(t, alg)
				cc.mutateClientHello = func(ch *wire.ClientHello) {
					ct := ch.EphemeralCiphertext
					if which == "ct_s" {
						ct = ch.StaticCiphertext
					}
					rand.Read(ct)
				}
				srvRaw, cliRaw := tcpPair(t)
				_, _, srvErr, cliErr := handshakeOn(srvRaw, cliRaw, sc, cc)
				require.ErrorIs(t, cliErr, ErrKeyConfirmation)
				require.Error(t, srvErr, "the server's handshake is not complete without the client's FINISHED")
			})
		}
	}
}

// TestFirstRecordNotFinished: the client wants an empty FINISHED first.
func TestFirstRecordNotFinished(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first func(*Conn) error
		want  error
		msg   string
	}{
		{"DATA", func(c *Conn) error {
			return c.writeOut(appendRecord(nil, &c.out.sealer, wire.RecordData, []byte("hi")))
		}, ErrUnexpectedRecord, "FINISHED: unexpected record: the server sent DATA, want FINISHED"},
		{"CLOSE", func(c *Conn) error { return c.writeOut(appendRecord(nil, &c.out.sealer, wire.RecordClose, nil)) }, ErrUnexpectedRecord, "the server sent CLOSE"},
		{"FINISHED with a body", func(c *Conn) error {
			return c.writeOut(appendRecord(nil, &c.out.sealer, wire.RecordFinished, []byte{0}))
		}, ErrUnexpectedRecord, "FINISHED has a 1-byte body"},
		{"unknown type", func(c *Conn) error { return c.writeOut(appendRecord(nil, &c.out.sealer, 0x42, nil)) }, ErrUnknownRecordType, "FINISHED: unknown record type 0x42 from the server"},
		{"nothing", func(c *Conn) error { return c.conn.Close() }, ErrTruncated, "FINISHED: connection ended without CLOSE (truncated)"},
		{"garbage", func(c *Conn) error { _, err := c.conn.Write(frame.Append(nil, make([]byte, 17))); return err }, ErrKeyConfirmation, "FINISHED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, cc := defaultConfigs(t, kem.MLKEM768)
			sc.sendFirst = tc.first
			srvRaw, cliRaw := pipePair(t)
			go func() {
				Server(srvRaw, sc).Handshake()
				srvRaw.Close()
			}()
			err := Client(cliRaw, cc).Handshake()
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

// TestServerHelloVersions: a server without client keys sends a version-1
// ServerHello (version-1 clients keep working); with them, version 2 with
// the client-key flag.
func TestServerHelloVersions(t *testing.T) {
	s := lookup(t, kem.MLKEM768, "")
	for _, withKeys := range []bool{false, true} {
		sc, _ := configs(t, s)
		if withKeys {
			sc.VerifyClientKey = authorize()
		}
		var sh *wire.ServerHello
		serverAgainst(t, sc, func(b []byte) []byte {
			var err error
			sh, err = wire.ParseServerHello(b)
			require.NoError(t, err)
			return nil
		})
		if withKeys {
			assert.Equal(t, byte(wire.Version2), sh.Version)
			assert.Equal(t, byte(wire.FlagClientKey), sh.Flags)
		} else {
			assert.Equal(t, byte(wire.Version1), sh.Version)
		}
	}
}
