// Package client is kemtcp's TCP client: it connects to a kem-server, runs
// the chosen protocol's key exchange, and sends every line it reads as an
// encrypted message, as the original Python demo's kem_client.py does.
//
//	dial ── key exchange (session: server key verified before anything is
//	        sent, then FINISHED) ── one message per input line ── end:
//	        "exit" or end of input (session: CLOSE, then wait for the
//	        server's CLOSE, so every line is known to have arrived)
package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/display"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/legacy"
	"github.com/kemtcp/kemtcp/app/session"
)

// Protocol names, as -proto takes them.
const (
	ProtoSession = session.ProtocolName
	ProtoLegacy  = legacy.ProtocolName
)

// Defaults.
const (
	DefaultDialTimeout      = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
)

// Lines the client prints, as the demo does.
const (
	ReadyLine   = "Received server public key. Type messages to send. Type 'exit' to quit."
	ExitingLine = "Client exiting."
	Prompt      = "> "
)

// ErrServerClosed is returned when the server ends the session while the
// client still has lines to send.
var ErrServerClosed = errors.New("the server closed the session")

// Config configures Run.
type Config struct {
	Addr   string
	Proto  string // ProtoSession or ProtoLegacy
	Scheme kem.Scheme
	// MaxFrame bounds the frames the client reads and sends (0: 1 MiB).
	MaxFrame    int
	DialTimeout time.Duration // 0: DefaultDialTimeout
	// HandshakeTimeout bounds the key exchange, and also each write of a
	// message and the closing exchange (0: DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// Verify (session only) is called with the server's static key before
	// anything is sent; it returns a line that says how the key was trusted,
	// or an error that aborts the connection.
	Verify func(ek []byte) (string, error)
	// Interactive shows the "> " prompt before each line.
	Interactive bool
	Out         io.Writer // lines for the user (nil: discarded)
	Err         io.Writer // warnings (nil: discarded)
}

// Run connects, sends every line of in, and ends the session when in ends,
// a line is "exit", or ctx is cancelled. It returns nil after a clean end.
func Run(ctx context.Context, cfg Config, in io.Reader) error {
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = frame.DefaultMaxSize
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Err == nil {
		cfg.Err = io.Discard
	}
	if cfg.Scheme == nil {
		return errors.New("client: a KEM scheme is required")
	}
	r := &run{cfg: cfg, out: display.NewLines(cfg.Out)}
	switch cfg.Proto {
	case ProtoSession:
		return r.session(ctx, in)
	case ProtoLegacy:
		return r.legacy(ctx, in)
	}
	return fmt.Errorf("unknown protocol %q (want %s or %s)", cfg.Proto, ProtoSession, ProtoLegacy)
}

type run struct {
	cfg Config
	out *display.Lines
}

func (r *run) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: r.cfg.DialTimeout}
	c, err := d.DialContext(ctx, "tcp", r.cfg.Addr)
	if err != nil {
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return nil, fmt.Errorf("connection refused by %s: is kem-server running there?", r.cfg.Addr)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("connecting to %s: interrupted", r.cfg.Addr)
		}
		return nil, fmt.Errorf("cannot connect to %s: %w", r.cfg.Addr, err)
	}
	return c, nil
}

func (r *run) session(ctx context.Context, in io.Reader) error {
	c, err := r.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	var trust string
	c.SetDeadline(time.Now().Add(r.cfg.HandshakeTimeout))
	sc, err := session.Client(c, &session.ClientConfig{
		Scheme:   r.cfg.Scheme,
		MaxFrame: r.cfg.MaxFrame,
		VerifyServerKey: func(ek []byte) (err error) {
			if r.cfg.Verify != nil {
				trust, err = r.cfg.Verify(ek)
			}
			return err
		},
	})
	if !stop() {
		return fmt.Errorf("handshake with %s: interrupted", r.cfg.Addr)
	}
	if err != nil {
		return fmt.Errorf("handshake with %s failed: %w", r.cfg.Addr, err)
	}
	c.SetDeadline(time.Time{})
	wd := newWriteDeadline(ctx, c, r.cfg.HandshakeTimeout)
	defer wd.end()
	if trust != "" {
		r.out.Printf("%s", trust)
	}
	r.out.Printf("%s", ReadyLine)

	// The server's records: DATA is printed as it comes; its CLOSE (io.EOF)
	// or an error ends the session.
	serverDone := make(chan error, 1)
	go func() {
		for {
			msg, err := sc.Recv()
			if err != nil {
				serverDone <- err
				return
			}
			r.out.Printf("Decrypted from server: %s", display.Text(msg))
		}
	}()

	done := make(chan struct{})
	defer close(done)
	lines := readLines(in, r.cfg.MaxFrame-session.RecordOverhead, done)
	var sendErr error
loop:
	for {
		if r.cfg.Interactive {
			r.out.Prompt(Prompt)
		}
		select {
		case <-ctx.Done():
			break loop
		case err := <-serverDone:
			if err == io.EOF {
				return ErrServerClosed
			}
			return fmt.Errorf("session with %s: %w", r.cfg.Addr, err)
		case l, ok := <-lines:
			if !ok {
				break loop
			}
			if l.err != nil {
				sendErr = l.err
				break loop
			}
			if isExit(l.text) {
				break loop
			}
			wd.arm()
			if err := sc.Send([]byte(l.text)); err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("session with %s: interrupted while sending line %d (the server is not reading)", r.cfg.Addr, l.n)
				}
				return fmt.Errorf("sending line %d: %w", l.n, err)
			}
		}
	}
	// End cleanly: our CLOSE, then the server's, which tells us it has read
	// every record we sent.
	wd.end()
	c.SetDeadline(time.Now().Add(r.cfg.HandshakeTimeout))
	if err := sc.CloseWrite(); err != nil {
		return fmt.Errorf("closing the session: %w", err)
	}
	if err := <-serverDone; err != io.EOF {
		return fmt.Errorf("closing the session with %s: %w", r.cfg.Addr, err)
	}
	if sendErr != nil {
		return sendErr
	}
	r.out.Printf("%s", ExitingLine)
	return nil
}

func (r *run) legacy(ctx context.Context, in io.Reader) error {
	fmt.Fprintln(r.cfg.Err, "warning: the legacy protocol does not authenticate the server: anyone in the middle can read these messages (use -proto session with -pin)")
	c, err := r.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	c.SetDeadline(time.Now().Add(r.cfg.HandshakeTimeout))
	sc, err := legacy.Connect(c, r.cfg.Scheme, r.cfg.MaxFrame)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("key exchange with %s: interrupted", r.cfg.Addr)
		}
		return fmt.Errorf("key exchange with %s failed: %w", r.cfg.Addr, err)
	}
	c.SetDeadline(time.Time{})
	r.out.Printf("%s", ReadyLine)

	done := make(chan struct{})
	defer close(done)
	lines := readLines(in, legacy.MaxPlaintext(r.cfg.Scheme, r.cfg.MaxFrame), done)
	var sendErr error
loop:
	for {
		if r.cfg.Interactive {
			r.out.Prompt(Prompt)
		}
		select {
		case <-ctx.Done():
			break loop
		case l, ok := <-lines:
			if !ok {
				break loop
			}
			if l.err != nil {
				sendErr = l.err
				break loop
			}
			c.SetWriteDeadline(time.Now().Add(r.cfg.HandshakeTimeout))
			if err := sc.Send([]byte(l.text)); err != nil {
				if ctx.Err() != nil {
					break loop
				}
				return fmt.Errorf("sending line %d: %w", l.n, err)
			}
			// As the demo: "exit" is sent like any message, then the client stops.
			if isExit(l.text) {
				break loop
			}
		}
	}
	// The legacy protocol has no goodbye: half-close and give the server a
	// moment to read what we sent and close its side.
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
		c.SetReadDeadline(time.Now().Add(r.cfg.HandshakeTimeout))
		io.Copy(io.Discard, c)
	}
	if sendErr != nil {
		return sendErr
	}
	r.out.Printf("%s", ExitingLine)
	return nil
}

// writeDeadline bounds each Send of a session: a server that stops reading
// fills the connection's buffers and blocks the write, which then fails
// after the timeout, or at once when ctx is cancelled (as the legacy
// protocol's writes do). end turns it off, for the closing exchange, which
// has a deadline of its own.
type writeDeadline struct {
	mu      sync.Mutex
	c       net.Conn
	ctx     context.Context
	timeout time.Duration
	ended   bool
	stop    func() bool
}

func newWriteDeadline(ctx context.Context, c net.Conn, timeout time.Duration) *writeDeadline {
	wd := &writeDeadline{c: c, ctx: ctx, timeout: timeout}
	wd.stop = context.AfterFunc(ctx, func() {
		wd.mu.Lock()
		defer wd.mu.Unlock()
		if !wd.ended {
			c.SetWriteDeadline(time.Now())
		}
	})
	return wd
}

// arm gives the next write the timeout, unless ctx is already cancelled.
func (wd *writeDeadline) arm() {
	wd.mu.Lock()
	defer wd.mu.Unlock()
	if wd.ctx.Err() == nil {
		wd.c.SetWriteDeadline(time.Now().Add(wd.timeout))
	}
}

// end stops it: afterwards it changes no deadline.
func (wd *writeDeadline) end() {
	wd.stop()
	wd.mu.Lock()
	defer wd.mu.Unlock()
	wd.ended = true
}

// isExit reports whether a line is the exit command (stripped, any case).
func isExit(line string) bool {
	return strings.EqualFold(strings.TrimSpace(line), "exit")
}

type line struct {
	n    int
	text string
	err  error
}

// readLines reads lines (without their "\n" or "\r\n") from in in its own
// goroutine, so that waiting for input can be interrupted. A line longer
// than limit bytes is an error, found before it is all in memory. The
// goroutine ends at the end of in, at an error, or when done is closed.
func readLines(in io.Reader, limit int, done <-chan struct{}) <-chan line {
	ch := make(chan line)
	go func() {
		defer close(ch)
		br := bufio.NewReader(in)
		send := func(l line) bool {
			select {
			case ch <- l:
				return true
			case <-done:
				return false
			}
		}
		for n := 1; ; n++ {
			var buf []byte
			var err error
			for {
				var chunk []byte
				chunk, err = br.ReadSlice('\n')
				buf = append(buf, chunk...)
				if len(buf) > limit+2 { // room for "\r\n"
					send(line{n: n, err: fmt.Errorf("line %d is too long: over %d bytes (the limit follows -max-frame)", n, limit)})
					return
				}
				if err != bufio.ErrBufferFull {
					break
				}
			}
			if len(buf) > 0 {
				text := strings.TrimSuffix(strings.TrimSuffix(string(buf), "\n"), "\r")
				if len(text) > limit {
					send(line{n: n, err: fmt.Errorf("line %d is too long: %d bytes, the limit is %d (it follows -max-frame)", n, len(text), limit)})
					return
				}
				if !send(line{n: n, text: text}) {
					return
				}
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				send(line{n: n, err: err})
				return
			}
		}
	}()
	return ch
}
