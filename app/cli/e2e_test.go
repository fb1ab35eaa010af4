package cli

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// supports reports whether backend b implements alg in this binary.
func supports(alg, b string) bool {
	_, err := kem.Lookup(alg, b)
	return err == nil
}

// TestMatrix: each protocol x each KEM x each pair of backends (server,
// client) delivers every line in order, once, over real TCP.
func TestMatrix(t *testing.T) {
	lines := []string{"Hello from client using ML-KEM!", "second line", "ünïcødé ✓", "", "last"}
	input := strings.Join(lines, "\n") + "\n"
	for _, proto := range []string{"session", "legacy"} {
		for _, alg := range kem.Algorithms() {
			for _, sb := range kem.Backends() {
				for _, cb := range kem.Backends() {
					if !supports(alg, sb) || !supports(alg, cb) {
						continue
					}
					t.Run(fmt.Sprintf("%s/%s/%s-%s", proto, alg, sb, cb), func(t *testing.T) {
						t.Parallel()
						s := startServer(t, "-proto", proto, "-alg", alg, "-backend", sb)
						code, out, errOut := runClient(t, context.Background(), s.addr, input, "-proto", proto, "-alg", alg, "-backend", cb)
						require.Equal(t, ExitOK, code, "client stdout:\n%s\nstderr:\n%s", out, errOut)
						assert.Contains(t, out, "Received server public key. Type messages to send. Type 'exit' to quit.")
						assert.Contains(t, out, "Client exiting.")
						end := "Client requested to exit." // session: CLOSE
						if proto == "legacy" {
							end = "Client disconnected." // legacy: EOF
						}
						requireServerLines(t, s, end)
						assert.Equal(t, lines, decrypted(s.out.String()))
					})
				}
			}
		}
	}
}

// TestStartupLines: protocol, KEM, backend (with version), address and, for
// session, the fingerprint.
func TestStartupLines(t *testing.T) {
	s := startServer(t, "-alg", "1024")
	out := s.out.String()
	assert.Regexp(t, `kemtcp server: protocol session, ML-KEM-1024, backend `+kem.DefaultBackend(), out)
	if kem.DefaultBackend() == kem.BackendLiboqs {
		assert.Regexp(t, `backend liboqs \(liboqs \d+\.\d+\.\d+`, out)
	}
	assert.Regexp(t, `Server key fingerprint: SHA256:[A-Za-z0-9+/]{43} `, out)
	assert.Contains(t, out, "Server listening on "+s.addr)

	s2 := startServer(t, "-proto", "legacy")
	assert.Contains(t, s2.out.String(), "kemtcp server: protocol legacy, ML-KEM-768")
	assert.NotContains(t, s2.out.String(), "fingerprint")
	assert.Contains(t, s2.out.String(), "Server listening on "+s2.addr)
}

// TestConcurrentClients: 50 clients x 100 messages at once; nothing lost,
// duplicated or reordered, and the echoes come back.
func TestConcurrentClients(t *testing.T) {
	const clients, msgs = 50, 100
	for _, proto := range []string{"session", "legacy"} {
		t.Run(proto, func(t *testing.T) {
			args := []string{"-proto", proto}
			if proto == "session" {
				args = append(args, "-echo")
			}
			s := startServer(t, args...)
			var wg sync.WaitGroup
			outs := make([]string, clients)
			for c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var in strings.Builder
					for m := range msgs {
						fmt.Fprintf(&in, "c%02d-m%03d\n", c, m)
					}
					code, out, errOut := runClient(t, context.Background(), s.addr, in.String(), "-proto", proto)
					assert.Equal(t, ExitOK, code, "client %d: %s", c, errOut)
					outs[c] = out
				}()
			}
			wg.Wait()
			end := "Client requested to exit."
			if proto == "legacy" {
				end = "Client disconnected."
			}
			waitFor(t, 20*time.Second, "every client's end", func() bool {
				return strings.Count(s.out.String(), end) == clients
			})
			got := map[int][]int{}
			re := regexp.MustCompile(`^c(\d\d)-m(\d\d\d)$`)
			for _, text := range decrypted(s.out.String()) {
				m := re.FindStringSubmatch(text)
				require.NotNil(t, m, "unexpected message %q", text)
				c, _ := strconv.Atoi(m[1])
				n, _ := strconv.Atoi(m[2])
				got[c] = append(got[c], n)
			}
			want := make([]int, msgs)
			for i := range want {
				want[i] = i
			}
			for c := range clients {
				require.Equal(t, want, got[c], "client %d's messages at the server", c)
				if proto == "session" {
					echoes := 0
					for _, l := range strings.Split(outs[c], "\n") {
						if strings.HasPrefix(l, "Decrypted from server: ") {
							require.Equal(t, fmt.Sprintf("Decrypted from server: c%02d-m%03d", c, echoes), l)
							echoes++
						}
					}
					require.Equal(t, msgs, echoes, "client %d's echoes", c)
				}
			}
			// Several clients at once: lines carry the peer's address.
			assert.Regexp(t, `\[127\.0\.0\.1:\d+\] Decrypted from client: c\d\d-m\d\d\d`, s.out.String())
		})
	}
}

// TestExitLine: "exit" ends the session; lines after it are not sent.
func TestExitLine(t *testing.T) {
	for _, proto := range []string{"session", "legacy"} {
		t.Run(proto, func(t *testing.T) {
			s := startServer(t, "-proto", proto)
			code, out, errOut := runClient(t, context.Background(), s.addr, "one\n  EXIT \nnever sent\n", "-proto", proto)
			require.Equal(t, ExitOK, code, errOut)
			assert.Contains(t, out, "Client exiting.")
			requireServerLines(t, s, "Client requested to exit.")
			want := []string{"one"}
			if proto == "legacy" {
				want = append(want, "  EXIT ") // the demo sends exit as a message
			}
			time.Sleep(100 * time.Millisecond)
			assert.Equal(t, want, decrypted(s.out.String()))
			assert.NotContains(t, s.out.String(), "never sent")
		})
	}
}

// TestOnceMode: -once serves one client and exits 0, as the demo.
func TestOnceMode(t *testing.T) {
	for _, proto := range []string{"session", "legacy"} {
		t.Run(proto, func(t *testing.T) {
			s := startServer(t, "-proto", proto, "-once")
			code, _, errOut := runClient(t, context.Background(), s.addr, "hi\nexit\n", "-proto", proto)
			require.Equal(t, ExitOK, code, errOut)
			select {
			case code := <-s.done:
				s.done <- code
				require.Equal(t, ExitOK, code)
			case <-time.After(10 * time.Second):
				t.Fatal("-once server did not exit after its client")
			}
			lines := s.out.Lines()
			assert.Equal(t, "Server shutting down.", lines[len(lines)-1])
			assert.Contains(t, s.out.String(), "Decrypted from client: hi")
		})
	}
}

// TestClientInterrupt: Ctrl+C (context cancelled) while the client waits
// for input ends the session cleanly and exits 0.
func TestClientInterrupt(t *testing.T) {
	for _, proto := range []string{"session", "legacy"} {
		t.Run(proto, func(t *testing.T) {
			s := startServer(t, "-proto", proto)
			pr, pw := io.Pipe()
			defer pw.Close()
			ctx, cancel := context.WithCancel(context.Background())
			var out, errOut syncBuffer
			done := make(chan int, 1)
			go func() {
				done <- Client(ctx, []string{"-addr", s.addr, "-proto", proto, "-known-hosts", "none"}, pr, &out, &errOut)
			}()
			pw.Write([]byte("before interrupt\n"))
			requireServerLines(t, s, "Decrypted from client: before interrupt")
			cancel()
			select {
			case code := <-done:
				require.Equal(t, ExitOK, code, errOut.String())
			case <-time.After(10 * time.Second):
				t.Fatal("client did not stop on interrupt")
			}
			end := "Client requested to exit."
			if proto == "legacy" {
				end = "Client disconnected."
			}
			requireServerLines(t, s, end)
		})
	}
}

// TestServerInterrupt: Ctrl+C stops accepting, lets an open connection finish
// within the grace period, then closes it and exits 0.
func TestServerInterrupt(t *testing.T) {
	s := startServer(t, "-grace", "300ms")
	pr, pw := io.Pipe()
	defer pw.Close()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Client(context.Background(), []string{"-addr", s.addr, "-known-hosts", "none"}, pr, &out, &errOut)
	}()
	pw.Write([]byte("still here\n"))
	requireServerLines(t, s, "Decrypted from client: still here")
	require.Equal(t, ExitOK, s.stop(t))
	assert.Contains(t, s.out.String(), "Closed 1 connection(s) still open after the 300ms grace period.")
	assert.Regexp(t, `Connection from 127\.0\.0\.1:\d+ closed at shutdown \(the grace period is over\)\.`, s.out.String())
	assert.Contains(t, s.out.String(), "Server shutting down.")
	// The client learns that the server went away.
	select {
	case code := <-done:
		require.Equal(t, ExitFailure, code)
		assert.NotEmpty(t, errOut.String())
	case <-time.After(10 * time.Second):
		t.Fatal("client did not notice the server's shutdown")
	}
	// No longer accepting.
	code, _, errOut2 := runClient(t, context.Background(), s.addr, "x\n")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut2, "connection refused")
}
