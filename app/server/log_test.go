package server_test

// The server's two log formats: the text lines of the original demo, and
// JSON lines with the connection's attributes.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kemtcp/kemtcp/app/identity"
	"github.com/kemtcp/kemtcp/app/server"
	"github.com/kemtcp/kemtcp/app/session"
)

// TestJSONLogger: every line NewJSONLogger writes is one JSON object; the
// lines about a connection carry its conn and peer (and client_key once the
// client key is known); none carries the text format's "prefix", even
// while several clients are connected.
func TestJSONLogger(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	s := testScheme(t)
	alice, err := s.GenerateKey()
	require.NoError(t, err)
	aliceEK := alice.EncapsulationKey().Bytes()
	logOut := &syncBuffer{}
	ts := startServer(t, server.Config{
		Session: &session.ServerConfig{Scheme: s, Static: staticKey(t, s), VerifyClientKey: func(ek []byte) error {
			if string(ek) != string(aliceEK) {
				return fmt.Errorf("not alice")
			}
			return nil
		}},
		DescribeClientKey: func(ek []byte) string { return "alice@test" },
		Log:               server.NewJSONLogger(logOut),
		MaxConns:          3,
	})
	dial := func() *goodClient {
		c := ts.dial()
		cfg := ts.clientConfig()
		cfg.ClientKey = alice
		sc := session.Client(c, cfg)
		require.NoError(t, sc.Handshake())
		return &goodClient{t: t, ts: ts, c: c, sc: sc, peer: c.LocalAddr().String()}
	}
	a, b := dial(), dial() // two at once: the text format would prefix
	a.exchange(2)
	b.exchange(1)
	// A client whose key is refused, and one refused at the limit.
	stranger, err := s.GenerateKey()
	require.NoError(t, err)
	c := ts.dial()
	cfg := ts.clientConfig()
	cfg.ClientKey = stranger
	require.ErrorIs(t, session.Client(c, cfg).Handshake(), session.ErrClientKeyRefused)
	eventually(t, waitLong, "the failure line", func() bool {
		return strings.Contains(logOut.String(), "Connection from "+c.LocalAddr().String()+" failed during handshake: client key refused: ")
	})
	a.finish()
	b.finish()
	ts.stop()

	type line = map[string]any
	var lines []line
	sc := bufio.NewScanner(strings.NewReader(logOut.String()))
	for sc.Scan() {
		var l line
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), "not a JSON line: %q", sc.Text())
		require.NotContains(t, l, "prefix", "the text format's prefix in %q", sc.Text())
		require.Contains(t, l, "msg")
		require.Contains(t, l, "level")
		require.Contains(t, l, "time")
		lines = append(lines, l)
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, lines)
	about := func(peer string) []line {
		var got []line
		for _, l := range lines {
			if l["peer"] == peer {
				got = append(got, l)
			}
		}
		return got
	}
	for _, g := range []*goodClient{a, b} {
		ls := about(g.peer)
		require.NotEmpty(t, ls, "no line about %s", g.peer)
		conn := ls[0]["conn"]
		require.NotNil(t, conn)
		withKey := 0
		for _, l := range ls {
			require.Equal(t, conn, l["conn"], "one conn id per connection")
			if l["client_key"] != nil {
				require.Equal(t, "alice@test", l["client_key"])
				withKey++
			}
		}
		require.Positive(t, withKey, "no line about %s names its client key: %v", g.peer, ls)
		found := false
		for _, l := range ls {
			found = found || strings.HasPrefix(l["msg"].(string), "Handshake complete") && l["client_key"] == "alice@test"
		}
		require.True(t, found, "the handshake line names the client key: %v", ls)
	}
	// The refused key's failure line: conn and peer, and the error as an
	// attribute; it names the key by its fingerprint in the message only.
	ls := about(c.LocalAddr().String())
	var failed line
	for _, l := range ls {
		if strings.Contains(l["msg"].(string), "failed during handshake") {
			failed = l
		}
	}
	require.NotNil(t, failed, "%v", ls)
	require.Equal(t, "handshake", failed["stage"])
	require.Contains(t, failed["error"], identity.Fingerprint(stranger.EncapsulationKey().Bytes()))
	require.Equal(t, "WARN", failed["level"])
	goleak.VerifyNone(t, ign)
}

// TestTextLogger: the text format prints the message alone, after "[peer] "
// while several clients are connected, as the original demo does.
func TestTextLogger(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	ts := startServer(t, server.Config{})
	a := ts.dialGood()
	a.exchange(1)
	b := ts.dialGood()
	b.exchange(1)
	out := ts.out.String()
	require.Contains(t, out, "Decrypted from client: good "+a.peer+" #0\n")
	require.NotContains(t, out, "] Decrypted from client: good "+a.peer+" #0\n", "alone, no prefix")
	require.Contains(t, out, "["+b.peer+"] Decrypted from client: good "+b.peer+" #0\n")
	require.NotContains(t, out, "conn=", "attributes are not printed")
	a.finish()
	b.finish()
	ts.stop()
	goleak.VerifyNone(t, ign)
}

// TestFailureLineNamesPeerOnce: the one line of a failed connection starts
// with "Connection from PEER", as it always has (scripts grep for it), even
// while other clients are connected: the peer is not named twice by the
// "[peer] " prefix of the other lines.
func TestFailureLineNamesPeerOnce(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	ts := startServer(t, server.Config{})
	g := ts.dialGood()
	g.exchange(1)
	c := ts.dial()
	c.(interface{ CloseWrite() error }).CloseWrite()
	ts.requireFailure(c.LocalAddr().String(), "handshake", "truncated")
	g.finish()
	ts.stop()
	for _, l := range strings.Split(ts.out.String(), "\n") {
		if strings.Contains(l, "Connection from ") {
			require.True(t, strings.HasPrefix(l, "Connection from "), "the line %q names its peer twice", l)
		}
	}
	goleak.VerifyNone(t, ign)
}
