package session

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// lockedSpy is spyScheme safe for the pool's goroutine.
type lockedSpy struct {
	kem.Scheme
	mu   sync.Mutex
	keys []*spyKey
}

func (s *lockedSpy) GenerateKey() (kem.DecapsulationKey, error) {
	dk, err := s.Scheme.GenerateKey()
	if err != nil {
		return nil, err
	}
	k := &spyKey{DecapsulationKey: dk}
	s.mu.Lock()
	s.keys = append(s.keys, k)
	s.mu.Unlock()
	return k, nil
}

func (s *lockedSpy) made() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

// TestKeyPool: keys are made ahead, each handed out once, and those left
// are destroyed on Close; after Close, keys are made on demand.
func TestKeyPool(t *testing.T) {
	spy := &lockedSpy{Scheme: lookup(t, kem.MLKEM768, "")}
	pool := NewKeyPool(spy, 3)
	assert.Equal(t, kem.MLKEM768, pool.Name(), "a pool is its scheme")
	require.Eventually(t, func() bool { return spy.made() >= 3 }, testTimeout, time.Millisecond, "the pool fills")

	seen := map[string]bool{}
	for range 10 {
		dk, err := pool.GenerateKey()
		require.NoError(t, err)
		ek := string(dk.EncapsulationKey().Bytes())
		assert.False(t, seen[ek], "a key is handed out once")
		seen[ek] = true
		kem.Destroy(dk)
	}
	ahead, inline := pool.Stats()
	assert.Equal(t, int64(10), ahead+inline)
	assert.Positive(t, ahead)

	require.NoError(t, pool.Close())
	require.NoError(t, pool.Close(), "idempotent")
	spy.mu.Lock()
	for _, k := range spy.keys {
		assert.Equal(t, 1, k.destroyed, "every key is destroyed once: used, or left in the pool")
	}
	made := len(spy.keys)
	spy.mu.Unlock()

	dk, err := pool.GenerateKey()
	require.NoError(t, err, "after Close, keys are made on demand")
	kem.Destroy(dk)
	assert.Equal(t, made+1, spy.made())
}

// TestKeyPoolHandshake: a server whose Scheme is a pool completes
// handshakes, and destroys each ephemeral key as without a pool.
func TestKeyPoolHandshake(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	spy := &lockedSpy{Scheme: sc.Scheme}
	pool := NewKeyPool(spy, 2)
	defer pool.Close()
	sc.Scheme = pool
	for range 3 {
		srv, cli, _, _ := handshake(t, sc, cc, "pipe")
		assert.Equal(t, srv.opener.Seq(), cli.sealer.Seq())
	}
	ahead, inline := pool.Stats()
	assert.Equal(t, int64(3), ahead+inline)
	spy.mu.Lock()
	used := 0
	for _, k := range spy.keys {
		if k.decaps > 0 {
			used++
			assert.Equal(t, 1, k.decaps)
			assert.Equal(t, 1, k.destroyed)
		}
	}
	spy.mu.Unlock()
	assert.Equal(t, 3, used)
}
