package server_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/server"
	"github.com/kemtcp/kemtcp/app/session"
)

// barrier is a Handler that holds every session until n have arrived, then
// lets them all into the inner handler at once.
type barrier struct {
	server.Handler
	n       int
	mu      sync.Mutex
	arrived int
	open    chan struct{}
}

func (b *barrier) ServeSession(ctx context.Context, c *session.Conn, ev *server.Events) error {
	b.mu.Lock()
	if b.arrived++; b.arrived == b.n {
		close(b.open)
	}
	b.mu.Unlock()
	<-b.open
	return b.Handler.ServeSession(ctx, c, ev)
}

// chatHandler lets newServer wire the inner chat's output.
func (b *barrier) chatHandler() *server.Chat { return b.Handler.(*server.Chat) }

// TestChatConcurrentSessions: one Chat serves many sessions at once, from
// their first line on (run with -race: the chat's first use by several
// connections at the same moment must be safe).
func TestChatConcurrentSessions(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	const n = 8
	chat := &server.Chat{Echo: true}
	ts := startServer(t, server.Config{Handler: &barrier{Handler: chat, n: n, open: make(chan struct{})}})
	var clients []*goodClient
	for range n {
		clients = append(clients, ts.dialGood())
	}
	var wg sync.WaitGroup
	for _, g := range clients {
		wg.Go(func() { g.exchange(3) })
	}
	wg.Wait()
	for _, g := range clients {
		g.finish()
	}
	require.False(t, t.Failed())
	ts.stop()
	goleak.VerifyNone(t, ign)
}

// TestEveryKEM: the chat over a session of every KEM; the legacy protocol
// refuses X-Wing at New, with a clear error.
func TestEveryKEM(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	for _, alg := range kem.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			s, err := kem.Lookup(alg, "")
			require.NoError(t, err)
			dk, err := s.NewDecapsulationKey(staticSeed[:s.Params().SeedSize])
			require.NoError(t, err)
			cfg := &session.ServerConfig{Scheme: s, Static: dk}
			ts := startServer(t, server.Config{Session: cfg})
			g := ts.dialGood()
			g.exchange(2)
			g.finish()
			require.Equal(t, alg, g.sc.ConnectionState().KEM)
			ts.stop()
			_, err = server.New(server.Config{Proto: server.ProtoLegacy, Session: cfg, Handler: &server.Chat{}})
			if alg == kem.XWing {
				require.ErrorContains(t, err, "speaks ML-KEM only")
			} else {
				require.NoError(t, err)
			}
		})
	}
	goleak.VerifyNone(t, ign)
}
