package cli

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/identity"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/session"
)

// swappingProxy is a man in the middle: to the client it is a session
// server with its own key; to the real server it is a client. It reads and
// forwards every message.
type swappingProxy struct {
	addr        string
	fingerprint string
	mu          sync.Mutex
	read        []string // what the proxy decrypted
}

func (p *swappingProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.read...)
}

func startSwappingProxy(t *testing.T, upstream string) *swappingProxy {
	t.Helper()
	scheme, err := kem.Lookup("768", "")
	require.NoError(t, err)
	key, err := scheme.GenerateKey()
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	p := &swappingProxy{addr: ln.Addr().String(), fingerprint: identity.Fingerprint(key.EncapsulationKey().Bytes())}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				down, err := session.Server(c, &session.ServerConfig{Scheme: scheme, Static: key})
				if err != nil {
					return
				}
				uc, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer uc.Close()
				up, err := session.Client(uc, &session.ClientConfig{Scheme: scheme})
				if err != nil {
					return
				}
				for {
					msg, err := down.Recv()
					if err != nil {
						up.CloseWrite()
						up.Recv() // the server's CLOSE
						down.CloseWrite()
						return
					}
					p.mu.Lock()
					p.read = append(p.read, string(msg))
					p.mu.Unlock()
					up.Send(msg)
				}
			}()
		}
	}()
	return p
}

// TestManInTheMiddle shows why to pin: a proxy that swaps in its own server
// key reads everything when the client checks nothing, and is refused with
// -pin or a known-hosts entry, before any message is sent.
func TestManInTheMiddle(t *testing.T) {
	s := startServer(t)
	realFP := serverFingerprint(t, s)
	proxy := startSwappingProxy(t, s.addr)

	t.Run("no check: the proxy reads everything", func(t *testing.T) {
		code, out, errOut := runClient(t, context.Background(), proxy.addr, "my secret\n")
		require.Equal(t, ExitOK, code, errOut)
		assert.Contains(t, out, "NOT verified")
		assert.Equal(t, []string{"my secret"}, proxy.seen())
		requireServerLines(t, s, "Decrypted from client: my secret") // and nobody notices
	})

	t.Run("pin: refused before sending", func(t *testing.T) {
		code, _, errOut := runClient(t, context.Background(), proxy.addr, "pinned secret\n", "-pin", realFP)
		assert.Equal(t, ExitFailure, code)
		assert.Contains(t, errOut, realFP)
		assert.Contains(t, errOut, proxy.fingerprint)
		time.Sleep(100 * time.Millisecond)
		assert.NotContains(t, proxy.seen(), "pinned secret")
	})

	t.Run("known hosts: refused before sending", func(t *testing.T) {
		// The user has talked to the real server at this address before.
		kh := filepath.Join(t.TempDir(), "known_hosts")
		require.NoError(t, os.WriteFile(kh, []byte(proxy.addr+" ML-KEM-768 "+realFP+"\n"), 0o600))
		var out, errOut syncBuffer
		code := Client(context.Background(), []string{"-addr", proxy.addr, "-known-hosts", kh}, strings.NewReader("tofu secret\n"), &out, &errOut)
		assert.Equal(t, ExitFailure, code)
		assert.Contains(t, errOut.String(), realFP)
		assert.Contains(t, errOut.String(), proxy.fingerprint)
		time.Sleep(100 * time.Millisecond)
		assert.NotContains(t, proxy.seen(), "tofu secret")
	})
}

// TestFinishedFails: a proxy that forwards the real (pinned) server key but
// cannot decapsulate fails key confirmation; the client sends nothing after
// its ClientHello.
func TestFinishedFails(t *testing.T) {
	s := startServer(t)
	realFP := serverFingerprint(t, s)
	scheme, err := kem.Lookup("768", "")
	require.NoError(t, err)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	afterHello := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		// The real ServerHello's ek_s, with the proxy's own ephemeral key.
		uc, err := net.Dial("tcp", s.addr)
		if err != nil {
			return
		}
		realHello, err := frame.NewReader(uc, 0).Next()
		uc.Close()
		if err != nil {
			return
		}
		sh, err := session.ParseServerHello(realHello)
		if err != nil {
			return
		}
		dkE, _ := scheme.GenerateKey()
		sh.EphemeralKey = dkE.EncapsulationKey().Bytes()
		shPayload, _ := sh.Marshal()
		frame.Write(c, shPayload)
		r := frame.NewReader(c, 0)
		chPayload, err := r.Next()
		if err != nil {
			return
		}
		ch, _ := session.ParseClientHello(chPayload)
		ssE, _ := dkE.Decapsulate(ch.EphemeralCiphertext)
		guess := make([]byte, 32) // ss_s cannot be had without dk_s
		rand.Read(guess)
		th := session.TranscriptHash(shPayload, chPayload)
		prk, _ := session.ExtractPRK(th[:], ssE, guess)
		_, keyS2C, _ := session.ExpandKeys(prk)
		sealer, _ := session.NewRecordSealer(keyS2C)
		c.Write(frame.Append(nil, sealer.Seal(nil, session.RecordFinished, nil)))
		// Count what the client sends after its ClientHello.
		n, _ := io.Copy(io.Discard, c)
		afterHello <- int(n)
	}()

	code, _, errOut := runClient(t, context.Background(), ln.Addr().String(), "must not be sent\n", "-pin", realFP)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "key confirmation")
	select {
	case n := <-afterHello:
		assert.Zero(t, n, "the client sent bytes after its ClientHello")
	case <-time.After(10 * time.Second):
		t.Fatal("the fake server did not finish")
	}
}
