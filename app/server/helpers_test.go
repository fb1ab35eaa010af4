package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/display"
	"github.com/kemtcp/kemtcp/app/internal/testutil"
	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/legacy"
	"github.com/kemtcp/kemtcp/app/server"
	"github.com/kemtcp/kemtcp/app/session"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Test timing. The handshake timeout of the tests that wait for it is short
// so that they are quick, yet long enough for an honest handshake under the
// race detector on a busy machine; the other tests use a generous one.
const (
	hsTimeout = time.Second
	// hsGenerous is the handshake timeout of the tests that never wait
	// for it.
	hsGenerous = 10 * time.Second
	// waitLong bounds every wait for something that must happen; it is
	// only reached when a test fails.
	waitLong = 20 * time.Second
)

// staticSeed is the seed of the test servers' key: fixed, so that the
// secrets of a session can be known in advance (TestSecretsNotLogged).
var staticSeed = bytes.Repeat([]byte{0x5a}, kem.SeedSize)

// testScheme returns ML-KEM-768 on the default backend (liboqs when it is
// compiled in).
func testScheme(t testing.TB) kem.Scheme {
	t.Helper()
	s, err := kem.Lookup(kem.MLKEM768, "")
	require.NoError(t, err)
	return s
}

// staticKey is the test servers' key of s, from staticSeed.
func staticKey(t testing.TB, s kem.Scheme) kem.DecapsulationKey {
	t.Helper()
	dk, err := s.NewDecapsulationKey(staticSeed)
	require.NoError(t, err)
	return dk
}

// syncBuffer is a buffer safe for concurrent use.
type syncBuffer = testutil.SyncBuffer

// eventually polls cond until it holds, and fails the test if it does not
// within timeout.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, timeout, what, cond)
}

// testServer is a server.Server in this process, served on one or more
// listeners on 127.0.0.x.
type testServer struct {
	t    testing.TB
	srv  *server.Server
	cfg  server.Config
	chat *server.Chat // the handler, when it is the chat
	addr string       // the first listener's address
	out  *syncBuffer  // the log lines and the chat's output
	// lines is what the log and the chat print through, so that their
	// lines never interleave.
	lines *display.Lines

	mu     sync.Mutex
	msgs   map[string][]string // delivered messages by peer, unless the test set OnMessage
	serves []*serving
}

// serving is one call of Serve.
type serving struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// newServer makes a server of cfg, completed with test defaults: session,
// ML-KEM-768 with the fixed static key, the chat with echo, a generous
// handshake timeout (tests that wait for it set hsTimeout), a short grace
// period, the text log. It serves nothing until listen.
func newServer(t testing.TB, cfg server.Config) *testServer {
	t.Helper()
	if cfg.Proto == "" {
		cfg.Proto = server.ProtoSession
	}
	if cfg.Session == nil {
		s := testScheme(t)
		cfg.Session = &session.ServerConfig{Scheme: s, Static: staticKey(t, s)}
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = hsGenerous
	}
	if cfg.Grace == 0 {
		cfg.Grace = 200 * time.Millisecond
	}
	ts := &testServer{t: t, out: &syncBuffer{}, msgs: make(map[string][]string)}
	ts.lines = display.NewLines(ts.out)
	if cfg.Handler == nil {
		cfg.Handler = &server.Chat{Echo: cfg.Proto == server.ProtoSession}
	}
	chat, ok := cfg.Handler.(*server.Chat)
	if w, isWrapper := cfg.Handler.(interface{ chatHandler() *server.Chat }); isWrapper {
		chat, ok = w.chatHandler(), true
	}
	if ok {
		ts.chat = chat
		if chat.Out == nil {
			chat.Out = ts.lines
		}
		if chat.OnMessage == nil { // else the test keeps its own tally
			chat.OnMessage = func(peer string, msg []byte) {
				ts.mu.Lock()
				ts.msgs[peer] = append(ts.msgs[peer], string(msg))
				ts.mu.Unlock()
			}
		}
	}
	if cfg.Log == nil {
		cfg.Log = server.NewTextLogger(ts.lines)
	}
	srv, err := server.New(cfg)
	require.NoError(t, err)
	ts.srv, ts.cfg = srv, cfg
	t.Cleanup(func() { ts.stop() })
	return ts
}

// startServer is newServer serving on 127.0.0.1.
func startServer(t testing.TB, cfg server.Config) *testServer {
	t.Helper()
	ts := newServer(t, cfg)
	ts.addr = ts.listen("127.0.0.1:0").addr
	return ts
}

// listen serves the server on a new listener at addr until stopped.
func (ts *testServer) listen(addr string) *serving {
	ts.t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(ts.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	sv := &serving{addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { sv.done <- ts.srv.Serve(ctx, ln) }()
	ts.mu.Lock()
	ts.serves = append(ts.serves, sv)
	ts.mu.Unlock()
	return sv
}

// stop cancels every Serve and waits for them to return; it may be called
// more than once.
func (ts *testServer) stop() {
	ts.t.Helper()
	ts.mu.Lock()
	serves := slices.Clone(ts.serves)
	ts.mu.Unlock()
	for _, sv := range serves {
		ts.stopServing(sv)
	}
}

// stopServing cancels one Serve and waits for it to return.
func (ts *testServer) stopServing(sv *serving) {
	ts.t.Helper()
	sv.cancel()
	select {
	case err := <-sv.done:
		sv.done <- err
		require.NoError(ts.t, err)
	case <-time.After(waitLong):
		ts.t.Fatalf("Serve did not return; output:\n%s", ts.out)
	}
}

func (ts *testServer) scheme() kem.Scheme        { return ts.cfg.Session.Scheme }
func (ts *testServer) key() kem.DecapsulationKey { return ts.cfg.Session.Static }
func (ts *testServer) echo() bool                { return ts.chat != nil && ts.chat.Echo }
func (ts *testServer) serverKey() []byte         { return ts.key().EncapsulationKey().Bytes() }
func (ts *testServer) clientConfig() *session.ClientConfig {
	return &session.ClientConfig{Scheme: ts.scheme(), VerifyServerKey: pinKey(ts.serverKey())}
}

// pinKey is a VerifyServerKey that accepts only want.
func pinKey(want []byte) func([]byte) error {
	return func(ek []byte) error {
		if !bytes.Equal(ek, want) {
			return errors.New("not the test server's key")
		}
		return nil
	}
}

// delivered returns the messages the server delivered from peer.
func (ts *testServer) delivered(peer string) []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.msgs[peer]...)
}

// peerPrefix matches the "[peer] " that the text log puts before the lines
// about a connection while several are open.
var peerPrefix = regexp.MustCompile(`^\[[^\]]+\] $`)

// cutLine returns the rest of line after head, if line is head's line:
// head at its start, or after the "[peer] " prefix.
func cutLine(line, head string) (string, bool) {
	i := strings.Index(line, head)
	if i < 0 || i > 0 && !peerPrefix.MatchString(line[:i]) {
		return "", false
	}
	return line[i+len(head):], true
}

// linesFor returns the server's lines that start with head (after an
// optional "[peer] ").
func linesFor(out, head string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if _, ok := cutLine(l, head); ok {
			got = append(got, l)
		}
	}
	return got
}

// waitLine waits for the server's line that starts with head and returns
// the rest of it.
func (ts *testServer) waitLine(head string) string {
	ts.t.Helper()
	var rest string
	eventually(ts.t, waitLong, fmt.Sprintf("the line %q", head), func() bool {
		for _, l := range strings.Split(ts.out.String(), "\n") {
			if r, ok := cutLine(l, head); ok {
				rest = r
				return true
			}
		}
		return false
	})
	return rest
}

// lineFor waits for the server's line about peer that starts with prefix
// (after "Connection from PEER ") and returns the rest of it.
func (ts *testServer) lineFor(peer, prefix string) string {
	ts.t.Helper()
	return ts.waitLine("Connection from " + peer + " " + prefix)
}

// requireFailure waits for the one line of peer's failed connection and
// checks its stage and that its reason matches the regular expression
// reason. It returns the reason.
func (ts *testServer) requireFailure(peer, stage, reason string) string {
	ts.t.Helper()
	got := ts.lineFor(peer, "failed during "+stage+": ")
	require.Regexp(ts.t, regexp.MustCompile(reason), got, "failure line of %s", peer)
	require.Equal(ts.t, 1, strings.Count(ts.out.String(), "Connection from "+peer+" "), "one line per failed connection")
	return got
}

// requireClosedByServer reads c until the server closes it (EOF or reset).
func requireClosedByServer(t testing.TB, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLong))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server did not close the connection: %v", err)
	}
}

// dial opens a raw TCP connection to the server.
func (ts *testServer) dial() net.Conn {
	ts.t.Helper()
	return dialTCP(ts.t, ts.addr, "")
}

// dialTCP opens a raw TCP connection to addr from local IP from ("" for
// any), closed at the end of the test.
func dialTCP(t testing.TB, addr, from string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: waitLong}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// goodClient is an honest session client, served while a hostile one is.
type goodClient struct {
	t    testing.TB
	ts   *testServer
	c    net.Conn
	sc   *session.Conn
	peer string
	sent []string
}

// dialGood connects an honest session client and completes its handshake,
// pinning the server's static key.
func (ts *testServer) dialGood() *goodClient {
	ts.t.Helper()
	c := ts.dial()
	c.SetDeadline(time.Now().Add(waitLong))
	sc := session.Client(c, ts.clientConfig())
	require.NoError(ts.t, sc.Handshake())
	return &goodClient{t: ts.t, ts: ts, c: c, sc: sc, peer: c.LocalAddr().String()}
}

// exchange sends n messages and, with Echo, reads each echo back.
func (g *goodClient) exchange(n int) {
	g.t.Helper()
	for range n {
		msg := fmt.Sprintf("good %s #%d", g.peer, len(g.sent))
		require.NoError(g.t, g.sc.WriteMessage([]byte(msg)))
		g.sent = append(g.sent, msg)
		if g.ts.echo() {
			echo, err := g.sc.ReadMessage()
			require.NoError(g.t, err)
			require.Equal(g.t, msg, string(echo))
		}
	}
}

// finish sends CLOSE, waits for the server's, and checks that the server
// delivered every message once, in order.
func (g *goodClient) finish() {
	g.t.Helper()
	require.NoError(g.t, g.sc.CloseWrite())
	_, err := g.sc.ReadMessage()
	require.Equal(g.t, io.EOF, err, "the server's CLOSE")
	g.c.Close()
	require.Equal(g.t, g.sent, g.ts.delivered(g.peer), "messages the server delivered from the good client")
	require.NotContains(g.t, g.ts.out.String(), "Connection from "+g.peer+" failed")
}

// rawSession is a hostile session client's view of an established (or
// deliberately broken) handshake, built from package wire so that it can
// send anything.
type rawSession struct {
	c       net.Conn
	version byte
	sh      []byte // ServerHello payload
	ch      []byte // ClientHello payload
	ssS     []byte // the shared secrets the client derived
	ssE     []byte
	prk     []byte
	tsC2S   []byte // version 2: the traffic secrets
	tsS2C   []byte
	keyC2S  []byte // the first traffic keys
	keyS2C  []byte
	sealer  wire.Sealer
	opener  wire.Opener
	finOpen error // opening the server's FINISHED
}

// handshakeOpts changes what a hostile client's handshake sends.
type handshakeOpts struct {
	// version of the ClientHello: 2 (a current client, the default) or
	// 1 (an older one, which sends no FINISHED).
	version byte
	// m are the encapsulation randomness for ct_s and ct_e (random when
	// nil), so that the secrets are known in advance.
	mS, mE []byte
	// randomCtS, randomCtE replace a ciphertext with random bytes of the
	// right size after the client derived its secrets (implicit
	// rejection: the server derives other keys).
	randomCtS, randomCtE bool
	// noFinished: a version-2 client that does not send its FINISHED.
	noFinished bool
}

// readFrame reads one frame of at most 1 MiB.
func readFrame(c net.Conn) ([]byte, error) {
	p, err := frame.NewReader(c, 0).Next()
	return bytes.Clone(p), err
}

// readServerHello reads and parses the server's first frame.
func readServerHello(t testing.TB, c net.Conn) ([]byte, *wire.ServerHello) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLong))
	p, err := readFrame(c)
	require.NoError(t, err)
	sh, err := wire.ParseServerHello(p)
	require.NoError(t, err)
	return p, sh
}

// expand is wire.Expand that must succeed.
func expand(t testing.TB, secret []byte, label string) []byte {
	t.Helper()
	b, err := wire.Expand(secret, label, wire.SecretSize)
	require.NoError(t, err)
	return b
}

// rawHandshake runs a client handshake by hand on c: ServerHello,
// ClientHello, the server's FINISHED and (version 2) the client's.
func rawHandshake(t testing.TB, c net.Conn, s kem.Scheme, o handshakeOpts) *rawSession {
	t.Helper()
	if o.version == 0 {
		o.version = wire.Version2
	}
	rs := &rawSession{c: c, version: o.version}
	var sh *wire.ServerHello
	rs.sh, sh = readServerHello(t, c)
	ekS, err := s.NewEncapsulationKey(sh.StaticKey)
	require.NoError(t, err)
	ekE, err := s.NewEncapsulationKey(sh.EphemeralKey)
	require.NoError(t, err)
	encaps := func(ek kem.EncapsulationKey, m []byte) (ss, ct []byte) {
		var err error
		if m != nil {
			ss, ct, err = ek.EncapsulateDerand(m)
		} else {
			ss, ct, err = ek.Encapsulate()
		}
		require.NoError(t, err)
		return ss, ct
	}
	var ctS, ctE []byte
	rs.ssS, ctS = encaps(ekS, o.mS)
	rs.ssE, ctE = encaps(ekE, o.mE)
	if o.randomCtS {
		ctS = randomBytes(len(ctS))
	}
	if o.randomCtE {
		ctE = randomBytes(len(ctE))
	}
	ch := &wire.ClientHello{Version: o.version, KEMID: s.Params().ID, StaticCiphertext: ctS, EphemeralCiphertext: ctE}
	rs.ch, err = ch.Append(nil)
	require.NoError(t, err)
	th := wire.TranscriptHash(rs.sh, rs.ch)
	rs.prk, err = wire.Extract(th[:], rs.ssE, rs.ssS)
	require.NoError(t, err)
	if o.version == wire.Version1 {
		rs.keyC2S = expand(t, rs.prk, wire.LabelV1ClientToServer)
		rs.keyS2C = expand(t, rs.prk, wire.LabelV1ServerToClient)
	} else {
		rs.tsC2S = expand(t, rs.prk, wire.LabelClientToServer)
		rs.tsS2C = expand(t, rs.prk, wire.LabelServerToClient)
		rs.keyC2S = expand(t, rs.tsC2S, wire.LabelKey)
		rs.keyS2C = expand(t, rs.tsS2C, wire.LabelKey)
	}
	require.NoError(t, rs.sealer.SetKey(rs.keyC2S))
	require.NoError(t, rs.opener.SetKey(rs.keyS2C))
	_, err = c.Write(frame.Append(nil, rs.ch))
	require.NoError(t, err)
	fin, err := readFrame(c)
	require.NoError(t, err, "the server's FINISHED")
	typ, body, err := rs.opener.Open(fin)
	if err == nil && (typ != wire.RecordFinished || len(body) != 0) {
		err = fmt.Errorf("first record is type %d with %d bytes", typ, len(body))
	}
	rs.finOpen = err
	if err == nil && o.version == wire.Version2 && !o.noFinished {
		send(t, c, rs.record(wire.RecordFinished, ""))
	}
	return rs
}

// record seals one record and returns it as a frame.
func (rs *rawSession) record(typ byte, body string) []byte {
	return frame.Append(nil, rs.sealer.Seal(nil, typ, []byte(body)))
}

func (rs *rawSession) data(body string) []byte { return rs.record(wire.RecordData, body) }

// keyUpdate returns a KEY_UPDATE record (version 2) and moves the sealer
// to the next key, as PROTOCOL.md's "Key update" says.
func (rs *rawSession) keyUpdate(t testing.TB) []byte {
	t.Helper()
	rec := rs.record(wire.RecordKeyUpdate, "")
	rs.tsC2S = expand(t, rs.tsC2S, wire.LabelKeyUpdate)
	require.NoError(t, rs.sealer.SetKey(expand(t, rs.tsC2S, wire.LabelKey)))
	return rec
}

// readRecord reads and opens the server's next record.
func (rs *rawSession) readRecord() (byte, []byte, error) {
	p, err := readFrame(rs.c)
	if err != nil {
		return 0, nil, err
	}
	return rs.opener.Open(p)
}

// send writes byte strings to c in one Write, so that a server that hangs
// up after the first bad one cannot make a later write fail.
func send(t testing.TB, c net.Conn, parts ...[]byte) {
	t.Helper()
	_, err := c.Write(slices.Concat(parts...))
	require.NoError(t, err)
}

// dribble writes b one byte every interval until it is all written or
// the server hangs up; it returns how long the server took to hang up
// (measured from the first byte), or an error if it never did.
func dribble(c net.Conn, b []byte, interval time.Duration) (time.Duration, error) {
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c) // returns when the server closes
		close(closed)
	}()
	for _, x := range b {
		if _, err := c.Write([]byte{x}); err != nil {
			break
		}
		select {
		case <-closed:
			return time.Since(start), nil
		case <-time.After(interval):
		}
	}
	select {
	case <-closed:
		return time.Since(start), nil
	case <-time.After(waitLong):
		return 0, errors.New("the server never closed the dribbling connection")
	}
}

// randomBytes returns n bytes from a fixed-for-the-run but arbitrary source.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*131 + 7 ^ i>>3)
	}
	return b
}

// legacyConnect reads the legacy server's key frame on c and returns a
// client.
func legacyConnect(t testing.TB, c net.Conn, s kem.Scheme) *legacy.ClientConn {
	t.Helper()
	c.SetDeadline(time.Now().Add(waitLong))
	sc, err := legacy.Connect(c, s, 0)
	require.NoError(t, err)
	c.SetDeadline(time.Time{})
	return sc
}

// heapInUse is the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// totalAlloc is the bytes allocated so far by the process.
func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// settle waits for the goroutine count to come back to at most base+slack
// and the heap to at most baseHeap+heapSlack.
func settle(t testing.TB, baseG, slackG int, baseHeap, heapSlack uint64) {
	t.Helper()
	var g int
	var h uint64
	deadline := time.Now().Add(waitLong)
	for {
		g, h = runtime.NumGoroutine(), heapInUse()
		if g <= baseG+slackG && h <= baseHeap+heapSlack {
			t.Logf("settled: %d goroutines (base %d), heap %d bytes (base %d)", g, baseG, h, baseHeap)
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			prof := filepath.Join(os.TempDir(), fmt.Sprintf("kemtcp-%s-heap.pprof", strings.ReplaceAll(t.Name(), "/", "_")))
			if f, err := os.Create(prof); err == nil {
				pprof.WriteHeapProfile(f)
				f.Close()
			}
			t.Fatalf("did not settle: %d goroutines (base %d), heap %d bytes (base %d); heap profile in %s\n%s", g, baseG, h, baseHeap, prof, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}
