package session

import (
	"fmt"
	"time"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/kem"
)

// ServerConfig configures the server side of sessions (Server, Listen,
// NewListener). A ServerConfig may be shared by any number of connections
// and must not be changed once in use: to change keys, make a new one for
// the connections to come.
type ServerConfig struct {
	// Scheme is the KEM, on the backend that runs it.
	Scheme kem.Scheme
	// Static is the server's key pair (dk_s, ek_s); its encapsulation key
	// goes in every ServerHello, and clients pin or remember it.
	Static kem.DecapsulationKey
	// VerifyClientKey, when set, makes the server require a client key
	// (PROTOCOL.md, "Client keys"): it is called with the client's
	// encapsulation key ek_c, after the key's checks and before anything
	// else, and an error refuses the client. A client without a key, or a
	// version-1 client, is then refused. When nil, no client key is asked
	// for, and version-1 clients are served.
	VerifyClientKey func(ekC []byte) error
	// MaxFrame limits a record frame's payload, and so the data one Write
	// puts in one record; 0 means frame.DefaultMaxSize (1 MiB).
	MaxFrame int
	// FrameTimeout, when positive, gives every frame that has begun to
	// arrive that long to arrive whole, counted from when the reader starts
	// waiting for its rest; a peer that dribbles a frame fails with an error
	// wrapping frame.ErrSlow. Waiting for a frame's first byte is bounded
	// only by the deadlines the caller sets.
	FrameTimeout time.Duration

	// Test hooks (internal tests only): lower limits, a replaced
	// FINISHED, and derandomized key generation and encapsulation for
	// known-answer tests.
	limits           *wire.Limits // nil: wire.DefaultLimits
	sendFirst        func(*Conn) error
	ephemeralSeed    []byte
	clientEncapsSeed []byte
}

// ClientConfig configures the client side of sessions (Client, Dial,
// Dialer). It may be shared by any number of connections.
type ClientConfig struct {
	// Scheme is the KEM, on the backend that runs it. The server must use
	// the same KEM.
	Scheme kem.Scheme
	// VerifyServerKey, when set, is called with (a copy of) the server's
	// static key ek_s after the ServerHello's checks and before anything
	// is sent; an error aborts the handshake and is wrapped with
	// ErrServerKeyRefused. Without it the client trusts any server key:
	// set it (pin the key, or remember it) unless the network is trusted.
	VerifyServerKey func(ekS []byte) error
	// ClientKey is the client's key pair (dk_c, ek_c), of the session's
	// KEM, for servers that require client keys. A server that does not
	// require one never sees it.
	ClientKey kem.DecapsulationKey
	// MaxFrame limits a record frame's payload, and so the data one Write
	// puts in one record; 0 means frame.DefaultMaxSize (1 MiB).
	MaxFrame int
	// FrameTimeout is ServerConfig.FrameTimeout for the client.
	FrameTimeout time.Duration

	// Test hooks (internal tests only), as ServerConfig's.
	limits            *wire.Limits
	mutateClientHello func(*wire.ClientHello)
	encapsSeeds       [2][]byte // for ek_s and ek_e
}

// encapsulate is ek.Encapsulate, or EncapsulateDerand(seed) in known-answer
// tests.
func encapsulate(ek kem.EncapsulationKey, seed []byte) (ss, ct []byte, err error) {
	if seed != nil {
		return ek.EncapsulateDerand(seed)
	}
	return ek.Encapsulate()
}

// MaxFrameLimit is the largest MaxFrame a config may set (PROTOCOL.md keeps
// frames within 2^30 bytes for AES-GCM's integrity bound).
const MaxFrameLimit = 1 << 30

// settings are what a Conn takes from either config.
type settings struct {
	scheme       kem.Scheme
	params       kem.Params
	maxFrame     int
	frameTimeout time.Duration
	limits       wire.Limits
}

func checkSettings(scheme kem.Scheme, maxFrame int, frameTimeout time.Duration, limits *wire.Limits) (settings, error) {
	if scheme == nil {
		return settings{}, fmt.Errorf("%w: no KEM scheme", ErrConfig)
	}
	s := settings{scheme: scheme, params: scheme.Params(), maxFrame: maxFrame, frameTimeout: frameTimeout, limits: wire.DefaultLimits}
	if limits != nil {
		s.limits = *limits
	}
	switch {
	case maxFrame == 0:
		s.maxFrame = frame.DefaultMaxSize
	case maxFrame <= wire.RecordOverhead || maxFrame > MaxFrameLimit:
		return settings{}, fmt.Errorf("%w: MaxFrame %d is outside [%d, %d]", ErrConfig, maxFrame, wire.RecordOverhead+1, MaxFrameLimit)
	}
	return s, nil
}

func (cfg *ServerConfig) settings() (settings, error) {
	if cfg == nil {
		return settings{}, fmt.Errorf("%w: no ServerConfig", ErrConfig)
	}
	s, err := checkSettings(cfg.Scheme, cfg.MaxFrame, cfg.FrameTimeout, cfg.limits)
	if err != nil {
		return settings{}, err
	}
	if cfg.Static == nil {
		return settings{}, fmt.Errorf("%w: no static key", ErrConfig)
	}
	if err := checkKey("static", cfg.Static, s.params); err != nil {
		return settings{}, err
	}
	return s, nil
}

func (cfg *ClientConfig) settings() (settings, error) {
	if cfg == nil {
		return settings{}, fmt.Errorf("%w: no ClientConfig", ErrConfig)
	}
	s, err := checkSettings(cfg.Scheme, cfg.MaxFrame, cfg.FrameTimeout, cfg.limits)
	if err != nil {
		return settings{}, err
	}
	if cfg.ClientKey != nil {
		if err := checkKey("client", cfg.ClientKey, s.params); err != nil {
			return settings{}, err
		}
	}
	return s, nil
}

// checkKey checks that dk is a key of p's algorithm, by its size.
func checkKey(what string, dk kem.DecapsulationKey, p kem.Params) error {
	if n := len(dk.EncapsulationKey().Bytes()); n != p.EncapsulationKeySize {
		return fmt.Errorf("%w: the %s key has a %d-byte encapsulation key, not the %d bytes of %s", ErrConfig, what, n, p.EncapsulationKeySize, p.Name)
	}
	return nil
}
