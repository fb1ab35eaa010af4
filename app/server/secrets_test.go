package server_test

// Secrets: the server wipes the shared secrets it decapsulates and destroys
// each connection's ephemeral decapsulation key as soon as it is done with
// it, on every path; and nothing secret ever reaches its output.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/legacy"
	"github.com/kemtcp/kemtcp/app/server"
	"github.com/kemtcp/kemtcp/app/session"
)

// spy records what the server does with the secrets of its keys.
type spy struct {
	mu        sync.Mutex
	secrets   [][]byte  // every shared secret Decapsulate returned (the slices themselves)
	ephemeral []*spyKey // every key GenerateKey made
}

// spyScheme makes spyKeys.
type spyScheme struct {
	kem.Scheme
	spy *spy
}

func (s *spyScheme) GenerateKey() (kem.DecapsulationKey, error) {
	dk, err := s.Scheme.GenerateKey()
	if err != nil {
		return nil, err
	}
	k := &spyKey{DecapsulationKey: dk, spy: s.spy}
	s.spy.mu.Lock()
	s.spy.ephemeral = append(s.spy.ephemeral, k)
	s.spy.mu.Unlock()
	return k, nil
}

// spyKey records the shared secrets it returns and whether it was
// destroyed.
type spyKey struct {
	kem.DecapsulationKey
	spy       *spy
	destroyed bool
}

func (k *spyKey) Decapsulate(ct []byte) ([]byte, error) {
	ss, err := k.DecapsulationKey.Decapsulate(ct)
	if err == nil {
		k.spy.mu.Lock()
		k.spy.secrets = append(k.spy.secrets, ss)
		k.spy.mu.Unlock()
	}
	return ss, err
}

func (k *spyKey) Destroy() {
	k.spy.mu.Lock()
	k.destroyed = true
	k.spy.mu.Unlock()
	k.DecapsulationKey.Destroy()
}

// state returns how many secrets were returned and how many of them are
// still not all zeros, and how many ephemeral keys were made and destroyed.
func (s *spy) state() (secrets, live, keys, destroyed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.secrets {
		if !bytes.Equal(ss, make([]byte, len(ss))) {
			live++
		}
	}
	for _, k := range s.ephemeral {
		if k.destroyed {
			destroyed++
		}
	}
	return len(s.secrets), live, len(s.ephemeral), destroyed
}

// TestSecretsWiped: every shared secret the server decapsulates is zero by
// the time the connection goes on, and every ephemeral key is destroyed,
// whether the handshake succeeds, fails before decapsulation or after it.
func TestSecretsWiped(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	sp := &spy{}
	scheme := &spyScheme{Scheme: testScheme(t), spy: sp}
	static, err := scheme.Scheme.NewDecapsulationKey(staticSeed)
	require.NoError(t, err)

	t.Run("session", func(t *testing.T) {
		ts := startServer(t, server.Config{Session: &session.ServerConfig{Scheme: scheme, Static: &spyKey{DecapsulationKey: static, spy: sp}}})
		check := func(what string, wantSecrets, wantKeys int) {
			t.Helper()
			eventually(t, waitLong, what, func() bool {
				secrets, live, keys, destroyed := sp.state()
				return secrets == wantSecrets && live == 0 && keys == wantKeys && destroyed == keys
			})
		}
		// An honest session: ss_s and ss_e wiped, dk_e destroyed.
		g := ts.dialGood()
		check("an honest handshake", 2, 1)
		g.exchange(2)
		g.finish()

		// A ClientHello that does not parse: dk_e destroyed unused.
		c := ts.dial()
		send(t, c, frame.Append(nil, clientHello("KEMTCQ", 1, 0x0201, 2185)))
		ts.requireFailure(c.LocalAddr().String(), "handshake", "bad magic")
		check("a refused ClientHello", 2, 2)

		// A client that hangs up before its ClientHello.
		c = ts.dial()
		readServerHello(t, c)
		c.Close()
		ts.requireFailure(c.LocalAddr().String(), "handshake", "truncated")
		check("a client gone before its ClientHello", 2, 3)

		// Implicit rejection: both secrets wiped, though the keys differ.
		c = ts.dial()
		rs := rawHandshake(t, c, ts.scheme(), handshakeOpts{randomCtE: true})
		send(t, c, rs.record(wire.RecordFinished, ""))
		ts.requireFailure(c.LocalAddr().String(), "handshake", "FINISHED: .*failed to authenticate")
		check("an implicit rejection", 4, 4)
		ts.stop()
	})

	t.Run("legacy", func(t *testing.T) {
		ts := startServer(t, server.Config{Proto: server.ProtoLegacy, Session: &session.ServerConfig{Scheme: scheme, Static: &spyKey{DecapsulationKey: static, spy: sp}}})
		before, _, keys, _ := sp.state()
		c := ts.dial()
		sc := legacyConnect(t, c, ts.scheme())
		require.NoError(t, sc.Send([]byte("one")))
		require.NoError(t, sc.Send([]byte("two")))
		eventually(t, waitLong, "two messages", func() bool { return len(ts.delivered(c.LocalAddr().String())) == 2 })
		// A message that decapsulates but does not decrypt.
		ek, err := ts.scheme().NewEncapsulationKey(ts.serverKey())
		require.NoError(t, err)
		b, err := legacy.Seal(ek, []byte("tampered"), nil)
		require.NoError(t, err)
		b.Ciphertext[3] ^= 1
		send(t, c, frame.Append(nil, b.Marshal()))
		ts.requireFailure(c.LocalAddr().String(), "message", "failed to decrypt")
		secrets, live, keys2, _ := sp.state()
		require.Equal(t, before+3, secrets)
		require.Zero(t, live, "shared secrets left in memory")
		require.Equal(t, keys, keys2, "the legacy protocol makes no ephemeral keys")
		ts.stop()
	})
	goleak.VerifyNone(t, ign)
}

// secretSet is the secrets a test knows, by name.
type secretSet map[string][]byte

// encodings returns the ways a secret could show up in text: raw, hex (both
// cases), base64 (four alphabets), Go's %v and %x of a byte slice, for the
// whole secret and its first 12 bytes.
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
func requireNoSecrets(t *testing.T, text string, secrets secretSet) {
	t.Helper()
	require.NotEmpty(t, secrets)
	for name, s := range secrets {
		require.NotEmpty(t, s, name)
		for _, enc := range encodings(s) {
			if strings.Contains(text, enc) {
				t.Fatalf("the output holds the %s (%q)", name, enc)
			}
		}
	}
}

// TestSecretsNotLogged: with secrets known in advance (the server's key from
// a fixed seed, the client's encapsulations from fixed randomness), the
// server's output holds none of them, after successes and after failures
// of every stage, in both protocols.
func TestSecretsNotLogged(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	secrets := secretSet{"static seed": staticSeed}
	scheme := testScheme(t)
	static, err := scheme.NewDecapsulationKey(staticSeed)
	require.NoError(t, err)
	if x, ok := static.(kem.Expander); ok {
		secrets["expanded static key"] = x.ExpandedBytes()
	}
	m := func(i int) []byte { return bytes.Repeat([]byte{byte(0xc0 + i)}, kem.EncapsSeedSize) }
	addSession := func(i int, rs *rawSession) {
		for name, b := range map[string][]byte{"ss_s": rs.ssS, "ss_e": rs.ssE, "prk": rs.prk, "key_c2s": rs.keyC2S, "key_s2c": rs.keyS2C,
			"ts_c2s": rs.tsC2S, "ts_s2c": rs.tsS2C} {
			if b != nil {
				secrets[fmt.Sprintf("%s of connection %d", name, i)] = bytes.Clone(b)
			}
		}
	}

	// The session protocol, versions 1 and 2, with the text log and the
	// JSON one.
	loggers := map[string]func(io.Writer) *slog.Logger{"text": server.NewTextLogger, "json": server.NewJSONLogger}
	conn := 0
	for _, logName := range []string{"text", "json"} {
		for _, version := range []byte{wire.Version1, wire.Version2} {
			t.Run(fmt.Sprintf("session/v%d/%s", version, logName), func(t *testing.T) {
				out := &syncBuffer{}
				ts := startServer(t, server.Config{Session: &session.ServerConfig{Scheme: scheme, Static: static}, Log: loggers[logName](out)})
				scenarios := []func(rs *rawSession, c net.Conn){
					func(rs *rawSession, c net.Conn) { // clean
						send(t, c, rs.data("hello"), rs.record(wire.RecordClose, ""))
					},
					func(rs *rawSession, c net.Conn) { // tampered
						r := rs.data("x")
						r[6] ^= 1
						send(t, c, r)
					},
					func(rs *rawSession, c net.Conn) { // unknown type
						send(t, c, rs.record(0x7f, "?"))
					},
					func(rs *rawSession, c net.Conn) { // truncated
						send(t, c, rs.data("a"))
						c.(*net.TCPConn).CloseWrite()
					},
				}
				for _, run := range scenarios {
					c := ts.dial()
					rs := rawHandshake(t, c, scheme, handshakeOpts{version: version, mS: m(2 * conn), mE: m(2*conn + 1)})
					require.NoError(t, rs.finOpen)
					addSession(conn, rs)
					conn++
					run(rs, c)
					requireClosedByServer(t, c)
				}
				ts.stop()
				text := out.String() + ts.out.String()
				require.Equal(t, 3, strings.Count(text, "failed during session"), text)
				requireNoSecrets(t, text, secrets)
			})
		}
	}

	t.Run("legacy", func(t *testing.T) {
		ts := startServer(t, server.Config{Proto: server.ProtoLegacy, Session: &session.ServerConfig{Scheme: scheme, Static: static}})
		ek, err := scheme.NewEncapsulationKey(static.EncapsulationKey().Bytes())
		require.NoError(t, err)
		// message seals text with the encapsulation randomness m(i), and
		// records its secrets.
		message := func(i int, text string, tamper bool) []byte {
			ss, ct, err := ek.EncapsulateDerand(m(40 + i))
			require.NoError(t, err)
			key, err := legacy.DeriveKey(ss)
			require.NoError(t, err)
			secrets[fmt.Sprintf("seed ss %d", i)] = ss
			secrets[fmt.Sprintf("seed key %d", i)] = key
			block, err := aes.NewCipher(key)
			require.NoError(t, err)
			aead, err := cipher.NewGCM(block)
			require.NoError(t, err)
			nonce := bytes.Repeat([]byte{byte(i)}, legacy.NonceSize)
			b := &legacy.Bundle{KEMCiphertext: ct, Nonce: nonce, Ciphertext: aead.Seal(nil, nonce, []byte(text), nil)}
			if tamper {
				b.Ciphertext[0] ^= 1
			}
			return frame.Append(nil, b.Marshal())
		}
		c := ts.dial()
		legacyConnect(t, c, scheme)
		send(t, c, message(0, "fine", false), message(1, "tampered", true))
		ts.requireFailure(c.LocalAddr().String(), "message", "failed to decrypt")
		c = ts.dial()
		legacyConnect(t, c, scheme)
		bad := message(2, "wrong size", false)
		send(t, c, bad[:len(bad)-1])
		c.(*net.TCPConn).CloseWrite()
		ts.requireFailure(c.LocalAddr().String(), "message", "middle of a frame")
		ts.stop()
		out := ts.out.String()
		require.Contains(t, out, "Decrypted from client: fine")
		requireNoSecrets(t, out, secrets)
	})
	goleak.VerifyNone(t, ign)
}
