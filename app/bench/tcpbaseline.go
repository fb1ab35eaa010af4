package bench

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/session"
)

// The plain-TCP baseline of the handshake figure: a connection that sends
// the same message sizes, in the same order and the same Write calls, as a
// session handshake followed by its CLOSEs, with no cryptography. Its rate
// is what the machine's TCP stack and Go's net package allow one after
// another; session handshakes/s over it says how much the cryptography
// costs on top.

// wireStep is one Write of a connection's life: which side wrote how many
// bytes.
type wireStep struct {
	Server bool `json:"server"`
	Bytes  int  `json:"bytes"`
}

// wireScript is the Writes of one connection, in the order they happened.
type wireScript []wireStep

// String describes the script, e.g. "S 2381, C 2189, S 21, C 21, C 21, S 21".
func (s wireScript) String() string {
	parts := make([]string, len(s))
	for i, st := range s {
		who := "C"
		if st.Server {
			who = "S"
		}
		parts[i] = fmt.Sprintf("%s %d", who, st.Bytes)
	}
	return strings.Join(parts, ", ")
}

// total is the bytes both sides write.
func (s wireScript) total() int {
	n := 0
	for _, st := range s {
		n += st.Bytes
	}
	return n
}

// recorder logs the Writes of both ends of a connection. Each Write is
// logged before it is made, so the log follows causality: the peer cannot
// read bytes before their Write is logged.
type recorder struct {
	mu     sync.Mutex
	script wireScript
}

func (r *recorder) add(server bool, n int) {
	r.mu.Lock()
	r.script = append(r.script, wireStep{Server: server, Bytes: n})
	r.mu.Unlock()
}

func (r *recorder) get() wireScript {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(wireScript(nil), r.script...)
}

// recordingConn logs its Writes in a recorder.
type recordingConn struct {
	net.Conn
	r      *recorder
	server bool
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.r.add(c.server, len(p))
	return c.Conn.Write(p)
}

// CloseWrite half-closes the TCP connection.
func (c *recordingConn) CloseWrite() error {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		return tc.CloseWrite()
	}
	return nil
}

// recordHandshake makes one session connection as the handshake figure
// does (session.Dial with the server key pinned, then Close; the server
// handshakes, reads to CLOSE and closes) and returns its Writes.
func recordHandshake(scheme kem.Scheme) (wireScript, error) {
	key, err := scheme.GenerateKey()
	if err != nil {
		return nil, err
	}
	ln, err := loopback()
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	rec := new(recorder)
	srvErr := make(chan error, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		c := session.Server(&recordingConn{Conn: raw, r: rec, server: true}, &session.ServerConfig{Scheme: scheme, Static: key})
		srvErr <- serveConn(c, modeSink)
	}()
	raw, err := net.DialTimeout("tcp", ln.Addr().String(), ioTimeout)
	if err != nil {
		return nil, err
	}
	raw.SetDeadline(time.Now().Add(ioTimeout))
	c := session.Client(&recordingConn{Conn: raw, r: rec}, pinnedConfig(scheme, key.EncapsulationKey().Bytes(), 0))
	if err := c.Handshake(); err != nil {
		c.Close()
		<-srvErr
		return nil, err
	}
	if err := c.Close(); err != nil {
		<-srvErr
		return nil, err
	}
	if err := <-srvErr; err != nil {
		return nil, fmt.Errorf("recording a session handshake: server: %w", err)
	}
	s := rec.get()
	if len(s) == 0 || !s[0].Server {
		return nil, fmt.Errorf("recording a session handshake: unexpected writes %v", s)
	}
	return s, nil
}

// lastClientStep is the index of the client's last Write, or -1.
func (s wireScript) lastClientStep() int {
	for i := len(s) - 1; i >= 0; i-- {
		if !s[i].Server {
			return i
		}
	}
	return -1
}

// play runs one side of s on c with plain Writes and reads. The client,
// like a session client's Close, stops after its last Write (it does not
// wait for what the server sends after it); the server reads every client
// Write and makes all of its own, ignoring errors of those that come after
// the client's last one (the client may have closed already, as a session
// server's CLOSE may meet a closed connection).
func (s wireScript) play(c net.Conn, server bool, buf []byte) error {
	last := s.lastClientStep()
	for i, st := range s {
		if !server && i > last {
			return nil
		}
		if st.Server == server {
			_, err := c.Write(buf[:st.Bytes])
			if err != nil && !(server && i > last) {
				return err
			}
			continue
		}
		if _, err := io.ReadFull(c, buf[:st.Bytes]); err != nil {
			return fmt.Errorf("plain TCP baseline, step %d (%d bytes): %w", i, st.Bytes, err)
		}
	}
	return nil
}

// maxStep is the largest Write of s.
func (s wireScript) maxStep() int {
	n := 0
	for _, st := range s {
		n = max(n, st.Bytes)
	}
	return n
}

// scriptServer plays the server's side of a script on every connection,
// a goroutine each, as the session server would.
type scriptServer struct {
	ln       net.Listener
	wg       sync.WaitGroup
	errOnce  sync.Once
	firstErr error // set once, read after the goroutines ended
}

func (s *scriptServer) fail(err error) { s.errOnce.Do(func() { s.firstErr = err }) }

func startScriptServer(s wireScript) (*scriptServer, error) {
	ln, err := loopback()
	if err != nil {
		return nil, err
	}
	srv := &scriptServer{ln: ln}
	srv.wg.Add(1)
	go func() {
		defer srv.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			srv.wg.Add(1)
			go func() {
				defer srv.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(ioTimeout))
				buf := make([]byte, s.maxStep())
				if err := s.play(c, true, buf); err != nil {
					srv.fail(err)
				}
			}()
		}
	}()
	return srv, nil
}

func (s *scriptServer) addr() string { return s.ln.Addr().String() }

// Close stops the server and returns the first error a connection had.
func (s *scriptServer) Close() error {
	s.ln.Close()
	s.wg.Wait()
	return s.firstErr
}

// scriptClient returns one connection of the baseline: dial, play the
// client's side, close.
func scriptClient(addr string, s wireScript) func() error {
	var pool sync.Pool
	return func() error {
		bp, _ := pool.Get().(*[]byte)
		if bp == nil {
			b := make([]byte, s.maxStep())
			bp = &b
		}
		defer pool.Put(bp)
		c, err := net.DialTimeout("tcp", addr, ioTimeout)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioTimeout))
		return s.play(c, false, *bp)
	}
}
