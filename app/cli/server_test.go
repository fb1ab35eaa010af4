package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestListenAddr: the address printed for a wildcard listener is the one
// asked for (0.0.0.0 stays 0.0.0.0, where Go reports the dual-stack [::]).
func TestListenAddr(t *testing.T) {
	for asked, want := range map[string]string{
		"0.0.0.0:5000": "0.0.0.0:5000",
		":5000":        ":5000",
		"[::]:5000":    "[::]:5000",
	} {
		got := listenAddr(asked, &net.TCPAddr{IP: net.IPv6unspecified, Port: 5000})
		assert.Equal(t, want, got, asked)
	}
	assert.Equal(t, "127.0.0.1:41000", listenAddr("127.0.0.1:0", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41000}))
}

// TestServerHandlesSIGHUPOnceListening: kem-server handles SIGHUP from the
// moment it says it listens (a service manager may reload it then): a
// SIGHUP sent at that moment reloads the authorized keys. (This process
// handles SIGHUP itself too, so that a SIGHUP nobody else handles does not
// end it.)
func TestServerHandlesSIGHUPOnceListening(t *testing.T) {
	dir := t.TempDir()
	keyFile, authFile := filepath.Join(dir, "client.key"), filepath.Join(dir, "authorized_keys")
	var out, errs bytes.Buffer
	require.Equal(t, ExitOK, Client(context.Background(), []string{"-genkey", keyFile}, nil, &out, &errs), errs.String())
	out.Reset()
	require.Equal(t, ExitOK, Client(context.Background(), []string{"-key", keyFile, "-pubout"}, nil, &out, &errs), errs.String())
	require.NoError(t, os.WriteFile(authFile, out.Bytes(), 0o600))

	ours := make(chan os.Signal, 1)
	signal.Notify(ours, syscall.SIGHUP)
	defer signal.Stop(ours)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Server(ctx, []string{"-addr", "127.0.0.1:0", "-authorized-keys", authFile}, stdout, io.Discard, func(net.Addr) {
			// Sent, and handed to the handlers there are at this moment.
			syscall.Kill(os.Getpid(), syscall.SIGHUP)
			<-ours
		})
	}()
	reloaded := regexp.MustCompile(`(?m)^Reloaded .*authorized_keys: 1 authorized key\.$`)
	assert.Eventually(t, func() bool { return reloaded.MatchString(stdout.String()) }, waitTimeout, 5*time.Millisecond,
		"no reload after a SIGHUP at start-up; the server said:\n%s", stdout)
	cancel()
	assert.Equal(t, ExitOK, <-done)
}

// syncBuffer is a bytes.Buffer for one writer and one reader at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
