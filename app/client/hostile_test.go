package client_test

// Hostile servers against the client: fake servers on 127.0.0.1 that send
// invalid keys, garbage, huge or slow frames, or misbehave after the
// handshake. The client must end with a clear error, send nothing before it
// has checked the server's key, never hang past its timeouts, never reserve
// memory a server merely announces, never print a secret, and leave no
// goroutine behind.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kemtcp/kemtcp/app/client"
	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/testutil"
	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/legacy"
	"github.com/kemtcp/kemtcp/app/pickle"
	"github.com/kemtcp/kemtcp/app/session"
)

const (
	hsTimeout = time.Second
	waitLong  = 20 * time.Second
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncBuffer is a buffer safe for concurrent use.
type syncBuffer = testutil.SyncBuffer

// fakeServer accepts one connection, runs script on it, then reads what the
// client sends until it hangs up, and reports how many bytes that was.
type fakeServer struct {
	addr string
	rest chan int // bytes the client sent after the script
}

func startFake(t *testing.T, script func(c net.Conn)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fs := &fakeServer{addr: ln.Addr().String(), rest: make(chan int, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			fs.rest <- -1
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitLong))
		script(c)
		n, _ := io.Copy(io.Discard, c)
		fs.rest <- int(n)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return fs
}

// verifyFunc is client.Config.Verify's type.
type verifyFunc = func(ek []byte) (trusted func() (string, error), err error)

// runClient runs the chat client against addr with two lines of input and
// returns its error, its output (stdout and stderr) and how long it took.
func runClient(t *testing.T, addr, proto string, s kem.Scheme, verify verifyFunc) (error, string, time.Duration) {
	t.Helper()
	var out syncBuffer
	start := time.Now()
	err := (&client.Chat{Config: client.Config{
		Addr:             addr,
		Proto:            proto,
		Scheme:           s,
		HandshakeTimeout: hsTimeout,
		Verify:           verify,
		Out:              &out,
		Err:              &out,
	}}).Run(context.Background(), strings.NewReader("first line\nsecond line\n"))
	return err, out.String(), time.Since(start)
}

func scheme(t testing.TB, alg string) kem.Scheme {
	t.Helper()
	s, err := kem.Lookup(alg, "")
	require.NoError(t, err)
	return s
}

func params(t testing.TB, alg string) kem.Params {
	t.Helper()
	p, err := kem.ParamsFor(alg)
	require.NoError(t, err)
	return p
}

// keyPair derives a key pair from a one-byte seed.
func keyPair(t testing.TB, s kem.Scheme, b byte) kem.DecapsulationKey {
	t.Helper()
	dk, err := s.NewDecapsulationKey(bytes.Repeat([]byte{b}, s.Params().SeedSize))
	require.NoError(t, err)
	return dk
}

// mlkem768EKSize is the size of X-Wing's ML-KEM-768 part, which comes
// first in its key.
const mlkem768EKSize = 1184

// withCoefficient returns ek with its i-th 12-bit coefficient (of t, before
// rho) set to v; i < 0 counts from the end. For X-Wing it changes the
// ML-KEM-768 part.
func withCoefficient(ek []byte, i int, v uint16) []byte {
	ek = bytes.Clone(ek)
	mlkem := len(ek)
	if mlkem == mlkem768EKSize+32 { // X-Wing: ML-KEM-768 || X25519
		mlkem = mlkem768EKSize
	}
	n := (mlkem - 32) / 3 * 2
	if i < 0 {
		i += n
	}
	o := i / 2 * 3
	if i%2 == 0 {
		ek[o] = byte(v)
		ek[o+1] = ek[o+1]&0xf0 | byte(v>>8)
	} else {
		ek[o+1] = ek[o+1]&0x0f | byte(v<<4)
		ek[o+2] = byte(v >> 4)
	}
	return ek
}

// serverHello returns a ServerHello payload with the given header (as
// version 1 lays it out: no flags).
func serverHello(magic string, version byte, id uint16, ekS, ekE []byte) []byte {
	b := append([]byte(magic), version)
	b = binary.BigEndian.AppendUint16(b, id)
	return append(append(b, ekS...), ekE...)
}

// serverHelloV2 returns a version-2 ServerHello payload with flags.
func serverHelloV2(flags byte, id uint16, ekS, ekE []byte) []byte {
	b := append([]byte(wire.Magic), wire.Version2)
	b = binary.BigEndian.AppendUint16(b, id)
	return append(append(append(b, flags), ekS...), ekE...)
}

func writeFrame(c net.Conn, payload []byte) { c.Write(frame.Append(nil, payload)) }

// TestModulusInvalidKeys: a ServerHello whose static or ephemeral key fails
// the FIPS 203 modulus check (a coefficient of q or more, first or last) is
// refused for every parameter set, before the client sends a byte; the same
// for the legacy protocol's pickled key.
func TestModulusInvalidKeys(t *testing.T) {
	for _, alg := range kem.Algorithms() {
		s := scheme(t, alg)
		p := params(t, alg)
		good := keyPair(t, s, 1).EncapsulationKey().Bytes()
		for _, tc := range []struct {
			coef int
			v    uint16
		}{{0, 3329}, {-1, 3329}, {7, 4095}} {
			bad := withCoefficient(good, tc.coef, tc.v)
			ok := withCoefficient(good, tc.coef, 3328)
			_, err := s.NewEncapsulationKey(ok)
			require.NoError(t, err, "q-1 is a valid coefficient")
			for _, which := range []string{"ek_s", "ek_e"} {
				t.Run(fmt.Sprintf("%s/%s/coefficient %d = %d", alg, which, tc.coef, tc.v), func(t *testing.T) {
					ekS, ekE := bad, good
					if which == "ek_e" {
						ekS, ekE = good, bad
					}
					fs := startFake(t, func(c net.Conn) { writeFrame(c, serverHello(wire.Magic, wire.Version1, p.ID, ekS, ekE)) })
					err, out, _ := runClient(t, fs.addr, client.ProtoSession, s, nil)
					require.ErrorIs(t, err, session.ErrBadKey)
					require.ErrorIs(t, err, kem.ErrEncapsKey)
					require.Contains(t, err.Error(), which)
					require.Zero(t, <-fs.rest, "the client sent bytes to a server with an invalid key")
					require.NotContains(t, out, client.ReadyLine)
				})
			}
			if alg == kem.XWing {
				continue // the legacy protocol speaks ML-KEM only
			}
			t.Run(fmt.Sprintf("%s/legacy/coefficient %d = %d", alg, tc.coef, tc.v), func(t *testing.T) {
				fs := startFake(t, func(c net.Conn) { writeFrame(c, legacy.EncodePublicKey(bad)) })
				err, _, _ := runClient(t, fs.addr, client.ProtoLegacy, s, nil)
				require.ErrorIs(t, err, legacy.ErrMalformed)
				require.ErrorIs(t, err, kem.ErrEncapsKey)
				require.Zero(t, <-fs.rest)
			})
		}
	}
}

// TestHostileServerHello: everything wrong with a server's first frame, in
// both protocols. The client names the problem and sends nothing.
func TestHostileServerHello(t *testing.T) {
	s := scheme(t, kem.MLKEM768)
	p, p512 := params(t, kem.MLKEM768), params(t, kem.MLKEM512)
	ek := keyPair(t, s, 1).EncapsulationKey().Bytes()
	ek512 := keyPair(t, scheme(t, kem.MLKEM512), 1).EncapsulationKey().Bytes()
	sh := serverHello(wire.Magic, wire.Version1, p.ID, ek, ek)
	frameOf := func(payload []byte) func(net.Conn) { return func(c net.Conn) { writeFrame(c, payload) } }
	raw := func(b []byte) func(net.Conn) { return func(c net.Conn) { c.Write(b) } }
	cases := []struct {
		name, proto string
		script      func(net.Conn)
		want        error
		reason      string
		maxAlloc    uint64
	}{
		{"silent", client.ProtoSession, func(net.Conn) {}, nil, `i/o timeout`, 0},
		{"closes at once", client.ProtoSession, func(c net.Conn) { c.Close() }, session.ErrTruncated, `ended before the ServerHello`, 0},
		{"zero-length frame", client.ProtoSession, raw([]byte{0, 0, 0, 0}), frame.ErrEmpty, `zero-length frame`, 0},
		{"4 GiB frame", client.ProtoSession, raw([]byte{0xff, 0xff, 0xff, 0xff}), frame.ErrTooLarge, `4294967295 bytes`, 4 << 20},
		{"cut mid-frame", client.ProtoSession, func(c net.Conn) {
			c.Write(frame.Append(nil, sh)[:1000])
			c.(*net.TCPConn).CloseWrite()
		}, session.ErrTruncated, `got 996 of \d+ payload bytes`, 0},
		{"dribbled", client.ProtoSession, func(c net.Conn) {
			for _, b := range frame.Append(nil, sh) {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}, nil, `i/o timeout`, 0},
		{"wrong magic", client.ProtoSession, frameOf(serverHello("KEMTCQ", 1, p.ID, ek, ek)), session.ErrBadMagic, `got "KEMTCQ"`, 0},
		{"wrong version", client.ProtoSession, frameOf(serverHello(wire.Magic, 9, p.ID, ek, ek)), session.ErrVersion, `version 9`, 0},
		{"unknown KEM id", client.ProtoSession, frameOf(serverHello(wire.Magic, 1, 0x0203, ek, ek)), session.ErrUnknownKEM, `0x0203`, 0},
		{"other ML-KEM", client.ProtoSession, frameOf(serverHello(wire.Magic, 1, p512.ID, ek512, ek512)), session.ErrKEMMismatch, `the server uses ML-KEM-512 \(0x0200\), the client ML-KEM-768 \(0x0201\)`, 0},
		{"a byte short", client.ProtoSession, frameOf(sh[:len(sh)-1]), session.ErrLength, `got 2376 bytes, want 2377`, 0},
		{"a byte long", client.ProtoSession, frameOf(append(bytes.Clone(sh), 0)), session.ErrLength, `got 2378 bytes, want 2377`, 0},
		{"legacy server", client.ProtoSession, frameOf(legacy.EncodePublicKey(ek)), session.ErrLegacyPeer, `legacy protocol`, 0},
		{"refusal: full", client.ProtoSession, frameOf(wire.AppendRefusal(nil, wire.RefusedFull)), session.ErrRefused, `the server is full`, 0},
		{"refusal: unknown reason", client.ProtoSession, frameOf(wire.AppendRefusal(nil, 0x7e)), session.ErrRefused, `reason 0x7e`, 0},
		{"version 2, unknown flag", client.ProtoSession, frameOf(serverHelloV2(0x02, p.ID, ek, ek)), session.ErrFlags, `0x02`, 0},
		{"version 2, client key required", client.ProtoSession, frameOf(serverHelloV2(wire.FlagClientKey, p.ID, ek, ek)), session.ErrClientKeyRequired, `has none`, 0},
		{"session server", client.ProtoLegacy, frameOf(sh), legacy.ErrSessionPeer, `speaks kemtcp's session protocol, not the legacy one$`, 0},
		{"legacy: 4 GiB frame", client.ProtoLegacy, raw([]byte{0xff, 0xff, 0xff, 0xff}), frame.ErrTooLarge, `4294967295 bytes`, 4 << 20},
		{"legacy: silent", client.ProtoLegacy, func(net.Conn) {}, nil, `i/o timeout`, 0},
		{"legacy: key of ML-KEM-512", client.ProtoLegacy, frameOf(legacy.EncodePublicKey(ek512)), legacy.ErrKEMMismatch, `the server uses ML-KEM-512, not ML-KEM-768$`, 0},
		{"legacy: GLOBAL", client.ProtoLegacy, frameOf([]byte("\x80\x04cos\nsystem\n.")), pickle.ErrNotAllowed, `GLOBAL`, 0},
		{"legacy: BINBYTES8 of 2^62 bytes", client.ProtoLegacy, frameOf([]byte("\x80\x04\x8e\x00\x00\x00\x00\x00\x00\x00\x40.")), pickle.ErrTruncated, `4611686018427387904 bytes`, 4 << 20},
		{"legacy: a dict", client.ProtoLegacy, frameOf([]byte("\x80\x04}.")), legacy.ErrMalformed, `holds a dict, not bytes`, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := startFake(t, tc.script)
			before := totalAlloc()
			err, out, took := runClient(t, fs.addr, tc.proto, s, nil)
			require.Error(t, err)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
			require.Regexp(t, regexp.MustCompile(tc.reason), err.Error())
			require.Less(t, took, hsTimeout+5*time.Second)
			if tc.maxAlloc > 0 {
				require.Less(t, totalAlloc()-before, tc.maxAlloc)
			}
			require.NotContains(t, out, client.ReadyLine)
			require.Zero(t, <-fs.rest, "the client sent bytes before it accepted the server's key")
		})
	}
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// rawServer is the server side of a session handshake done by hand, with
// the secrets it derived, so that a fake server can send anything after it.
type rawServer struct {
	c       net.Conn
	version byte        // the ClientHello's
	sealer  wire.Sealer // s2c
	opener  wire.Opener // c2s
	secrets map[string][]byte
}

// rawServerHandshake sends a version-1 ServerHello (as a server without
// client keys does) with static key dkS and a fresh ephemeral key, reads the
// ClientHello and derives the keys of its version. It sends no FINISHED.
// decaps, if not nil, replaces dkS for decapsulating ct_s: a server that
// shows a key it does not hold.
func rawServerHandshake(c net.Conn, s kem.Scheme, dkS kem.DecapsulationKey, decaps kem.DecapsulationKey) (*rawServer, error) {
	dkE, err := s.GenerateKey()
	if err != nil {
		return nil, err
	}
	p := s.Params()
	sh, err := (&wire.ServerHello{Version: wire.Version1, KEMID: p.ID, StaticKey: dkS.EncapsulationKey().Bytes(), EphemeralKey: dkE.EncapsulationKey().Bytes()}).Append(nil)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write(frame.Append(nil, sh)); err != nil {
		return nil, err
	}
	chb, err := frame.NewReader(c, 0).Next()
	if err != nil {
		return nil, err
	}
	ch, err := wire.ParseClientHello(chb)
	if err != nil {
		return nil, err
	}
	if decaps == nil {
		decaps = dkS
	}
	ssS, err := decaps.Decapsulate(ch.StaticCiphertext)
	if err != nil {
		return nil, err
	}
	ssE, err := dkE.Decapsulate(ch.EphemeralCiphertext)
	if err != nil {
		return nil, err
	}
	th := wire.TranscriptHash(sh, chb)
	prk, err := wire.Extract(th[:], ssE, ssS)
	if err != nil {
		return nil, err
	}
	rs := &rawServer{c: c, version: ch.Version, secrets: map[string][]byte{"ss_s": ssS, "ss_e": ssE, "prk": prk, "ephemeral seed": dkE.Bytes()}}
	var c2s, s2c []byte
	if ch.Version == wire.Version1 {
		c2s, _ = wire.Expand(prk, wire.LabelV1ClientToServer, wire.KeySize)
		s2c, _ = wire.Expand(prk, wire.LabelV1ServerToClient, wire.KeySize)
	} else {
		tsC2S, _ := wire.Expand(prk, wire.LabelClientToServer, wire.SecretSize)
		tsS2C, _ := wire.Expand(prk, wire.LabelServerToClient, wire.SecretSize)
		c2s, _ = wire.Expand(tsC2S, wire.LabelKey, wire.KeySize)
		s2c, _ = wire.Expand(tsS2C, wire.LabelKey, wire.KeySize)
		rs.secrets["ts_c2s"], rs.secrets["ts_s2c"] = tsC2S, tsS2C
	}
	rs.secrets["key_c2s"], rs.secrets["key_s2c"] = c2s, s2c
	if err := rs.sealer.SetKey(s2c); err != nil {
		return nil, err
	}
	if err := rs.opener.SetKey(c2s); err != nil {
		return nil, err
	}
	return rs, nil
}

func (rs *rawServer) record(typ byte, body string) []byte {
	return frame.Append(nil, rs.sealer.Seal(nil, typ, []byte(body)))
}

// readRecords reads and opens the client's records until its CLOSE (or an
// error), and returns the bodies of its DATA records; its FINISHED
// (version 2) must come first.
func (rs *rawServer) readRecords() ([]string, error) {
	var got []string
	r := frame.NewReader(rs.c, 0)
	for first := true; ; first = false {
		p, err := r.Next()
		if err != nil {
			return got, err
		}
		typ, body, err := rs.opener.Open(p)
		if err != nil {
			return got, err
		}
		switch {
		case first && rs.version == wire.Version2:
			if typ != wire.RecordFinished {
				return got, fmt.Errorf("the client's first record is type %d, not FINISHED", typ)
			}
		case typ == wire.RecordData:
			got = append(got, string(body))
		case typ == wire.RecordClose:
			return got, nil
		default:
			return got, fmt.Errorf("unexpected record type %d", typ)
		}
	}
}

// TestHostileSessionServer: a server that completes the handshake (or
// pretends to) and then misbehaves. The client reports it, never hangs, and
// prints no secret; a server that fails key confirmation gets nothing but
// the ClientHello.
func TestHostileSessionServer(t *testing.T) {
	s := scheme(t, kem.MLKEM768)
	dkS := keyPair(t, s, 7)
	type script func(t *testing.T, rs *rawServer)
	finished := func(rs *rawServer) { rs.c.Write(rs.record(wire.RecordFinished, "")) }
	readRecords := func(rs *rawServer) []string {
		got, _ := rs.readRecords()
		return got
	}
	cases := []struct {
		name   string
		script script
		want   error
		reason string
	}{
		{"no FINISHED, closed", func(t *testing.T, rs *rawServer) { rs.c.Close() }, session.ErrTruncated, `closed the connection before FINISHED`},
		{"no FINISHED, silent", func(t *testing.T, rs *rawServer) {}, nil, `FINISHED: .*i/o timeout`},
		{"FINISHED that does not open", func(t *testing.T, rs *rawServer) {
			rs.c.Write(frame.Append(nil, bytes.Repeat([]byte{1}, wire.RecordOverhead)))
		}, session.ErrKeyConfirmation, `does not hold the private key`},
		{"DATA before FINISHED", func(t *testing.T, rs *rawServer) {
			rs.c.Write(rs.record(wire.RecordData, "hi"))
		}, session.ErrUnexpectedRecord, `FINISHED: unexpected record: the server sent DATA, want FINISHED`},
		{"FINISHED with a body", func(t *testing.T, rs *rawServer) {
			rs.c.Write(rs.record(wire.RecordFinished, "x"))
		}, session.ErrUnexpectedRecord, `the server's FINISHED has a 1-byte body`},
		{"tampered record", func(t *testing.T, rs *rawServer) {
			finished(rs)
			r := rs.record(wire.RecordData, "echo")
			r[len(r)-1] ^= 1
			rs.c.Write(r)
		}, session.ErrAuth, `record 1: record failed to authenticate`},
		{"replayed FINISHED", func(t *testing.T, rs *rawServer) {
			fin := rs.record(wire.RecordFinished, "")
			rs.c.Write(fin)
			rs.c.Write(fin)
		}, session.ErrAuth, `record 1: record failed to authenticate`},
		{"second FINISHED", func(t *testing.T, rs *rawServer) {
			finished(rs)
			finished(rs)
		}, session.ErrUnexpectedRecord, `a FINISHED from the server after the handshake`},
		{"unknown record type", func(t *testing.T, rs *rawServer) {
			finished(rs)
			rs.c.Write(rs.record(0x42, ""))
		}, session.ErrUnknownRecordType, `0x42`},
		{"4 GiB frame", func(t *testing.T, rs *rawServer) {
			finished(rs)
			rs.c.Write([]byte{0xff, 0xff, 0xff, 0xff})
		}, frame.ErrTooLarge, `4294967295 bytes`},
		{"truncated: closes without CLOSE", func(t *testing.T, rs *rawServer) {
			finished(rs)
			rs.c.(*net.TCPConn).CloseWrite()
			readRecords(rs)
		}, session.ErrTruncated, `the server's TCP stream ended`},
		{"truncated: reset", func(t *testing.T, rs *rawServer) {
			finished(rs)
			rs.c.(*net.TCPConn).SetLinger(0)
			rs.c.Close()
		}, nil, `connection reset by peer|truncated|broken pipe`},
		{"never answers CLOSE", func(t *testing.T, rs *rawServer) {
			finished(rs)
			require.Equal(t, []string{"first line", "second line"}, readRecords(rs))
			time.Sleep(hsTimeout + 500*time.Millisecond)
		}, nil, `closing the session with .*i/o timeout`},
		{"dribbled record", func(t *testing.T, rs *rawServer) {
			finished(rs)
			for _, b := range rs.record(wire.RecordData, "slow echo") {
				if _, err := rs.c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}, nil, `i/o timeout|the server closed the session|peer too slow`},
	}
	// The cases where no valid FINISHED ever arrives: the client must send
	// nothing after its ClientHello.
	beforeFinished := map[string]bool{"no FINISHED, closed": true, "no FINISHED, silent": true,
		"FINISHED that does not open": true, "DATA before FINISHED": true, "FINISHED with a body": true}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rs *rawServer
			var hsErr error
			fs := startFake(t, func(c net.Conn) {
				if rs, hsErr = rawServerHandshake(c, s, dkS, nil); hsErr == nil {
					tc.script(t, rs)
				}
			})
			err, out, took := runClient(t, fs.addr, client.ProtoSession, s, nil)
			rest := <-fs.rest
			require.NoError(t, hsErr)
			require.Error(t, err)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
			require.Regexp(t, regexp.MustCompile(tc.reason), err.Error())
			require.Less(t, took, 2*hsTimeout+5*time.Second, "the client took too long to give up")
			if beforeFinished[tc.name] {
				require.Zero(t, rest, "the client sent records before FINISHED opened")
			}
			requireNoSecrets(t, err.Error()+"\n"+out, rs.secrets)
			requireNoSecrets(t, err.Error()+"\n"+out, map[string][]byte{"static seed": dkS.Bytes()})
		})
	}
}

// TestRecordsAfterServerClose: what a server sends after its CLOSE is
// never shown; the session still ends cleanly, since every line arrived.
func TestRecordsAfterServerClose(t *testing.T) {
	s := scheme(t, kem.MLKEM768)
	dkS := keyPair(t, s, 7)
	var got []string
	fs := startFake(t, func(c net.Conn) {
		rs, err := rawServerHandshake(c, s, dkS, nil)
		if err != nil {
			return
		}
		c.Write(rs.record(wire.RecordFinished, ""))
		if got, err = rs.readRecords(); err != nil {
			return
		}
		c.Write(append(append(rs.record(wire.RecordData, "echo"), rs.record(wire.RecordClose, "")...), rs.record(wire.RecordData, "after CLOSE")...))
	})
	err, out, _ := runClient(t, fs.addr, client.ProtoSession, s, nil)
	<-fs.rest
	require.NoError(t, err)
	require.Equal(t, []string{"first line", "second line"}, got)
	require.Contains(t, out, "Decrypted from server: echo\n")
	require.NotContains(t, out, "after CLOSE")
	require.Contains(t, out, client.ExitingLine)
}

// TestPinRefusedSendsNothing: a server whose key the client refuses (a pin
// or known-hosts mismatch) gets nothing, not even the ClientHello.
func TestPinRefusedSendsNothing(t *testing.T) {
	s := scheme(t, kem.MLKEM768)
	dkS := keyPair(t, s, 7)
	fs := startFake(t, func(c net.Conn) { rawServerHandshake(c, s, dkS, nil) })
	err, _, _ := runClient(t, fs.addr, client.ProtoSession, s, func([]byte) (func() (string, error), error) {
		return nil, errors.New("not the pinned key")
	})
	require.ErrorIs(t, err, session.ErrServerKeyRefused)
	require.Zero(t, <-fs.rest)
}

// encodings returns the ways a secret could show up in text.
func encodings(b []byte) []string {
	var out []string
	for _, p := range [][]byte{b, b[:min(len(b), 12)]} {
		out = append(out, string(p), hex.EncodeToString(p), strings.ToUpper(hex.EncodeToString(p)),
			base64.StdEncoding.EncodeToString(p)[:len(p)/3*4], base64.URLEncoding.EncodeToString(p)[:len(p)/3*4],
			fmt.Sprint(p), fmt.Sprintf("%q", p))
	}
	return out
}

// requireNoSecrets fails if any secret, in any encoding, is in text.
func requireNoSecrets(t *testing.T, text string, secrets map[string][]byte) {
	t.Helper()
	for name, s := range secrets {
		for _, enc := range encodings(s) {
			if len(s) > 0 && strings.Contains(text, enc) {
				t.Fatalf("the client's output holds the %s (%q)", name, enc)
			}
		}
	}
}

// TestServerStopsReading: a server that completes the handshake and then
// reads nothing more. Once the connection's buffers are full the client's
// writes block; the client must give up after its timeout (the handshake
// timeout, as for the legacy protocol and the server's echoes) instead of
// hanging forever, and a cancelled context must stop it at once.
func TestServerStopsReading(t *testing.T) {
	s := scheme(t, kem.MLKEM768)
	dkS := keyPair(t, s, 7)
	input := strings.Repeat(strings.Repeat("x", 1000)+"\n", 64<<10) // 64 MB
	for _, proto := range []string{client.ProtoSession, client.ProtoLegacy} {
		for _, cancel := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/cancel=%v", proto, cancel), func(t *testing.T) {
				release := make(chan struct{})
				var once sync.Once
				free := func() { once.Do(func() { close(release) }) }
				defer free()
				fs := startFake(t, func(c net.Conn) {
					if proto == client.ProtoSession {
						rs, err := rawServerHandshake(c, s, dkS, nil)
						if err != nil {
							return
						}
						c.Write(rs.record(wire.RecordFinished, ""))
					} else {
						writeFrame(c, legacy.EncodePublicKey(dkS.EncapsulationKey().Bytes()))
					}
					<-release // read nothing
					c.Close()
				})
				ctx, stop := context.WithCancel(context.Background())
				defer stop()
				timeout := time.Second
				if cancel {
					timeout = time.Hour // only the cancellation can stop it
				}
				var out syncBuffer
				done := make(chan error, 1)
				start := time.Now()
				go func() {
					done <- (&client.Chat{Config: client.Config{Addr: fs.addr, Proto: proto, Scheme: s,
						HandshakeTimeout: timeout, Out: &out, Err: &out}}).Run(ctx, strings.NewReader(input))
				}()
				if cancel {
					// Wait until the writes are stuck, then cancel: a session
					// client stops at once, not after its hour-long write
					// timeout. A legacy client, after a cancellation, still
					// half-closes and waits (up to its timeout) for the
					// server to hang up: this one does.
					eventually(t, func() bool { return strings.Contains(out.String(), client.ReadyLine) })
					time.Sleep(500 * time.Millisecond)
					stop()
					start = time.Now()
					if proto == client.ProtoLegacy {
						free()
					}
				}
				select {
				case err := <-done:
					took := time.Since(start)
					t.Logf("%v after %v", err, took)
					require.Less(t, took, 10*time.Second)
					switch {
					case !cancel:
						require.ErrorContains(t, err, "i/o timeout")
					case proto == client.ProtoSession:
						require.ErrorContains(t, err, "interrupted while sending line")
					}
				case <-time.After(waitLong):
					stop() // let the client go before failing
					free()
					<-done
					t.Fatal("the client hangs on a server that does not read")
				}
			})
		}
	}
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// spyScheme records the shared secrets the client's encapsulations return.
type spyScheme struct {
	kem.Scheme
	mu      sync.Mutex
	secrets [][]byte
}

func (s *spyScheme) NewEncapsulationKey(b []byte) (kem.EncapsulationKey, error) {
	ek, err := s.Scheme.NewEncapsulationKey(b)
	if err != nil {
		return nil, err
	}
	return &spyEK{EncapsulationKey: ek, s: s}, nil
}

type spyEK struct {
	kem.EncapsulationKey
	s *spyScheme
}

func (k *spyEK) Encapsulate() ([]byte, []byte, error) {
	ss, ct, err := k.EncapsulationKey.Encapsulate()
	k.s.mu.Lock()
	k.s.secrets = append(k.s.secrets, ss)
	k.s.mu.Unlock()
	return ss, ct, err
}

// live returns how many secrets were made and how many are not all zeros.
func (s *spyScheme) live() (made, live int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.secrets {
		if !bytes.Equal(ss, make([]byte, len(ss))) {
			live++
		}
	}
	return len(s.secrets), live
}

// TestClientWipesSecrets: the shared secrets of the client's
// encapsulations are zero once it is done with them: after a clean session,
// after a failed key confirmation, and in the legacy protocol, one per
// message.
func TestClientWipesSecrets(t *testing.T) {
	dkS := keyPair(t, scheme(t, kem.MLKEM768), 7)
	for _, tc := range []struct {
		name, proto string
		script      func(t *testing.T, c net.Conn, s kem.Scheme)
		wantErr     bool
		made        int
	}{
		{"session", client.ProtoSession, func(t *testing.T, c net.Conn, s kem.Scheme) {
			rs, err := rawServerHandshake(c, s, dkS, nil)
			if err != nil {
				return
			}
			c.Write(rs.record(wire.RecordFinished, ""))
			if _, err := rs.readRecords(); err != nil {
				return
			}
			c.Write(rs.record(wire.RecordClose, ""))
		}, false, 2},
		{"session, key confirmation fails", client.ProtoSession, func(t *testing.T, c net.Conn, s kem.Scheme) {
			if _, err := rawServerHandshake(c, s, dkS, nil); err == nil {
				c.Write(frame.Append(nil, make([]byte, wire.RecordOverhead)))
			}
		}, true, 2},
		{"legacy", client.ProtoLegacy, func(t *testing.T, c net.Conn, s kem.Scheme) {
			writeFrame(c, legacy.EncodePublicKey(dkS.EncapsulationKey().Bytes()))
		}, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &spyScheme{Scheme: scheme(t, kem.MLKEM768)}
			fs := startFake(t, func(c net.Conn) { tc.script(t, c, s.Scheme) })
			err, out, _ := runClient(t, fs.addr, tc.proto, s, nil)
			<-fs.rest
			if tc.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err, out)
			}
			made, live := s.live()
			require.Equal(t, tc.made, made)
			require.Zero(t, live, "shared secrets left in memory")
		})
	}
}
