package session

import (
	"sync"
	"sync/atomic"

	"github.com/kemtcp/kemtcp/app/kem"
)

// KeyPool takes the server's ephemeral key generation off the handshake's
// critical path: a goroutine of its own makes key pairs ahead of time, up to
// a few, and GenerateKey hands each out once. Use it as the Scheme of a
// ServerConfig (or of a server.Config):
//
//	pool := session.NewKeyPool(scheme, 4)
//	defer pool.Close()
//	conn, err := session.Server(nc, &session.ServerConfig{Scheme: pool, Static: dk})
//
// Every connection still gets a fresh key pair that no other connection
// sees, and Server destroys it right after its one decapsulation, as it does
// without a pool. Keys wait in the pool only until a connection takes
// them; Close destroys those left. When the pool is empty (a burst of
// connections), or after Close, GenerateKey makes a key there and then.
// A KeyPool is safe for concurrent use.
type KeyPool struct {
	kem.Scheme
	keys      chan kem.DecapsulationKey
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	// ahead counts the keys handed out from the pool, inline those made
	// on demand.
	ahead, inline atomic.Int64
}

// NewKeyPool starts a pool of up to size key pairs of s (at least 1).
func NewKeyPool(s kem.Scheme, size int) *KeyPool {
	p := &KeyPool{Scheme: s, keys: make(chan kem.DecapsulationKey, max(1, size)),
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.fill()
	return p
}

// fill makes keys until Close. It stops early if the scheme fails, and
// GenerateKey then reports the failure itself.
func (p *KeyPool) fill() {
	defer close(p.done)
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		k, err := p.Scheme.GenerateKey()
		if err != nil {
			return
		}
		select {
		case p.keys <- k:
		case <-p.stop:
			kem.Destroy(k)
			return
		}
	}
}

// GenerateKey returns a key pair made ahead of time, or, if there is none
// ready, a new one.
func (p *KeyPool) GenerateKey() (kem.DecapsulationKey, error) {
	select {
	case k := <-p.keys:
		p.ahead.Add(1)
		return k, nil
	default:
	}
	p.inline.Add(1)
	return p.Scheme.GenerateKey()
}

// Stats returns how many keys GenerateKey has handed out from the pool and
// how many it had to make on demand.
func (p *KeyPool) Stats() (ahead, inline int64) { return p.ahead.Load(), p.inline.Load() }

// Close stops making keys, waits for the pool's goroutine, and destroys the
// keys no connection took. It is idempotent; GenerateKey still works after
// it, making each key on demand. The error is always nil.
func (p *KeyPool) Close() error {
	p.closeOnce.Do(func() {
		close(p.stop)
		<-p.done
		for {
			select {
			case k := <-p.keys:
				kem.Destroy(k)
			default:
				return
			}
		}
	})
	return nil
}
