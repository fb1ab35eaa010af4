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
	"time"

	"github.com/kemtcp/kemtcp/app/internal/display"
	"github.com/kemtcp/kemtcp/app/legacy"
	"github.com/kemtcp/kemtcp/app/session"
)

// Lines the chat client prints, as the demo does.
const (
	ReadyLine   = "Received server public key. Type messages to send. Type 'exit' to quit."
	ExitingLine = "Client exiting."
	Prompt      = "> "
)

// Errors of the chat client.
var (
	// ErrServerClosed is returned when the server ends the session while
	// the client still has lines to send; ServerClosedError says why.
	ErrServerClosed = errors.New("the server closed the session")
)

// Chat is the chat client: one message per input line.
type Chat struct {
	Config
	// Interactive shows the "> " prompt before each line.
	Interactive bool
}

// Run connects, sends every line of in, and ends the session when in ends,
// a line is "exit", or ctx is cancelled. It returns nil after a clean end.
func (c *Chat) Run(ctx context.Context, in io.Reader) error {
	if err := c.defaults(); err != nil {
		return err
	}
	out := display.NewLines(c.Out)
	switch c.Proto {
	case ProtoSession:
		return c.session(ctx, in, out)
	case ProtoLegacy:
		return c.legacy(ctx, in, out)
	}
	return fmt.Errorf("unknown protocol %q (want %s or %s)", c.Proto, ProtoSession, ProtoLegacy)
}

func (c *Chat) session(ctx context.Context, in io.Reader, out *display.Lines) error {
	sc, trust, err := c.Config.session(ctx)
	if err != nil {
		return err
	}
	defer sc.Close()
	wd := newWriteDeadline(ctx, sc, c.HandshakeTimeout)
	defer wd.end()
	if trust != "" {
		out.Printf("%s", trust)
	}
	out.Printf("%s", ReadyLine)

	// The server's records: DATA is printed as it comes; its CLOSE (io.EOF)
	// or an error ends the session.
	serverDone := make(chan error, 1)
	go func() {
		for {
			msg, err := sc.ReadMessage()
			if err != nil {
				serverDone <- err
				return
			}
			out.Printf("Decrypted from server: %s", display.Text(msg))
		}
	}()

	done := make(chan struct{})
	defer close(done)
	lines := readLines(in, sc.MaxMessageSize(), done)
	var sendErr error
loop:
	for {
		if c.Interactive {
			out.Prompt(Prompt)
		}
		select {
		case <-ctx.Done():
			break loop
		case err := <-serverDone:
			if err == io.EOF {
				return c.serverClosed(sc)
			}
			return inSession(err, "session with %s", c.Addr)
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
			if err := sc.WriteMessage([]byte(l.text)); err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("session with %s: interrupted while sending line %d (the server is not reading)", c.Addr, l.n)
				}
				return inSession(err, "sending line %d", l.n)
			}
		}
	}
	// End cleanly: our CLOSE, then the server's, which tells us it has read
	// every record we sent.
	wd.end()
	sc.SetDeadline(time.Now().Add(c.HandshakeTimeout))
	if err := sc.CloseWrite(); err != nil {
		return inSession(err, "closing the session")
	}
	if err := <-serverDone; err != io.EOF {
		return inSession(err, "closing the session with %s", c.Addr)
	}
	if sendErr != nil {
		return sendErr
	}
	out.Printf("%s", ExitingLine)
	return nil
}

// serverClosed explains a CLOSE from the server while the client still had
// lines to send.
func (c *Chat) serverClosed(sc *session.Conn) error {
	switch r := sc.ConnectionState().PeerCloseReason; r {
	case session.CloseShutdown:
		return fmt.Errorf("%w: the server shut down", ErrServerClosed)
	case session.CloseNormal:
		return ErrServerClosed
	default:
		return fmt.Errorf("%w: %v", ErrServerClosed, r)
	}
}

func (c *Chat) legacy(ctx context.Context, in io.Reader, out *display.Lines) error {
	raw, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Now()) })
	defer stop()
	raw.SetDeadline(time.Now().Add(c.HandshakeTimeout))
	lc, err := legacy.Connect(raw, c.Scheme, c.MaxFrame)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("key exchange with %s: interrupted", c.Addr)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("key exchange with %s failed: %w (the server may be full)", c.Addr, err)
		}
		return fmt.Errorf("key exchange with %s failed: %w", c.Addr, err)
	}
	raw.SetDeadline(time.Time{})
	out.Printf("%s", ReadyLine)

	done := make(chan struct{})
	defer close(done)
	lines := readLines(in, legacy.MaxPlaintext(c.Scheme, c.MaxFrame), done)
	var sendErr error
loop:
	for {
		if c.Interactive {
			out.Prompt(Prompt)
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
			raw.SetWriteDeadline(time.Now().Add(c.HandshakeTimeout))
			if err := lc.Send([]byte(l.text)); err != nil {
				if ctx.Err() != nil {
					break loop
				}
				return inSession(err, "sending line %d", l.n)
			}
			// As the demo: "exit" is sent like any message, then the client stops.
			if isExit(l.text) {
				break loop
			}
		}
	}
	// The legacy protocol has no goodbye: half-close and give the server a
	// moment to read what we sent and close its side.
	if tc, ok := raw.(*net.TCPConn); ok {
		tc.CloseWrite()
		raw.SetReadDeadline(time.Now().Add(c.HandshakeTimeout))
		io.Copy(io.Discard, raw)
	}
	if sendErr != nil {
		return sendErr
	}
	out.Printf("%s", ExitingLine)
	return nil
}

// writeDeadline bounds each write of a session: a server that stops
// reading fills the connection's buffers and blocks the write, which then
// fails after the timeout, or at once when ctx is cancelled. end turns it
// off, for the closing exchange, which has a deadline of its own.
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
					send(line{n: n, err: fmt.Errorf("line %d is too long: over %d bytes (the limit follows the frame size)", n, limit)})
					return
				}
				if err != bufio.ErrBufferFull {
					break
				}
			}
			if len(buf) > 0 {
				text := strings.TrimSuffix(strings.TrimSuffix(string(buf), "\n"), "\r")
				if len(text) > limit {
					send(line{n: n, err: fmt.Errorf("line %d is too long: %d bytes, the limit is %d (it follows the frame size)", n, len(text), limit)})
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
