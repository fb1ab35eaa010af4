package wire

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// Records (PROTOCOL.md, "Records"): every frame after the hellos is
//
//	AES-256-GCM-Seal(key, nonce = 0x00000000 || seq (u64), plaintext = type || body, aad = empty)
//
// where seq counts the records sealed under one key from 0. The receiver
// keeps its own count, so a replayed, reordered or dropped record does not
// open. Sealer and Opener count records and blocks for the usage limits;
// enforcing them is the caller's (Limits).

// NewAEAD returns AES-256-GCM for a KeySize-byte key. The AEAD keeps its own
// expanded copy of the key; the caller may wipe key afterwards.
func NewAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("record key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Sealer seals the records of one direction under one key at a time. It is
// not safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
	// Seq is the sequence number of the next record; Blocks the q + s used
	// so far under the current key.
	Seq, Blocks uint64
	nonce       [NonceSize]byte
}

// SetKey starts sealing under key from seq 0.
func (s *Sealer) SetKey(key []byte) error {
	aead, err := NewAEAD(key)
	if err != nil {
		return err
	}
	s.aead, s.Seq, s.Blocks = aead, 0, 0
	return nil
}

// Ready reports whether the sealer has a key.
func (s *Sealer) Ready() bool { return s.aead != nil }

// Seal appends the record of type typ and body to dst and returns the
// extended slice: len(body)+RecordOverhead more bytes. It seals in place,
// so with enough capacity in dst it does not allocate. body may overlap
// dst, e.g. sit right after dst[len(dst)] in the same buffer.
func (s *Sealer) Seal(dst []byte, typ byte, body []byte) []byte {
	n := len(dst)
	plainLen := TypeSize + len(body)
	dst = grow(dst, plainLen+TagSize)
	copy(dst[n+TypeSize:], body) // copy is a memmove: overlap is fine
	dst[n] = typ
	binary.BigEndian.PutUint64(s.nonce[NonceSize-8:], s.Seq)
	s.Seq++
	s.Blocks += Blocks(len(body))
	plain := dst[n : n+plainLen]
	return dst[:n+len(s.aead.Seal(plain[:0], s.nonce[:], plain, nil))]
}

func grow(dst []byte, n int) []byte {
	if total := len(dst) + n; total <= cap(dst) {
		return dst[:total]
	}
	out := make([]byte, len(dst)+n, 2*len(dst)+n)
	copy(out, dst)
	return out
}

// Opener opens the records of one direction under one key at a time. It is
// not safe for concurrent use.
type Opener struct {
	aead cipher.AEAD
	// Seq is the sequence number the next record must carry; Blocks the
	// q + s opened so far under the current key.
	Seq, Blocks uint64
	nonce       [NonceSize]byte
}

// SetKey starts opening under key from seq 0.
func (o *Opener) SetKey(key []byte) error {
	aead, err := NewAEAD(key)
	if err != nil {
		return err
	}
	o.aead, o.Seq, o.Blocks = aead, 0, 0
	return nil
}

// Open decrypts record, a frame payload, in place, and returns its type
// and body (which alias record). Only on success do the counters advance.
// A record that does not open gives an error wrapping ErrAuth.
func (o *Opener) Open(record []byte) (typ byte, body []byte, err error) {
	return o.OpenTo(record[:0], record)
}

// OpenTo is Open writing the plaintext to dst, which must have room for
// len(record)-TagSize bytes and may be record[:0] or not overlap it at all.
// The body returned aliases dst.
func (o *Opener) OpenTo(dst, record []byte) (typ byte, body []byte, err error) {
	if len(record) < RecordOverhead {
		return 0, nil, fmt.Errorf("record %d: %w: %d bytes, shorter than the %d-byte minimum", o.Seq, ErrAuth, len(record), RecordOverhead)
	}
	binary.BigEndian.PutUint64(o.nonce[NonceSize-8:], o.Seq)
	plain, err := o.aead.Open(dst[:0], o.nonce[:], record, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("record %d: %w", o.Seq, ErrAuth)
	}
	o.Seq++
	o.Blocks += Blocks(len(plain) - TypeSize)
	return plain[0], plain[TypeSize:], nil
}
