package session

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// Records (PROTOCOL.md, "Records"): every frame after the hellos is
//
//	AES-256-GCM-Seal(key_dir, nonce = 0x00000000 || seq (u64), plaintext = type || body, aad = empty)
//
// where seq counts the records of one direction from 0. The receiver keeps
// its own count, so a replayed, reordered or dropped record does not open.

// newAEAD returns AES-256-GCM for a KeySize-byte key. The AEAD keeps its own
// expanded copy of the key; the caller may wipe key afterwards.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("session: record key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return aead, nil
}

// RecordSealer seals the records of one direction, numbering them from 0.
// It is not safe for concurrent use. It does not enforce MaxRecords: Conn
// does.
type RecordSealer struct {
	aead  cipher.AEAD
	seq   uint64
	nonce [NonceSize]byte
}

// NewRecordSealer returns a sealer for a KeySize-byte key, at seq 0.
func NewRecordSealer(key []byte) (*RecordSealer, error) {
	s := new(RecordSealer)
	if err := s.init(key); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *RecordSealer) init(key []byte) error {
	aead, err := newAEAD(key)
	if err != nil {
		return err
	}
	*s = RecordSealer{aead: aead}
	return nil
}

// Seq returns the sequence number of the next record Seal makes.
func (s *RecordSealer) Seq() uint64 { return s.seq }

// Seal appends the record of type typ and body to dst, with the next
// sequence number, and returns the extended slice: len(body)+RecordOverhead
// more bytes. It seals in place, so with enough capacity in dst it does not
// allocate. body may overlap dst, e.g. sit right after dst[len(dst)] in the
// same buffer.
func (s *RecordSealer) Seal(dst []byte, typ byte, body []byte) []byte {
	n := len(dst)
	plainLen := typeSize + len(body)
	dst = grow(dst, plainLen+TagSize)
	copy(dst[n+typeSize:], body) // copy is a memmove: overlap is fine
	dst[n] = typ
	binary.BigEndian.PutUint64(s.nonce[nonceSeqOffset:], s.seq)
	s.seq++
	plain := dst[n : n+plainLen]
	return dst[:n+len(s.aead.Seal(plain[:0], s.nonce[:], plain, nil))]
}

// grow returns dst extended by n bytes, reallocating only when its capacity
// is short.
func grow(dst []byte, n int) []byte {
	if total := len(dst) + n; total <= cap(dst) {
		return dst[:total]
	}
	out := make([]byte, len(dst)+n, 2*len(dst)+n)
	copy(out, dst)
	return out
}

// RecordOpener opens the records of one direction, expecting them numbered
// from 0. It is not safe for concurrent use.
type RecordOpener struct {
	aead  cipher.AEAD
	seq   uint64
	nonce [NonceSize]byte
}

// NewRecordOpener returns an opener for a KeySize-byte key, at seq 0.
func NewRecordOpener(key []byte) (*RecordOpener, error) {
	o := new(RecordOpener)
	if err := o.init(key); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *RecordOpener) init(key []byte) error {
	aead, err := newAEAD(key)
	if err != nil {
		return err
	}
	*o = RecordOpener{aead: aead}
	return nil
}

// Seq returns the sequence number the next record must carry.
func (o *RecordOpener) Seq() uint64 { return o.seq }

// Open decrypts record, a frame payload, in place, and returns its type and
// body (which alias record). Only on success does the sequence number
// advance. A record that does not open gives an error wrapping ErrAuth; the
// type is not checked here.
func (o *RecordOpener) Open(record []byte) (typ byte, body []byte, err error) {
	if len(record) < RecordOverhead {
		return 0, nil, fmt.Errorf("record %d: %w: %d bytes, shorter than the %d-byte minimum", o.seq, ErrAuth, len(record), RecordOverhead)
	}
	binary.BigEndian.PutUint64(o.nonce[nonceSeqOffset:], o.seq)
	plain, err := o.aead.Open(record[:0], o.nonce[:], record, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("record %d: %w", o.seq, ErrAuth)
	}
	o.seq++
	return plain[0], plain[typeSize:], nil
}
