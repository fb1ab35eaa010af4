package legacy

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
)

// ServerConn is the server's side of a legacy connection: it has sent its
// key and reads messages. It is not safe for concurrent use.
type ServerConn struct {
	r   *frame.Reader
	dk  kem.DecapsulationKey
	p   kem.Params
	err error // the stream error that ended the connection, returned again
	// last is the plaintext Recv returned last, wiped by the next call.
	last []byte
}

// Accept starts the server's side of a legacy connection on rw: it sends the
// key frame, pickle(ek) of dk's encapsulation key. Messages are frames of
// at most maxFrame bytes (frame.DefaultMaxSize if maxFrame <= 0); the
// original has no limit. dk stays the caller's: Accept neither copies nor
// wipes it.
func Accept(rw io.ReadWriter, dk kem.DecapsulationKey, maxFrame int) (*ServerConn, error) {
	if dk == nil {
		return nil, errors.New("legacy: Accept with a nil key")
	}
	ek := dk.EncapsulationKey().Bytes()
	p, ok := paramsWith(len(ek), ekSize)
	if !ok {
		return nil, fmt.Errorf("legacy: encapsulation key of %d bytes: no ML-KEM parameter set has keys of that size", len(ek))
	}
	if err := frame.Write(rw, EncodePublicKey(ek)); err != nil {
		return nil, fmt.Errorf("sending the public key: %w", err)
	}
	return &ServerConn{r: frame.NewReader(rw, maxFrame), dk: dk, p: p}, nil
}

// Algorithm returns the ML-KEM parameter set of the server's key.
func (c *ServerConn) Algorithm() string { return c.p.Name }

// SetFrameTimeout gives every message frame that has begun d to arrive
// whole (frame.Reader.SetFrameTimeout): it cuts off a client that dribbles
// bytes, not one that sits idle between messages. It works when rw is a
// net.Conn; d <= 0 turns it off.
func (c *ServerConn) SetFrameTimeout(d time.Duration) { c.r.SetFrameTimeout(d) }

// Recv reads the next message and returns its plaintext (the client's line,
// as UTF-8 without the newline; the original server decodes it as UTF-8,
// Recv does not). It returns io.EOF when the client closes the connection
// between frames.
//
// The plaintext is valid until the next call of Recv or Wipe, which
// overwrite it with zeros: copy what must be kept. It is the only buffer
// that holds a message's plaintext (AES-GCM decrypts in place into the
// message's own copy of its ciphertext; the frame buffer holds only the
// pickle of the ciphertext).
//
// A message that does not parse (ErrMalformed, ErrSessionPeer), is for
// another KEM (ErrKEMMismatch) or does not decrypt (ErrDecrypt) leaves the
// stream in step: the caller may go on reading. A framing or I/O error
// (frame.ErrTruncated, frame.ErrTooLarge, frame.ErrEmpty, frame.ErrSlow, ...)
// and io.EOF end the connection: Recv returns the same error again.
func (c *ServerConn) Recv() ([]byte, error) {
	c.Wipe()
	if c.err != nil {
		return nil, c.err
	}
	payload, err := c.r.Next()
	if err != nil {
		if err != io.EOF {
			err = fmt.Errorf("reading a message: %w", err)
		}
		c.err = err
		return nil, err
	}
	b, err := ParseBundle(payload)
	if err != nil {
		return nil, err
	}
	// b.Ciphertext is ParseBundle's own copy: decrypt in place.
	pt, err := open(c.dk, c.p, b, b.Ciphertext[:0])
	c.last = pt
	return pt, err
}

// Wipe overwrites the plaintext that Recv returned last with zeros; Recv
// does so itself at its next call. Call it when done with a connection
// whose last message is not read past (e.g. after the client's "exit").
func (c *ServerConn) Wipe() {
	clear(c.last)
	c.last = nil
}

// ClientConn is the client's side of a legacy connection: it has the
// server's key and sends messages. It is not safe for concurrent use.
type ClientConn struct {
	w  io.Writer
	ek kem.EncapsulationKey
}

// Connect starts the client's side of a legacy connection on rw: it reads the
// server's key frame (at most maxFrame bytes; frame.DefaultMaxSize if
// maxFrame <= 0) and checks the key for scheme s: its size (a key of
// another ML-KEM's size gives ErrKEMMismatch, naming it) and the FIPS 203
// modulus check. A server that speaks the session protocol gives
// ErrSessionPeer.
func Connect(rw io.ReadWriter, s kem.Scheme, maxFrame int) (*ClientConn, error) {
	if s == nil {
		return nil, errors.New("legacy: Connect with a nil scheme")
	}
	payload, err := frame.NewReader(rw, maxFrame).Next()
	switch {
	case err == io.EOF:
		return nil, fmt.Errorf("server closed the connection before sending its public key: %w", io.ErrUnexpectedEOF)
	case err != nil:
		return nil, fmt.Errorf("reading the server's public key: %w", err)
	}
	ekb, err := DecodePublicKey(payload)
	if err != nil {
		return nil, err
	}
	if n, want := len(ekb), s.Params().EncapsulationKeySize; n != want {
		if other, ok := paramsWith(n, ekSize); ok {
			return nil, newError(ErrKEMMismatch, nil, "server key is %d bytes: the server uses %s, not %s", n, other.Name, s.Name())
		}
		return nil, newError(ErrMalformed, nil, "server key is %d bytes, want %d for %s (no ML-KEM parameter set has keys of %d bytes)", n, want, s.Name(), n)
	}
	ek, err := s.NewEncapsulationKey(ekb)
	if err != nil {
		return nil, newError(ErrMalformed, err, "server key is not a valid %s key: %v", s.Name(), err)
	}
	return &ClientConn{w: rw, ek: ek}, nil
}

// ServerKey returns a copy of the server's encapsulation key.
func (c *ClientConn) ServerKey() []byte { return c.ek.Bytes() }

// Send sends one message: a fresh encapsulation to the server's key, a new
// key and nonce, plaintext encrypted with an empty aad, as one frame
// (Seal, Bundle.Marshal).
func (c *ClientConn) Send(plaintext []byte) error {
	b, err := Seal(c.ek, plaintext, nil)
	if err != nil {
		return err
	}
	if err := frame.Write(c.w, b.Marshal()); err != nil {
		return fmt.Errorf("sending a message: %w", err)
	}
	return nil
}

// bundleOverhead bounds the size of a message frame's payload beyond its
// kem_ciphertext and plaintext: PROTO (2), at most two FRAME headers (18),
// the dict's opcodes (5), the four keys with their opcodes and memo (44),
// the four values' headers and memo (6+3+6+3), the nonce (12) and the tag
// (16).
const bundleOverhead = 2 + 2*9 + 5 + 44 + (6 + 3 + 6 + 3) + NonceSize + TagSize

// MaxPlaintext returns the length of the longest plaintext whose message
// frame, for scheme s, fits in maxFrame bytes (frame.DefaultMaxSize if
// maxFrame <= 0): what a client may send to a server that uses the same
// limit. It is within a few bytes of exact.
func MaxPlaintext(s kem.Scheme, maxFrame int) int {
	if maxFrame <= 0 {
		maxFrame = frame.DefaultMaxSize
	}
	maxFrame = int(min(uint64(maxFrame), frame.MaxSize))
	return max(0, maxFrame-bundleOverhead-s.Params().CiphertextSize)
}
