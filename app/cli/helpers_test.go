package cli

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/internal/testutil"
)

// syncBuffer is a buffer safe for concurrent use.
type syncBuffer = testutil.SyncBuffer

// waitFor polls until cond holds or fails the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, timeout, what, cond)
}

// testServer is a kem-server running in-process.
type testServer struct {
	addr   string
	out    *syncBuffer
	errOut *syncBuffer
	cancel context.CancelFunc
	done   chan int
}

// startServer runs cli.Server with args plus -addr 127.0.0.1:0 and waits
// until it listens.
func startServer(t *testing.T, args ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{out: &syncBuffer{}, errOut: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	ready := make(chan net.Addr, 1)
	go func() {
		s.done <- Server(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), s.out, s.errOut, func(a net.Addr) { ready <- a })
	}()
	select {
	case a := <-ready:
		s.addr = a.String()
	case code := <-s.done:
		t.Fatalf("server exited with %d: %s%s", code, s.out, s.errOut)
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start")
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop cancels the server (as Ctrl+C does) and returns its exit code.
func (s *testServer) stop(t *testing.T) int {
	s.cancel()
	select {
	case code := <-s.done:
		s.done <- code
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not stop; output:\n%s", s.out)
		return -1
	}
}

// runClient runs cli.Client against addr with input and returns its exit
// code, stdout and stderr.
func runClient(t *testing.T, ctx context.Context, addr, input string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut syncBuffer
	code := Client(ctx, append([]string{"-addr", addr, "-known-hosts", "none"}, args...), strings.NewReader(input), &out, &errOut)
	return code, out.String(), errOut.String()
}

// decrypted returns the texts of the server's "Decrypted from client" lines,
// without any peer prefix.
func decrypted(out string) []string {
	var msgs []string
	for _, l := range strings.Split(out, "\n") {
		if _, text, ok := strings.Cut(l, "Decrypted from client: "); ok {
			msgs = append(msgs, text)
		}
	}
	return msgs
}

func requireServerLines(t *testing.T, s *testServer, want ...string) {
	t.Helper()
	waitFor(t, 10*time.Second, "server lines "+strings.Join(want, " | "), func() bool {
		out := s.out.String()
		for _, w := range want {
			if !strings.Contains(out, w) {
				return false
			}
		}
		return true
	})
	require.NotEmpty(t, s.out.String())
}
