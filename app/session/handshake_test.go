package session

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
)

// TestHandshakeMatrix runs the handshake for every KEM and every pair of
// backends (server's, client's), over net.Pipe and 127.0.0.1 TCP, then
// DATA both ways and CLOSE both ways.
func TestHandshakeMatrix(t *testing.T) {
	for _, alg := range kem.Algorithms() {
		for _, sb := range kem.Backends() {
			for _, cb := range kem.Backends() {
				for _, transport := range []string{"pipe", "tcp"} {
					t.Run(fmt.Sprintf("%s/%s-%s/%s", alg, sb, cb, transport), func(t *testing.T) {
						ss, cs := lookup(t, alg, sb), lookup(t, alg, cb)
						static := staticKey(t, ss)
						var seen []byte
						srv, cli, _, _ := handshake(t,
							&ServerConfig{Scheme: ss, Static: static},
							&ClientConfig{Scheme: cs, VerifyServerKey: func(ek []byte) error { seen = bytes.Clone(ek); return nil }},
							transport)
						ekS := static.EncapsulationKey().Bytes()
						assert.Equal(t, ekS, seen, "VerifyServerKey gets ek_s")
						assert.Equal(t, ekS, cli.ServerKey())
						assert.Equal(t, ekS, srv.ServerKey())
						assert.Equal(t, cs, cli.Scheme())
						assert.Equal(t, ss, srv.Scheme())
						exchange(t, srv, cli)
					})
				}
			}
		}
	}
}

// exchange sends DATA both ways, then CLOSE both ways, on a connection
// that may be synchronous (net.Pipe).
func exchange(t *testing.T, srv, cli *Conn) {
	t.Helper()
	msgs := [][]byte{[]byte("Hello from client using ML-KEM!"), {}, bytes.Repeat([]byte{0xA5}, 70000), []byte("exit")}
	srvGot := make(chan error, 1)
	go func() {
		got, err := recvAll(srv)
		if err != io.EOF {
			srvGot <- fmt.Errorf("server Recv: %v", err)
			return
		}
		if len(got) != len(msgs) {
			srvGot <- fmt.Errorf("server got %d messages, want %d", len(got), len(msgs))
			return
		}
		for i := range got {
			if !bytes.Equal(got[i], msgs[i]) {
				srvGot <- fmt.Errorf("server message %d differs", i)
				return
			}
			if err := srv.Send(append([]byte("echo: "), got[i]...)); err != nil {
				srvGot <- err
				return
			}
		}
		srvGot <- srv.CloseWrite()
	}()
	for _, m := range msgs {
		require.NoError(t, cli.Send(m))
	}
	require.NoError(t, cli.CloseWrite())
	require.NoError(t, cli.CloseWrite(), "idempotent")
	got, err := recvAll(cli)
	require.Equal(t, io.EOF, err)
	require.NoError(t, <-srvGot)
	require.Len(t, got, len(msgs))
	for i := range got {
		assert.Equal(t, append([]byte("echo: "), msgs[i]...), got[i])
	}
	require.ErrorIs(t, cli.Send([]byte("late")), ErrClosed)
	require.ErrorIs(t, srv.Send([]byte("late")), ErrClosed)
}

// serverHelloBytes returns a real ServerHello frame payload for s.
func serverHelloBytes(t testing.TB, s kem.Scheme) []byte {
	dkE, err := s.GenerateKey()
	require.NoError(t, err)
	b, err := (&ServerHello{KEMID: mustParams(t, s).ID, StaticKey: staticKey(t, s).EncapsulationKey().Bytes(), EphemeralKey: dkE.EncapsulationKey().Bytes()}).Marshal()
	require.NoError(t, err)
	return b
}

func mustParams(t testing.TB, s kem.Scheme) kem.Params {
	return s.Params()
}

// badModulus makes an encapsulation key fail the FIPS 203 modulus check:
// its first 12-bit coefficient becomes 4095 >= q = 3329.
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
	good := serverHelloBytes(t, s768)
	p := mustParams(t, s768)
	with := func(off int, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	ekS := good[HelloHeaderSize : HelloHeaderSize+p.EncapsulationKeySize]
	ekE := good[HelloHeaderSize+p.EncapsulationKeySize:]
	badS := append(append(appendHelloHeader(nil, p.ID), badModulus(ekS)...), ekE...)
	badE := append(append(appendHelloHeader(nil, p.ID), ekS...), badModulus(ekE)...)
	errVerify := errors.New("pin mismatch: SHA256:abc")

	for _, tc := range []struct {
		name   string
		stream []byte
		verify func([]byte) error
		want   []error
		msg    string
	}{
		{"magic", frame.Append(nil, with(0, 'X')), nil, []error{ErrBadMagic}, `ServerHello: bad magic`},
		{"version", frame.Append(nil, with(6, 2)), nil, []error{ErrVersion}, "ServerHello: unsupported protocol version 2"},
		{"kem id", frame.Append(nil, with(7, 0x12, 0x34)), nil, []error{ErrUnknownKEM}, "ServerHello: unknown KEM id 0x1234"},
		{"kem mismatch", frame.Append(nil, serverHelloBytes(t, s1024)), nil, []error{ErrKEMMismatch},
			"ServerHello: KEM mismatch: server uses ML-KEM-1024 (0x0202), client is set to ML-KEM-768 (0x0201); use -alg ML-KEM-1024"},
		{"short", frame.Append(nil, good[:len(good)-1]), nil, []error{ErrLength}, "ServerHello: wrong length for ML-KEM-768 (0x0201): got 2376 bytes, want 2377"},
		{"long", frame.Append(nil, append(bytes.Clone(good), 0)), nil, []error{ErrLength}, "got 2378 bytes, want 2377"},
		{"legacy pickle", frame.Append(nil, append([]byte{0x80, 0x04, 0x95, 0x2a, 0x04, 0, 0, 0, 0, 0, 0, 'B'}, ekS...)), nil, []error{ErrLegacyPeer},
			"ServerHello: server speaks the legacy protocol (pickled key), not session; use -proto legacy"},
		{"bad ek_s", frame.Append(nil, badS), nil, []error{ErrBadKey, kem.ErrEncapsKey}, "ServerHello: invalid encapsulation key (FIPS 203 modulus check failed): static key ek_s"},
		{"bad ek_e", frame.Append(nil, badE), nil, []error{ErrBadKey, kem.ErrEncapsKey}, "ephemeral key ek_e"},
		{"refused", frame.Append(nil, good), func([]byte) error { return errVerify }, []error{ErrServerKeyRefused, errVerify}, "ServerHello: server key refused: pin mismatch: SHA256:abc"},
		{"empty stream", nil, nil, []error{ErrTruncated}, "ServerHello: connection ended without CLOSE (truncated): the connection ended before the ServerHello"},
		{"half header", []byte{0, 0}, nil, []error{ErrTruncated, frame.ErrTruncated}, "ServerHello:"},
		{"half payload", frame.Append(nil, good)[:100], nil, []error{ErrTruncated, frame.ErrTruncated}, "got 96 of 2377 payload bytes"},
		{"zero frame", []byte{0, 0, 0, 0}, nil, []error{frame.ErrEmpty}, "ServerHello: zero-length frame"},
		{"ssh banner", []byte("SSH-2.0-OpenSSH_9.6\r\n"), nil, []error{frame.ErrTooLarge}, "ServerHello: frame too large"},
		{"huge hello", frame.AppendHeader(nil, helloMaxSize+1), nil, []error{frame.ErrTooLarge}, "limit 3145"},
		{"no FINISHED", frame.Append(nil, good), nil, []error{ErrTruncated}, "FINISHED: connection ended without CLOSE (truncated)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{r: bytes.NewReader(tc.stream)}
			_, err := Client(rec, &ClientConfig{Scheme: s768, VerifyServerKey: tc.verify})
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorIs(t, err, w)
			}
			assert.Contains(t, err.Error(), tc.msg)
			if tc.name == "no FINISHED" {
				require.Len(t, rec.written(), 1, "the ClientHello, in one write")
				_, perr := ParseClientHello(rec.written()[0][frame.HeaderSize:])
				require.NoError(t, perr)
				return
			}
			assert.Empty(t, rec.written(), "the client wrote nothing")
		})
	}
}

// fakeClient reads the ServerHello and answers with clientHello(sh), on the
// raw client end, while Server runs on the other.
func serverAgainst(t *testing.T, sc *ServerConfig, answer func(sh []byte) []byte) error {
	t.Helper()
	srvRaw, cliRaw := pipe(t, "pipe")
	done := make(chan error, 1)
	go func() {
		_, err := Server(srvRaw, sc)
		srvRaw.Close()
		done <- err
	}()
	sh, err := frame.NewReader(cliRaw, 0).Next()
	require.NoError(t, err)
	if out := answer(bytes.Clone(sh)); out != nil {
		cliRaw.Write(out)
	}
	cliRaw.Close()
	return <-done
}

// TestServerClientHelloErrors feeds the server a bad ClientHello.
func TestServerClientHelloErrors(t *testing.T) {
	sc, _ := defaultConfigs(t, kem.MLKEM768)
	p := mustParams(t, sc.Scheme)
	good := randomHello(p.ID, p.CiphertextSize)
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
		{"kem mismatch", frame.Append(nil, randomHello(p512.ID, p512.CiphertextSize)), []error{ErrKEMMismatch},
			"ClientHello: KEM mismatch: client uses ML-KEM-512 (0x0200), server is set to ML-KEM-768 (0x0201); the client must use -alg ML-KEM-768"},
		{"short", frame.Append(nil, good[:len(good)-1]), []error{ErrLength}, "ClientHello: wrong length for ML-KEM-768 (0x0201): got 2184 bytes, want 2185"},
		{"nothing", nil, []error{ErrTruncated}, "ClientHello: connection ended without CLOSE (truncated): the connection ended before the ClientHello (the client may have refused the server's key or KEM)"},
		{"half payload", frame.Append(nil, good)[:50], []error{ErrTruncated, frame.ErrTruncated}, "ClientHello:"},
		{"too large", frame.AppendHeader(nil, 1<<20), []error{frame.ErrTooLarge}, "ClientHello: frame too large"},
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

func TestConfigErrors(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	s512 := lookup(t, kem.MLKEM512, "")
	rw := &recorder{r: bytes.NewReader(nil)}
	for _, tc := range []struct {
		name string
		cfg  *ServerConfig
	}{
		{"nil", nil},
		{"no scheme", &ServerConfig{Static: sc.Static}},
		{"no key", &ServerConfig{Scheme: sc.Scheme}},
		{"key of another KEM", &ServerConfig{Scheme: s512, Static: sc.Static}},
		{"negative MaxFrame", &ServerConfig{Scheme: sc.Scheme, Static: sc.Static, MaxFrame: -1}},
		{"tiny MaxFrame", &ServerConfig{Scheme: sc.Scheme, Static: sc.Static, MaxFrame: RecordOverhead - 1}},
	} {
		_, err := Server(rw, tc.cfg)
		require.ErrorIs(t, err, ErrConfig, tc.name)
	}
	_, err := Client(rw, nil)
	require.ErrorIs(t, err, ErrConfig)
	_, err = Client(rw, &ClientConfig{})
	require.ErrorIs(t, err, ErrConfig)
	_, err = Client(rw, &ClientConfig{Scheme: cc.Scheme, MaxFrame: 3})
	require.ErrorIs(t, err, ErrConfig)
	assert.Empty(t, rw.written())
}

// TestVerifyServerKeyAbortsBeforeClientHello: a refused key means not one
// byte of ClientHello is written, on a real connection.
func TestVerifyServerKeyAbortsBeforeClientHello(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srvRaw, cliRaw := pipe(t, "tcp")
	rec := &recorder{r: cliRaw}
	pinErr := errors.New("server key does not match the pin")
	cc.VerifyServerKey = func([]byte) error { return pinErr }
	srv, cli, srvErr, cliErr := handshakeOn(srvRaw, rec, sc, cc)
	assert.Nil(t, srv)
	assert.Nil(t, cli)
	require.ErrorIs(t, cliErr, ErrServerKeyRefused)
	require.ErrorIs(t, cliErr, pinErr)
	assert.Empty(t, rec.written())
	cliRaw.Close()
	require.ErrorIs(t, srvErr, ErrTruncated)
	assert.Contains(t, srvErr.Error(), "ClientHello")
}

// impostor is a static key that shows the real ek_s but decapsulates with
// another dk: a man in the middle who forwards the real server's key.
type impostor struct {
	kem.DecapsulationKey // the impostor's own key
	shown                kem.EncapsulationKey
}

func (k impostor) EncapsulationKey() kem.EncapsulationKey { return k.shown }

func TestManInTheMiddleFailsKeyConfirmation(t *testing.T) {
	for _, alg := range kem.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			sc, cc := defaultConfigs(t, alg)
			own, err := sc.Scheme.GenerateKey()
			require.NoError(t, err)
			sc.Static = impostor{DecapsulationKey: own, shown: sc.Static.EncapsulationKey()}
			srvRaw, cliRaw := pipe(t, "pipe")
			rec := &recorder{r: cliRaw}
			cliSide := duplex{rec, io.MultiWriter(rec, cliRaw)}
			srv, cli, srvErr, cliErr := handshakeOn(srvRaw, cliSide, sc, cc)
			require.NoError(t, srvErr, "the impostor completes its side")
			require.NotNil(t, srv)
			assert.Nil(t, cli)
			require.ErrorIs(t, cliErr, ErrKeyConfirmation)
			require.ErrorIs(t, cliErr, ErrAuth)
			assert.Contains(t, cliErr.Error(), "FINISHED: server failed key confirmation: it does not hold the private key for the key it sent")
			require.Len(t, rec.written(), 1, "nothing after the ClientHello")
			_, err = ParseClientHello(rec.written()[0][frame.HeaderSize:])
			require.NoError(t, err)
		})
	}
}

// TestImplicitRejection: a random ct_e of the right size decapsulates to
// the implicit-rejection key; the server completes, FINISHED does not open.
func TestImplicitRejection(t *testing.T) {
	for _, alg := range kem.Algorithms() {
		for _, which := range []string{"ct_e", "ct_s"} {
			t.Run(alg+"/"+which, func(t *testing.T) {
				sc, cc := defaultConfigs(t, alg)
				cc.mutateClientHello = func(ch *ClientHello) {
					ct := ch.EphemeralCiphertext
					if which == "ct_s" {
						ct = ch.StaticCiphertext
					}
					rand.Read(ct)
				}
				srvRaw, cliRaw := pipe(t, "pipe")
				srv, cli, srvErr, cliErr := handshakeOn(srvRaw, cliRaw, sc, cc)
				require.NoError(t, srvErr)
				require.NotNil(t, srv)
				assert.Nil(t, cli)
				require.ErrorIs(t, cliErr, ErrKeyConfirmation)
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
		{"DATA", func(c *Conn) error { return c.sendRecord(RecordData, []byte("hi")) }, ErrUnexpectedRecord, "FINISHED: unexpected record: the server's first record is DATA, want FINISHED"},
		{"CLOSE", func(c *Conn) error { return c.sendRecord(RecordClose, nil) }, ErrUnexpectedRecord, "first record is CLOSE"},
		{"FINISHED with a body", func(c *Conn) error { return c.sendRecord(RecordFinished, []byte{0}) }, ErrUnexpectedRecord, "FINISHED has a 1-byte body"},
		{"unknown type", func(c *Conn) error { return c.sendRecord(0x42, nil) }, ErrUnknownRecordType, "FINISHED: unknown record type 0x42"},
		{"nothing", func(c *Conn) error { return nil }, ErrTruncated, "FINISHED: connection ended without CLOSE (truncated)"},
		{"garbage", func(c *Conn) error { _, err := c.rw.Write(frame.Append(nil, make([]byte, 17))); return err }, ErrKeyConfirmation, "FINISHED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, cc := defaultConfigs(t, kem.MLKEM768)
			sc.sendFirst = tc.first
			srvRaw, cliRaw := pipe(t, "pipe")
			done := make(chan error, 1)
			go func() {
				_, err := Server(srvRaw, sc)
				srvRaw.Close()
				done <- err
			}()
			_, err := Client(cliRaw, cc)
			require.NoError(t, <-done)
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

// TestClientSendsNothingBeforeFinished: until FINISHED arrives, only the
// ClientHello has been written.
func TestClientSendsNothingBeforeFinished(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srvRaw, cliRaw := net.Pipe()
	defer srvRaw.Close()
	defer cliRaw.Close()
	rec := &recorder{r: cliRaw}
	cliDone := make(chan error, 1)
	go func() {
		_, err := Client(duplex{rec, io.MultiWriter(rec, cliRaw)}, cc)
		cliDone <- err
	}()
	// A server that never sends FINISHED: run the real one with a hook that
	// checks what the client wrote so far, then sends FINISHED.
	sc.sendFirst = func(c *Conn) error {
		if n := len(rec.written()); n != 1 {
			return fmt.Errorf("client made %d writes before FINISHED, want 1", n)
		}
		return c.sendRecord(RecordFinished, nil)
	}
	_, err := Server(srvRaw, sc)
	require.NoError(t, err)
	require.NoError(t, <-cliDone)
}

// spyScheme hands out ephemeral keys that record their destruction.
type spyScheme struct {
	kem.Scheme
	keys []*spyKey
}

type spyKey struct {
	kem.DecapsulationKey
	decaps, destroyed int
}

func (s *spyScheme) GenerateKey() (kem.DecapsulationKey, error) {
	dk, err := s.Scheme.GenerateKey()
	if err != nil {
		return nil, err
	}
	k := &spyKey{DecapsulationKey: dk}
	s.keys = append(s.keys, k)
	return k, nil
}

func (k *spyKey) Decapsulate(ct []byte) ([]byte, error) {
	k.decaps++
	return k.DecapsulationKey.Decapsulate(ct)
}

func (k *spyKey) Destroy() {
	k.destroyed++
	k.DecapsulationKey.Destroy()
}

// TestEphemeralKeyDestroyed: dk_e is destroyed once, right after its one
// decapsulation, before FINISHED; and on a failed handshake too.
func TestEphemeralKeyDestroyed(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	spy := &spyScheme{Scheme: sc.Scheme}
	sc.Scheme = spy
	sc.sendFirst = func(c *Conn) error {
		if k := spy.keys[0]; k.decaps != 1 || k.destroyed != 1 {
			return fmt.Errorf("before FINISHED: %d decapsulations, %d destructions", k.decaps, k.destroyed)
		}
		return c.sendRecord(RecordFinished, nil)
	}
	handshake(t, sc, cc, "pipe")
	require.Len(t, spy.keys, 1)
	assert.Equal(t, 1, spy.keys[0].destroyed)

	err := serverAgainst(t, sc, func([]byte) []byte { return []byte{0, 0, 0, 1, 'x'} })
	require.ErrorIs(t, err, ErrBadMagic)
	require.Len(t, spy.keys, 2)
	assert.Equal(t, 1, spy.keys[1].destroyed)
	assert.Equal(t, 0, spy.keys[1].decaps)
}
