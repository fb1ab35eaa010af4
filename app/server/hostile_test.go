package server_test

// Hostile input against a running server: real TCP on 127.0.0.1, the
// server in this process. Every case checks that the server ends the
// hostile connection with one line naming the peer, the stage and the
// reason, that it delivers nothing the hostile client did not send intact
// (and everything it did, up to the bad input), that it does not reserve
// memory a peer merely announces, and that an honest client connected at
// the same time gets every message through, before and after.

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/legacy"
	"github.com/kemtcp/kemtcp/app/pickle"
	"github.com/kemtcp/kemtcp/app/server"
	"github.com/kemtcp/kemtcp/app/session"
)

// hostileCase is one hostile client.
type hostileCase struct {
	name string
	// stage and reason (a regular expression) of the server's failure
	// line; an empty stage means the connection ends normally instead
	// ("Client requested to exit.").
	stage, reason string
	// run does the hostile thing on a fresh connection c and returns the
	// messages the server must have delivered from it.
	run func(t *testing.T, ts *testServer, c net.Conn) []string
	// maxAlloc, if set, bounds what the whole process may allocate while
	// the server deals with the case: far less than what the case
	// announces.
	maxAlloc uint64
}

// runHostile runs each case against ts with an honest client served at the
// same time.
func runHostile(t *testing.T, ts *testServer, cases []hostileCase, good func() (exchange func(), finish func())) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts.t = t
			// A fresh log and tally: a client of this case may get the
			// port of an earlier case's client, and must not be taken
			// for it.
			ts.out.Reset()
			ts.mu.Lock()
			clear(ts.msgs)
			ts.mu.Unlock()
			exchange, finish := good()
			exchange()

			c := ts.dial()
			peer := c.LocalAddr().String()
			before := totalAlloc()
			want := tc.run(t, ts, c)
			if tc.maxAlloc > 0 {
				// Measured before the waits for log lines below, which
				// allocate copies of the whole log as they poll.
				requireClosedByServer(t, c)
				require.Less(t, totalAlloc()-before, tc.maxAlloc, "bytes allocated while the server handled the case")
			}
			if tc.stage != "" {
				ts.requireFailure(peer, tc.stage, tc.reason)
			} else {
				eventually(t, waitLong, "the exit line", func() bool {
					return strings.Contains(ts.out.String(), "["+peer+"] Client requested to exit.")
				})
				require.NotContains(t, ts.out.String(), "Connection from "+peer+" ")
			}
			requireClosedByServer(t, c)
			require.Equal(t, want, ts.delivered(peer), "messages delivered from the hostile client")

			exchange()
			finish()
		})
	}
}

// goodSession returns an honest session client's two halves for runHostile.
func goodSession(ts *testServer) func() (func(), func()) {
	return func() (func(), func()) {
		g := ts.dialGood()
		return func() { g.exchange(3) }, g.finish
	}
}

// established completes an honest handshake by hand (version 2, the
// client's FINISHED sent), for the cases that misbehave afterwards.
func established(t testing.TB, ts *testServer, c net.Conn) *rawSession {
	t.Helper()
	return establishedV(t, ts, c, wire.Version2)
}

// establishedV is established with a ClientHello of the given version.
func establishedV(t testing.TB, ts *testServer, c net.Conn, version byte) *rawSession {
	t.Helper()
	rs := rawHandshake(t, c, ts.scheme(), handshakeOpts{version: version})
	require.NoError(t, rs.finOpen)
	return rs
}

// clientHello returns a ClientHello payload with the given header and
// length, and random ciphertext bytes.
func clientHello(magic string, version byte, id uint16, n int) []byte {
	b := append([]byte(magic), version)
	b = binary.BigEndian.AppendUint16(b, id)
	return append(b, randomBytes(n-len(b))...)
}

func sizes(t testing.TB, alg string) kem.Params {
	p, err := kem.ParamsFor(alg)
	require.NoError(t, err)
	return p
}

// TestHostileSession: the session protocol against hostile clients, in the
// handshake and after it.
func TestHostileSession(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	const maxFrame = 16 << 20 // a large limit, so that announcing it would show
	s := testScheme(t)
	ts := startServer(t, server.Config{Session: &session.ServerConfig{Scheme: s, Static: staticKey(t, s), MaxFrame: maxFrame}, HandshakeTimeout: hsTimeout})
	p768, p512 := sizes(t, kem.MLKEM768), sizes(t, kem.MLKEM512)
	chSize := wire.ClientHelloSize(p768)
	// What the handshake cases write: a ClientHello-sized frame.
	writeHello := func(payload []byte) func(*testing.T, *testServer, net.Conn) []string {
		return func(t *testing.T, ts *testServer, c net.Conn) []string {
			send(t, c, frame.Append(nil, payload))
			return nil
		}
	}
	const authFailed = `record failed to authenticate$`

	cases := []hostileCase{
		// The handshake (stage "handshake").
		{name: "silent", stage: "handshake", reason: `^ClientHello: receive: .*i/o timeout$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				start := time.Now()
				requireClosedByServer(t, c)
				require.Less(t, time.Since(start), hsTimeout+5*time.Second)
				return nil
			}},
		{name: "closes at once", stage: "handshake", reason: `^ClientHello: connection ended without CLOSE \(truncated\): the connection ended before the ClientHello`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string { c.(*net.TCPConn).CloseWrite(); return nil }},
		{name: "zero-length frame", stage: "handshake", reason: `^ClientHello: zero-length frame \(the peer does not speak the kemtcp session protocol\)$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string { send(t, c, []byte{0, 0, 0, 0}); return nil }},
		{name: "4 GiB frame", stage: "handshake", reason: `^ClientHello: frame too large: 4294967295 bytes, limit \d+ `, maxAlloc: 4 << 20,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				send(t, c, []byte{0xff, 0xff, 0xff, 0xff}, randomBytes(1000))
				return nil
			}},
		{name: "cut mid-frame", stage: "handshake", reason: fmt.Sprintf(`^ClientHello: connection ended without CLOSE \(truncated\): connection closed in the middle of a frame \(got 100 of %d payload bytes\)$`, chSize),
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				send(t, c, frame.AppendHeader(nil, chSize), randomBytes(100))
				c.(*net.TCPConn).CloseWrite()
				return nil
			}},
		{name: "reset mid-frame", stage: "handshake", reason: `^ClientHello: (receive: .*connection reset by peer|connection ended without CLOSE \(truncated\).*)$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				readServerHello(t, c)
				send(t, c, frame.AppendHeader(nil, chSize), randomBytes(100))
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
				return nil
			}},
		{name: "dribbled", stage: "handshake", reason: `^ClientHello: (receive: .*i/o timeout|peer too slow: .*)$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				took, err := dribble(c, frame.Append(nil, clientHello(wire.Magic, wire.Version2, p768.ID, chSize)), 100*time.Millisecond)
				require.NoError(t, err)
				require.Less(t, took, hsTimeout+5*time.Second)
				return nil
			}},
		{name: "wrong magic", stage: "handshake", reason: `^ClientHello: bad magic .*got "KEMTCQ", want "KEMTCP"$`,
			run: writeHello(clientHello("KEMTCQ", wire.Version2, p768.ID, chSize))},
		{name: "wrong version", stage: "handshake", reason: `^ClientHello: unsupported protocol version 3 \(this build speaks versions 1 and 2\)$`,
			run: writeHello(clientHello(wire.Magic, 3, p768.ID, chSize))},
		{name: "refusal as a ClientHello", stage: "handshake", reason: `^ClientHello: unsupported protocol version 255 `,
			run: writeHello(clientHello(wire.Magic, wire.VersionRefusal, p768.ID, chSize))},
		{name: "unknown KEM id", stage: "handshake", reason: `^ClientHello: unknown KEM id 0x1234 `,
			run: writeHello(clientHello(wire.Magic, wire.Version2, 0x1234, chSize))},
		{name: "other ML-KEM", stage: "handshake", reason: `^ClientHello: KEM mismatch: the server uses ML-KEM-768 \(0x0201\), the client ML-KEM-512 \(0x0200\)$`,
			run: writeHello(clientHello(wire.Magic, wire.Version2, p512.ID, wire.ClientHelloSize(p512)))},
		{name: "ciphertexts a byte short", stage: "handshake", reason: fmt.Sprintf(`^ClientHello: wrong length for ML-KEM-768 \(0x0201\): got %d bytes, want %d$`, chSize-1, chSize),
			run: writeHello(clientHello(wire.Magic, wire.Version2, p768.ID, chSize-1))},
		{name: "ciphertexts a byte long", stage: "handshake", reason: fmt.Sprintf(`^ClientHello: wrong length for ML-KEM-768 \(0x0201\): got %d bytes, want %d$`, chSize+1, chSize),
			run: writeHello(clientHello(wire.Magic, wire.Version2, p768.ID, chSize+1))},
		{name: "legacy client", stage: "handshake", reason: `^ClientHello: bad magic`,
			run: writeHello((&legacy.Bundle{KEMCiphertext: randomBytes(p768.CiphertextSize), Nonce: make([]byte, legacy.NonceSize), Ciphertext: randomBytes(40)}).Marshal())},

		// Implicit rejection: a ciphertext of the right size that is not an
		// encapsulation to the key makes the server derive other keys;
		// FINISHED does not open for the client, and the client's first
		// record does not open for the server: for a version-2 client
		// that is where its FINISHED is due, inside the handshake.
		{name: "random ct_e", stage: "handshake", reason: `^FINISHED: from the client: record 0: ` + authFailed,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := rawHandshake(t, c, ts.scheme(), handshakeOpts{randomCtE: true})
				require.ErrorIs(t, rs.finOpen, session.ErrAuth, "FINISHED must not open with the client's keys")
				send(t, c, rs.record(wire.RecordFinished, ""), rs.data("hello"))
				return nil
			}},
		{name: "random ct_s", stage: "handshake", reason: `^FINISHED: from the client: record 0: ` + authFailed,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := rawHandshake(t, c, ts.scheme(), handshakeOpts{randomCtS: true})
				require.ErrorIs(t, rs.finOpen, session.ErrAuth)
				send(t, c, rs.record(wire.RecordFinished, ""), rs.data("hello"))
				return nil
			}},
		{name: "random ct_e, version 1", stage: "session", reason: `^from the client: record 0: ` + authFailed,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := rawHandshake(t, c, ts.scheme(), handshakeOpts{version: wire.Version1, randomCtE: true})
				require.ErrorIs(t, rs.finOpen, session.ErrAuth)
				send(t, c, rs.data("hello"))
				return nil
			}},

		// The client's FINISHED (version 2).
		{name: "DATA instead of FINISHED", stage: "handshake", reason: `^FINISHED: unexpected record: the client sent DATA, want FINISHED$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := rawHandshake(t, c, ts.scheme(), handshakeOpts{noFinished: true})
				require.NoError(t, rs.finOpen)
				send(t, c, rs.data("too early"))
				return nil
			}},
		{name: "FINISHED with a body", stage: "handshake", reason: `^FINISHED: unexpected record: the client's FINISHED has a 1-byte body, want 0$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := rawHandshake(t, c, ts.scheme(), handshakeOpts{noFinished: true})
				require.NoError(t, rs.finOpen)
				send(t, c, rs.record(wire.RecordFinished, "x"))
				return nil
			}},
		{name: "no FINISHED, closed", stage: "handshake", reason: `^FINISHED: connection ended without CLOSE \(truncated\): the client closed the connection \(before its FINISHED`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := rawHandshake(t, c, ts.scheme(), handshakeOpts{noFinished: true})
				require.NoError(t, rs.finOpen)
				c.(*net.TCPConn).CloseWrite()
				return nil
			}},
		{name: "no FINISHED, silent", stage: "handshake", reason: `^FINISHED: .*i/o timeout$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := rawHandshake(t, c, ts.scheme(), handshakeOpts{noFinished: true})
				require.NoError(t, rs.finOpen)
				requireClosedByServer(t, c)
				return nil
			}},

		// After the handshake (stage "session").
		{name: "zero-length frame after handshake", stage: "session", reason: `^from the client: zero-length frame$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				send(t, c, rs.data("one"), []byte{0, 0, 0, 0})
				return []string{"one"}
			}},
		{name: "frame over max-frame", stage: "session", reason: fmt.Sprintf(`^from the client: frame too large: %d bytes, limit %d$`, maxFrame+1, maxFrame), maxAlloc: 4 << 20,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				established(t, ts, c)
				send(t, c, frame.AppendHeader(nil, maxFrame+1), randomBytes(1000))
				return nil
			}},
		{name: "4 GiB frame after handshake", stage: "session", reason: `^from the client: frame too large: 4294967295 bytes`, maxAlloc: 4 << 20,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				established(t, ts, c)
				send(t, c, []byte{0xff, 0xff, 0xff, 0xff})
				return nil
			}},
		{name: "max-frame announced, 100 bytes sent", stage: "session", reason: fmt.Sprintf(`^from the client: peer too slow: frame not complete %v after the reader began waiting for it$`, hsTimeout), maxAlloc: 4 << 20,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				established(t, ts, c)
				send(t, c, frame.AppendHeader(nil, maxFrame), randomBytes(100))
				return nil
			}},
		{name: "max-frame announced, 100 KiB sent, closed", stage: "session", reason: fmt.Sprintf(`^connection ended without CLOSE \(truncated\): connection closed in the middle of a frame \(got 102400 of %d payload bytes\)$`, maxFrame), maxAlloc: 4 << 20,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				established(t, ts, c)
				send(t, c, frame.AppendHeader(nil, maxFrame), randomBytes(100<<10))
				c.(*net.TCPConn).CloseWrite()
				return nil
			}},
		{name: "record dribbled", stage: "session", reason: fmt.Sprintf(`^from the client: peer too slow: frame not complete %v after the reader began waiting for it$`, hsTimeout),
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				send(t, c, rs.data("before"))
				took, err := dribble(c, rs.data("dribbled"), 100*time.Millisecond)
				require.NoError(t, err)
				require.GreaterOrEqual(t, took, hsTimeout*9/10, "cut before the frame timeout")
				require.Less(t, took, hsTimeout+5*time.Second)
				return []string{"before"}
			}},
		// Record numbers count the client's FINISHED (record 0).
		{name: "tampered record", stage: "session", reason: `^from the client: record 2: ` + authFailed,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				intact := rs.data("intact")
				bad := rs.data("tampered")
				bad[len(bad)-20] ^= 0x01
				send(t, c, intact, bad, rs.data("after"))
				return []string{"intact"}
			}},
		{name: "tampered length", stage: "session", reason: `^from the client: record 2: ` + authFailed,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				intact := rs.data("intact")
				bad := rs.data("tampered")
				bad = frame.Append(nil, bad[frame.HeaderSize:len(bad)-1]) // tag cut by one byte
				send(t, c, intact, bad)
				return []string{"intact"}
			}},
		{name: "replayed record", stage: "session", reason: `^from the client: record 2: ` + authFailed,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				r1 := rs.data("once")
				send(t, c, r1, r1)
				return []string{"once"}
			}},
		{name: "replayed FINISHED", stage: "session", reason: `^from the client: record 1: ` + authFailed,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := rawHandshake(t, c, ts.scheme(), handshakeOpts{noFinished: true})
				require.NoError(t, rs.finOpen)
				fin := rs.record(wire.RecordFinished, "")
				send(t, c, fin, fin)
				return nil
			}},
		{name: "reordered records", stage: "session", reason: `^from the client: record 1: ` + authFailed,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				r1, r2 := rs.data("first"), rs.data("second")
				send(t, c, r2, r1)
				return nil
			}},
		{name: "dropped record", stage: "session", reason: `^from the client: record 2: ` + authFailed,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				r1, _, r3 := rs.data("kept"), rs.data("dropped"), rs.data("after the gap")
				send(t, c, r1, r3)
				return []string{"kept"}
			}},
		{name: "truncated: no CLOSE", stage: "session", reason: `^connection ended without CLOSE \(truncated\): the client's TCP stream ended$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				send(t, c, rs.data("a"), rs.data("b"))
				c.(*net.TCPConn).CloseWrite()
				return []string{"a", "b"}
			}},
		{name: "truncated: reset", stage: "session", reason: `^(receive from the client: .*connection reset by peer|connection ended without CLOSE \(truncated\): .*)$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				send(t, c, rs.data("a"))
				eventually(t, waitLong, "the message", func() bool { return len(ts.delivered(c.LocalAddr().String())) == 1 })
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
				return []string{"a"}
			}},
		{name: "cut mid-record", stage: "session", reason: `^connection ended without CLOSE \(truncated\): connection closed in the middle of a frame \(got 10 of 22 payload bytes\)$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				r := rs.data("hello")
				send(t, c, r[:frame.HeaderSize+10])
				c.(*net.TCPConn).CloseWrite()
				return nil
			}},
		{name: "record shorter than a tag", stage: "session", reason: `^from the client: record 1: record failed to authenticate: 5 bytes, shorter than the 17-byte minimum$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				established(t, ts, c)
				send(t, c, frame.Append(nil, []byte("12345")))
				return nil
			}},
		{name: "second FINISHED", stage: "session", reason: `^unexpected record: a FINISHED from the client after the handshake$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				send(t, c, rs.record(wire.RecordFinished, ""))
				return nil
			}},
		{name: "FINISHED from a version-1 client", stage: "session", reason: `^unexpected record: a FINISHED from the client after the handshake$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := establishedV(t, ts, c, wire.Version1)
				send(t, c, rs.record(wire.RecordFinished, ""))
				return nil
			}},
		{name: "unknown record type", stage: "session", reason: `^unknown record type 0x09 in the client's record 2$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				send(t, c, rs.data("x"), rs.record(9, "?"))
				return []string{"x"}
			}},
		{name: "KEY_UPDATE from a version-1 client", stage: "session", reason: `^unknown record type 0x04 in the client's record 1$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := establishedV(t, ts, c, wire.Version1)
				send(t, c, rs.data("x"), rs.record(wire.RecordKeyUpdate, ""))
				return []string{"x"}
			}},
		{name: "KEY_UPDATE with a body", stage: "session", reason: `^unexpected record: the client's KEY_UPDATE has a 1-byte body, want none$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				send(t, c, rs.data("x"), rs.record(wire.RecordKeyUpdate, "!"))
				return []string{"x"}
			}},
		{name: "old key after KEY_UPDATE", stage: "session", reason: `^from the client: record 0: ` + authFailed,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				x := rs.data("x")
				ku := rs.record(wire.RecordKeyUpdate, "") // and the sealer keeps the old key
				send(t, c, x, ku, rs.data("under the old key"))
				return []string{"x"}
			}},
		{name: "CLOSE with a body", stage: "session", reason: `^unexpected record: the client's CLOSE has a 3-byte body$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				send(t, c, rs.record(wire.RecordClose, "bye"))
				return nil
			}},
		{name: "CLOSE with a reason from a version-1 client", stage: "session", reason: `^unexpected record: the client's CLOSE has a 1-byte body$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := establishedV(t, ts, c, wire.Version1)
				send(t, c, rs.record(wire.RecordClose, "\x01"))
				return nil
			}},
		{name: "client key records unasked", stage: "session", reason: `^unexpected record: a CLIENT_KEY record from the client after the handshake$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				send(t, c, rs.record(wire.RecordClientKey, string(ts.serverKey())))
				return nil
			}},
		// A peer's text cannot forge or break the server's lines: control
		// characters, newlines included, are escaped.
		{name: "line injection", stage: "session", reason: `^from the client: record 2: ` + authFailed,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				forged := "x\nConnection from 192.0.2.1:1 failed during session: forged\r\x1b[2J\x00"
				send(t, c, rs.data(forged), frame.Append(nil, make([]byte, 40)))
				eventually(t, waitLong, "the escaped line", func() bool {
					return strings.Contains(ts.out.String(), `Decrypted from client: x\x0aConnection from 192.0.2.1:1 failed during session: forged\x0d\x1b[2J\x00`+"\n")
				})
				require.NotContains(t, ts.out.String(), "\nConnection from 192.0.2.1:1")
				return []string{forged}
			}},
		// A client that sends and never reads its echoes: the server's
		// writes block, and the write deadline cuts it off.
		{name: "never reads its echoes", stage: "session", reason: `^echo: write tcp .*i/o timeout$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				c.(*net.TCPConn).SetReadBuffer(4 << 10)
				body := strings.Repeat("e", 60<<10)
				var want []string
				writerDone := make(chan struct{})
				go func() { // stops when the server hangs up
					defer close(writerDone)
					for {
						if _, err := c.Write(rs.data(body)); err != nil {
							return
						}
					}
				}()
				eventually(t, waitLong, "the server to give up on the echoes", func() bool {
					return strings.Contains(ts.out.String(), "Connection from "+c.LocalAddr().String()+" failed")
				})
				<-writerDone
				for range len(ts.delivered(c.LocalAddr().String())) {
					want = append(want, body)
				}
				require.NotEmpty(t, want)
				return want
			}},
		// After CLOSE the server answers with its own CLOSE and hangs up:
		// whatever follows is never read, let alone delivered.
		{name: "records after CLOSE",
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				send(t, c, slices.Concat(rs.data("last"), rs.record(wire.RecordClose, ""), rs.data("after CLOSE"), rs.data("more")))
				return []string{"last"}
			}},
		// A key update is no misbehaviour: what follows it under the new
		// key is delivered.
		{name: "key updates",
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := established(t, ts, c)
				send(t, c, rs.data("one"), rs.keyUpdate(t), rs.data("two"), rs.keyUpdate(t), rs.keyUpdate(t), rs.data("three"), rs.record(wire.RecordClose, ""))
				return []string{"one", "two", "three"}
			}},
		{name: "version-1 client, exit",
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				rs := establishedV(t, ts, c, wire.Version1)
				send(t, c, rs.data("old"), rs.data("exit"))
				return []string{"old", "exit"}
			}},
	}
	runHostile(t, ts, cases, goodSession(ts))
	ts.t = t
	ts.stop()
	goleak.VerifyNone(t, ign)
}

// legacyGood returns an honest legacy client's two halves for runHostile.
func legacyGood(ts *testServer) func() (func(), func()) {
	return func() (func(), func()) {
		t := ts.t
		c := ts.dial()
		sc := legacyConnect(t, c, ts.scheme())
		peer := c.LocalAddr().String()
		var sent []string
		exchange := func() {
			for range 3 {
				msg := fmt.Sprintf("good %s #%d", peer, len(sent))
				require.NoError(t, sc.Send([]byte(msg)))
				sent = append(sent, msg)
			}
		}
		finish := func() {
			require.NoError(t, c.(*net.TCPConn).CloseWrite())
			requireClosedByServer(t, c)
			require.Equal(t, sent, ts.delivered(peer))
			require.NotContains(t, ts.out.String(), "Connection from "+peer+" ")
		}
		return exchange, finish
	}
}

// pickleFrame returns a frame holding "\x80\x04" + body.
func pickleFrame(body string) []byte { return frame.Append(nil, []byte("\x80\x04"+body)) }

// TestHostileLegacy: the legacy protocol (the original demo's) against
// hostile clients: framing, the pickle subset, and the crypto.
func TestHostileLegacy(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	const maxFrame = 8 << 20
	s := testScheme(t)
	ts := startServer(t, server.Config{Proto: server.ProtoLegacy, Session: &session.ServerConfig{Scheme: s, Static: staticKey(t, s), MaxFrame: maxFrame}, HandshakeTimeout: hsTimeout})
	p768 := sizes(t, kem.MLKEM768)
	sealed := func(t *testing.T, ts *testServer, c net.Conn, text string) *legacy.Bundle {
		t.Helper()
		ek, err := ts.scheme().NewEncapsulationKey(ts.serverKey())
		require.NoError(t, err)
		b, err := legacy.Seal(ek, []byte(text), nil)
		require.NoError(t, err)
		return b
	}
	// write sends a valid message, then bad; the valid one is delivered.
	write := func(bad []byte) func(*testing.T, *testServer, net.Conn) []string {
		return func(t *testing.T, ts *testServer, c net.Conn) []string {
			sc := legacyConnect(t, c, ts.scheme())
			require.NoError(t, sc.Send([]byte("valid")))
			send(t, c, bad)
			return []string{"valid"}
		}
	}
	cases := []hostileCase{
		{name: "zero-length frame", stage: "message", reason: `^reading a message: zero-length frame$`, run: write([]byte{0, 0, 0, 0})},
		{name: "4 GiB frame", stage: "message", reason: `^reading a message: frame too large: 4294967295 bytes, limit 8388608$`, maxAlloc: 4 << 20,
			run: write([]byte{0xff, 0xff, 0xff, 0xff})},
		{name: "max-frame announced, 10 bytes sent", stage: "message", reason: fmt.Sprintf(`^reading a message: peer too slow: frame not complete %v after its first byte$`, hsTimeout), maxAlloc: 2 << 20,
			run: write(append(frame.AppendHeader(nil, maxFrame), "\x80\x04}\x94(\x8c\x05"...))},
		{name: "cut mid-frame", stage: "message", reason: `^reading a message: connection closed in the middle of a frame \(got 3 of 2000 payload bytes\)$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				write(append(frame.AppendHeader(nil, 2000), "\x80\x04}"...))(t, ts, c)
				c.(*net.TCPConn).CloseWrite()
				return []string{"valid"}
			}},
		{name: "message dribbled", stage: "message", reason: fmt.Sprintf(`^reading a message: peer too slow: frame not complete %v after its first byte$`, hsTimeout),
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				// The first message must arrive within the handshake
				// timeout (TestLegacySilentDropped): a valid one first,
				// then the dribbled one, which the frame timeout cuts.
				sc := legacyConnect(t, c, ts.scheme())
				require.NoError(t, sc.Send([]byte("valid")))
				eventually(t, waitLong, "the first message", func() bool { return len(ts.delivered(c.LocalAddr().String())) == 1 })
				took, err := dribble(c, frame.Append(nil, sealed(t, ts, c, "slow").Marshal()), 100*time.Millisecond)
				require.NoError(t, err)
				require.GreaterOrEqual(t, took, hsTimeout*9/10)
				require.Less(t, took, hsTimeout+5*time.Second)
				return []string{"valid"}
			}},
		{name: "session client", stage: "message", reason: `speaks kemtcp's session protocol, not the legacy one$`,
			run: write(frame.Append(nil, clientHello(wire.Magic, wire.Version2, p768.ID, wire.ClientHelloSize(p768))))},
		{name: "GLOBAL os.system", stage: "message", reason: `^message is not a valid pickle: pickle: opcode GLOBAL \('c', 0x63\) is not allowed \(offset 2\)$`,
			run: write(pickleFrame("cos\nsystem\n(S'echo pwned'\ntR."))},
		{name: "deep MARK nesting", stage: "message", reason: `^MARK at offset 2, where the shape allows none`,
			run: write(pickleFrame(strings.Repeat("(", 500000) + "."))},
		// The strict shape refuses what does not fit at once: deep
		// nesting and a flood of stack values end within the first bytes.
		{name: "deep dict nesting", stage: "message", reason: `^message .* \(\w+ at offset \d{1,2}\)$`,
			run: write(pickleFrame("}" + strings.Repeat("\x8c\x05nonce}", 70) + strings.Repeat("s", 70) + "."))},
		{name: "too many stack values", stage: "message", reason: `^message .* \(\w+ at offset \d{1,2}\)$`,
			run: write(pickleFrame("}(" + strings.Repeat("\x8c\x05nonce", 70000) + "u."))},
		{name: "BINBYTES past the frame", stage: "message", reason: `^message is not a valid pickle: pickle: BINBYTES at offset 2 is 4294967295 bytes long, but only 1 bytes are left in the input$`, maxAlloc: 1 << 20,
			run: write(pickleFrame("B\xff\xff\xff\xff."))},
		{name: "BINBYTES8 of 2^62 bytes", stage: "message", reason: `^message is not a valid pickle: pickle: BINBYTES8 at offset 2 is 4611686018427387904 bytes long`, maxAlloc: 1 << 20,
			run: write(pickleFrame("\x8e\x00\x00\x00\x00\x00\x00\x00\x40."))},
		{name: "BINUNICODE past the frame", stage: "message", reason: `^message is not a valid pickle: pickle: BINUNICODE at offset 2 is 16777216 bytes long`,
			run: write(pickleFrame("X\x00\x00\x00\x01abc."))},
		{name: "SHORT_BINBYTES past the end", stage: "message", reason: `truncated|bytes are left`,
			run: write(pickleFrame("C\xc8abc"))},
		{name: "FRAME past the input", stage: "message", reason: `^message is not a valid pickle: pickle: FRAME at offset 2 is 4294967296 bytes long, but only 2 bytes follow$`,
			run: write(pickleFrame("\x95\x00\x00\x00\x00\x01\x00\x00\x00}."))},
		{name: "BINPUT past the memo", stage: "message", reason: `^message is not a valid pickle: pickle: BINPUT at offset 3: memo index 5 skips ahead of the memo's 0 entries$`,
			run: write(pickleFrame("}q\x05."))},
		{name: "LONG_BINPUT 2^32-1", stage: "message", reason: `^message is not a valid pickle: pickle: LONG_BINPUT at offset 3: memo index 4294967295 skips ahead`,
			run: write(pickleFrame("}r\xff\xff\xff\xff."))},
		{name: "line injection in a key", stage: "message", reason: `^message has an unexpected key 'k\\nConnection from 192\.0\.2\.1:1 failed\\x1b\[2J'; want exactly `,
			run: write(pickleFrame("}\x8c\x28k\nConnection from 192.0.2.1:1 failed\x1b[2JC\x00s."))},
		{name: "not a dict", stage: "message", reason: `^message holds a? ?bytes, not a dict`,
			run: write(pickleFrame("C\x01x."))},
		{name: "kem_ciphertext of ML-KEM-512", stage: "message", reason: `^kem_ciphertext is 768 bytes: the client uses ML-KEM-512, not ML-KEM-768$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				b := sealed(t, ts, c, "x")
				b.KEMCiphertext = b.KEMCiphertext[:768]
				return write(frame.Append(nil, b.Marshal()))(t, ts, c)
			}},
		{name: "short nonce", stage: "message", reason: `^nonce is 11 bytes, want 12$`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				b := sealed(t, ts, c, "x")
				b.Nonce = b.Nonce[:11]
				return write(frame.Append(nil, b.Marshal()))(t, ts, c)
			}},
		{name: "tampered ciphertext", stage: "message", reason: `^message failed to decrypt: cipher: message authentication failed`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				b := sealed(t, ts, c, "tampered")
				b.Ciphertext[0] ^= 1
				return write(frame.Append(nil, b.Marshal()))(t, ts, c)
			}},
		{name: "random kem_ciphertext (implicit rejection)", stage: "message", reason: `^message failed to decrypt`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				b := sealed(t, ts, c, "x")
				b.KEMCiphertext = randomBytes(len(b.KEMCiphertext))
				return write(frame.Append(nil, b.Marshal()))(t, ts, c)
			}},
		{name: "aad changed", stage: "message", reason: `^message failed to decrypt`,
			run: func(t *testing.T, ts *testServer, c net.Conn) []string {
				b := sealed(t, ts, c, "x")
				b.AAD = []byte("other")
				return write(frame.Append(nil, b.Marshal()))(t, ts, c)
			}},
	}
	runHostile(t, ts, cases, legacyGood(ts))

	// Every byte that is not an allowed opcode, each on its own
	// connection, eight at a time.
	t.Run("every refused opcode", func(t *testing.T) {
		ts.t = t
		exchange, finish := legacyGood(ts)()
		exchange()
		var refused []byte
		for op := range 256 {
			if !pickle.Allowed(byte(op)) {
				refused = append(refused, byte(op))
			}
		}
		require.Len(t, refused, 256-15)
		peers := make([]string, len(refused))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i, op := range refused {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c, err := net.DialTimeout("tcp", ts.addr, waitLong)
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				peers[i] = c.LocalAddr().String()
				c.Write(pickleFrame(string([]byte{op}) + "."))
				c.SetReadDeadline(time.Now().Add(waitLong))
				var buf [4096]byte
				for {
					if _, err := c.Read(buf[:]); err != nil {
						break
					}
				}
			}()
		}
		wg.Wait()
		for i, op := range refused {
			reason := ts.requireFailure(peers[i], "message", `^message is not a valid pickle: pickle: opcode .* is not allowed \(offset 2\)$`)
			require.Contains(t, reason, fmt.Sprintf("0x%02x", op))
			require.Empty(t, ts.delivered(peers[i]))
		}
		exchange()
		finish()
	})

	ts.t = t
	ts.stop()
	goleak.VerifyNone(t, ign)
}

// TestIdleConnectionsKept documents a choice: a connection that has
// finished its key exchange may sit idle for as long as it likes, in both
// protocols, when IdleTimeout is not set (a person types the lines; the
// original demo waits forever too). Only a frame that has begun must arrive
// whole within the frame timeout, and a legacy client's first message
// within the handshake timeout (TestLegacySilentDropped). Idle connections
// are bounded by MaxConns, and closed at shutdown after the grace period.
func TestIdleConnectionsKept(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	for _, proto := range []string{server.ProtoSession, server.ProtoLegacy} {
		t.Run(proto, func(t *testing.T) {
			ts := startServer(t, server.Config{Proto: proto, MaxConns: 2, HandshakeTimeout: hsTimeout})
			c := ts.dial()
			peer := c.LocalAddr().String()
			var sendMsg func(string)
			if proto == server.ProtoSession {
				rs := established(t, ts, c)
				sendMsg = func(m string) { send(t, c, rs.data(m)) }
			} else {
				sc := legacyConnect(t, c, ts.scheme())
				sendMsg = func(m string) { require.NoError(t, sc.Send([]byte(m))) }
				sendMsg("first")
				eventually(t, waitLong, "the first message", func() bool { return len(ts.delivered(peer)) == 1 })
			}
			time.Sleep(3 * hsTimeout) // idle, well past the timeouts
			sendMsg("still here")
			eventually(t, waitLong, "the message", func() bool { return slices.Contains(ts.delivered(peer), "still here") })
			require.NotContains(t, ts.out.String(), "Connection from "+peer+" ")

			// Idle connections count against MaxConns: with two idle, a
			// third is refused.
			c2 := ts.dial()
			if proto == server.ProtoSession {
				established(t, ts, c2)
			} else {
				legacyConnect(t, c2, ts.scheme())
			}
			eventually(t, waitLong, "two connections", func() bool { return ts.srv.Active() == 2 })
			c3 := ts.dial()
			require.Equal(t, "", ts.lineFor(c3.LocalAddr().String(), "refused: too many connections (limit 2)"))
			requireClosedByServer(t, c3)

			// Shutdown closes them after the grace period.
			start := time.Now()
			ts.stop()
			require.GreaterOrEqual(t, time.Since(start), ts.cfg.Grace)
			require.Contains(t, ts.out.String(), "Closed 2 connections still open after the 200ms grace period.")
			requireClosedByServer(t, c)
			requireClosedByServer(t, c2)
		})
	}
	goleak.VerifyNone(t, ign)
}

// TestReplayAcrossConnections shows the difference between the protocols
// that the README states: a session record replayed into another
// connection does not open there (each connection has its own keys), but a
// legacy message replayed into another connection is delivered again, since
// the legacy protocol has no replay protection (every message is a fresh
// encapsulation to the same static key).
func TestReplayAcrossConnections(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	t.Run("session", func(t *testing.T) {
		ts := startServer(t, server.Config{})
		a, b := ts.dial(), ts.dial()
		ra, rb := established(t, ts, a), established(t, ts, b)
		captured := ra.data("pay 100 to Mallory") // a's record 1
		send(t, a, captured)
		send(t, b, rb.data("own"), captured) // b's record 2 is a's record 1
		ts.requireFailure(b.LocalAddr().String(), "session", `^from the client: record 2: record failed to authenticate$`)
		require.Equal(t, []string{"pay 100 to Mallory"}, ts.delivered(a.LocalAddr().String()))
		require.Equal(t, []string{"own"}, ts.delivered(b.LocalAddr().String()))

		// At the same place in the other connection, it fails too.
		c, d := ts.dial(), ts.dial()
		rc := established(t, ts, c)
		established(t, ts, d)
		captured = rc.data("pay 100 to Mallory") // c's record 1
		send(t, d, captured)                     // as d's record 1
		ts.requireFailure(d.LocalAddr().String(), "session", `^from the client: record 1: record failed to authenticate$`)
		require.Empty(t, ts.delivered(d.LocalAddr().String()))
		ts.stop()
	})
	t.Run("session, the client's FINISHED", func(t *testing.T) {
		// A's FINISHED replayed as b's: b's handshake fails.
		ts := startServer(t, server.Config{})
		a, b := ts.dial(), ts.dial()
		ra := rawHandshake(t, a, ts.scheme(), handshakeOpts{noFinished: true})
		rb := rawHandshake(t, b, ts.scheme(), handshakeOpts{noFinished: true})
		require.NoError(t, ra.finOpen)
		require.NoError(t, rb.finOpen)
		send(t, b, ra.record(wire.RecordFinished, ""))
		ts.requireFailure(b.LocalAddr().String(), "handshake", `^FINISHED: from the client: record 0: record failed to authenticate$`)
		ts.stop()
	})
	t.Run("legacy", func(t *testing.T) {
		ts := startServer(t, server.Config{Proto: server.ProtoLegacy})
		ek, err := ts.scheme().NewEncapsulationKey(ts.serverKey())
		require.NoError(t, err)
		msg, err := legacy.Seal(ek, []byte("pay 100 to Mallory"), nil)
		require.NoError(t, err)
		captured := frame.Append(nil, msg.Marshal())
		a, b := ts.dial(), ts.dial()
		legacyConnect(t, a, ts.scheme())
		legacyConnect(t, b, ts.scheme())
		send(t, a, captured)
		send(t, b, captured, captured)
		eventually(t, waitLong, "the message and its replays", func() bool {
			return len(ts.delivered(a.LocalAddr().String())) == 1 && len(ts.delivered(b.LocalAddr().String())) == 2
		})
		require.Equal(t, []string{"pay 100 to Mallory"}, ts.delivered(a.LocalAddr().String()))
		require.Equal(t, []string{"pay 100 to Mallory", "pay 100 to Mallory"}, ts.delivered(b.LocalAddr().String()))
		ts.stop()
	})
	goleak.VerifyNone(t, ign)
}
