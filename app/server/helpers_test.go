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

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/testutil"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/legacy"
	"github.com/kemtcp/kemtcp/app/server"
	"github.com/kemtcp/kemtcp/app/session"
)

// Test timing. The handshake timeout is short so that the tests that wait
// for it are quick, yet long enough for an honest handshake under the race
// detector on a busy machine.
const (
	hsTimeout = 500 * time.Millisecond
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

// syncBuffer is a buffer safe for concurrent use.
type syncBuffer = testutil.SyncBuffer

// eventually polls cond until it holds, and fails the test if it does not
// within timeout.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, timeout, what, cond)
}

// testServer is a server.Server on 127.0.0.1:0, in this process.
type testServer struct {
	t      testing.TB
	srv    *server.Server
	cfg    server.Config
	addr   string
	out    *syncBuffer
	cancel context.CancelFunc
	done   chan error

	mu   sync.Mutex
	msgs map[string][]string // delivered messages by peer, unless the test set OnMessage
}

// startServer serves cfg, completed with test defaults: session, ML-KEM-768
// with the fixed static key, echo, the short handshake timeout, a short
// grace period. The server is stopped at the end of the test.
func startServer(t testing.TB, cfg server.Config) *testServer {
	t.Helper()
	if cfg.Proto == "" {
		cfg.Proto = server.ProtoSession
		cfg.Echo = true
	}
	if cfg.Scheme == nil {
		cfg.Scheme = testScheme(t)
	}
	if cfg.Key == nil {
		dk, err := cfg.Scheme.NewDecapsulationKey(staticSeed)
		require.NoError(t, err)
		cfg.Key = dk
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = hsTimeout
	}
	if cfg.Grace == 0 {
		cfg.Grace = 200 * time.Millisecond
	}
	ts := &testServer{t: t, out: &syncBuffer{}, done: make(chan error, 1), msgs: make(map[string][]string)}
	if cfg.Out == nil {
		cfg.Out = ts.out
	}
	if cfg.OnMessage == nil { // else the test keeps its own tally
		cfg.OnMessage = func(peer string, msg []byte) {
			ts.mu.Lock()
			ts.msgs[peer] = append(ts.msgs[peer], string(msg))
			ts.mu.Unlock()
		}
	}
	srv, err := server.New(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ts.srv, ts.cfg, ts.addr, ts.cancel = srv, cfg, ln.Addr().String(), cancel
	go func() { ts.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { ts.stop() })
	return ts
}

// stop cancels the server and waits for Serve to return; it may be called
// more than once.
func (ts *testServer) stop() {
	ts.t.Helper()
	ts.cancel()
	select {
	case err := <-ts.done:
		ts.done <- err
		require.NoError(ts.t, err)
	case <-time.After(waitLong):
		ts.t.Fatalf("Serve did not return; output:\n%s", ts.out)
	}
}

// delivered returns the messages the server delivered from peer.
func (ts *testServer) delivered(peer string) []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.msgs[peer]...)
}

// lineFor waits for the server's line about peer that starts with prefix
// (after "Connection from PEER ") and returns the rest of it.
func (ts *testServer) lineFor(peer, prefix string) string {
	ts.t.Helper()
	head := "Connection from " + peer + " " + prefix
	var rest string
	eventually(ts.t, waitLong, fmt.Sprintf("the line %q", head), func() bool {
		for _, l := range strings.Split(ts.out.String(), "\n") {
			if r, ok := strings.CutPrefix(l, head); ok {
				rest = r
				return true
			}
		}
		return false
	})
	return rest
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
	c, err := net.DialTimeout("tcp", ts.addr, waitLong)
	require.NoError(ts.t, err)
	ts.t.Cleanup(func() { c.Close() })
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
// checking the server's static key.
func (ts *testServer) dialGood() *goodClient {
	ts.t.Helper()
	c := ts.dial()
	c.SetDeadline(time.Now().Add(waitLong))
	want := ts.cfg.Key.EncapsulationKey().Bytes()
	sc, err := session.Client(c, &session.ClientConfig{
		Scheme: ts.cfg.Scheme,
		VerifyServerKey: func(ek []byte) error {
			if !bytes.Equal(ek, want) {
				return errors.New("not the test server's key")
			}
			return nil
		},
	})
	require.NoError(ts.t, err)
	return &goodClient{t: ts.t, ts: ts, c: c, sc: sc, peer: c.LocalAddr().String()}
}

// exchange sends n messages and, with Echo, reads each echo back.
func (g *goodClient) exchange(n int) {
	g.t.Helper()
	for range n {
		msg := fmt.Sprintf("good %s #%d", g.peer, len(g.sent))
		require.NoError(g.t, g.sc.Send([]byte(msg)))
		g.sent = append(g.sent, msg)
		if g.ts.cfg.Echo {
			echo, err := g.sc.Recv()
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
	_, err := g.sc.Recv()
	require.Equal(g.t, io.EOF, err, "the server's CLOSE")
	g.c.Close()
	require.Equal(g.t, g.sent, g.ts.delivered(g.peer), "messages the server delivered from the good client")
	require.NotContains(g.t, g.ts.out.String(), "Connection from "+g.peer+" failed")
}

// rawSession is a hostile session client's view of an established (or
// deliberately broken) handshake, built from the exported pieces of package
// session so that it can send anything.
type rawSession struct {
	c       net.Conn
	sh      []byte // ServerHello payload
	ch      []byte // ClientHello payload
	ssS     []byte // the shared secrets the client derived
	ssE     []byte
	prk     []byte
	keyC2S  []byte
	keyS2C  []byte
	sealer  *session.RecordSealer
	opener  *session.RecordOpener
	finOpen error // opening the server's FINISHED
}

// handshakeOpts changes what a hostile client's handshake sends.
type handshakeOpts struct {
	// m are the encapsulation randomness for ct_s and ct_e (random when
	// nil), so that the secrets are known in advance.
	mS, mE []byte
	// randomCtS, randomCtE replace a ciphertext with random bytes of the
	// right size after the client derived its secrets (implicit
	// rejection: the server derives other keys).
	randomCtS, randomCtE bool
}

// readFrame reads one frame of at most 1 MiB.
func readFrame(c net.Conn) ([]byte, error) {
	p, err := frame.NewReader(c, 0).Next()
	return bytes.Clone(p), err
}

// readServerHello reads and parses the server's first frame.
func readServerHello(t testing.TB, c net.Conn) ([]byte, *session.ServerHello) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLong))
	p, err := readFrame(c)
	require.NoError(t, err)
	sh, err := session.ParseServerHello(p)
	require.NoError(t, err)
	return p, sh
}

// rawHandshake runs a client handshake by hand on c.
func rawHandshake(t testing.TB, c net.Conn, s kem.Scheme, o handshakeOpts) *rawSession {
	t.Helper()
	rs := &rawSession{c: c}
	var sh *session.ServerHello
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
	p := s.Params()
	ch := &session.ClientHello{KEMID: p.ID, StaticCiphertext: ctS, EphemeralCiphertext: ctE}
	rs.ch, err = ch.Marshal()
	require.NoError(t, err)
	th := session.TranscriptHash(rs.sh, rs.ch)
	rs.prk, err = session.ExtractPRK(th[:], rs.ssE, rs.ssS)
	require.NoError(t, err)
	rs.keyC2S, rs.keyS2C, err = session.ExpandKeys(rs.prk)
	require.NoError(t, err)
	rs.sealer, err = session.NewRecordSealer(rs.keyC2S)
	require.NoError(t, err)
	rs.opener, err = session.NewRecordOpener(rs.keyS2C)
	require.NoError(t, err)
	_, err = c.Write(frame.Append(nil, rs.ch))
	require.NoError(t, err)
	fin, err := readFrame(c)
	require.NoError(t, err, "the server's FINISHED")
	typ, body, err := rs.opener.Open(fin)
	if err == nil && (typ != session.RecordFinished || len(body) != 0) {
		err = fmt.Errorf("first record is type %d with %d bytes", typ, len(body))
	}
	rs.finOpen = err
	return rs
}

// record seals one record and returns it as a frame.
func (rs *rawSession) record(typ byte, body string) []byte {
	return frame.Append(nil, rs.sealer.Seal(nil, typ, []byte(body)))
}

func (rs *rawSession) data(body string) []byte { return rs.record(session.RecordData, body) }

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

// legacyKey reads the legacy server's key frame on c and returns a client.
func seedConnect(t testing.TB, c net.Conn, s kem.Scheme) *legacy.ClientConn {
	t.Helper()
	c.SetDeadline(time.Now().Add(waitLong))
	sc, err := legacy.Connect(c, s, 0)
	require.NoError(t, err)
	c.SetDeadline(time.Time{})
	return sc
}

// memSnapshot is the heap in use after a collection.
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
