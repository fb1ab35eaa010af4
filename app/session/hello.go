package session

import (
	"encoding/binary"
	"fmt"

	"github.com/kemtcp/kemtcp/app/kem"
)

// The two hellos (PROTOCOL.md, "Handshake"):
//
//	ServerHello = Magic || Version || kem_id (u16) || ek_s || ek_e
//	ClientHello = Magic || Version || kem_id (u16) || ct_s || ct_e
//
// Their sizes follow from kem_id alone, and the parsers accept only that
// exact size. They check structure only: the FIPS 203 modulus check of the
// keys is the client's job (Scheme.NewEncapsulationKey), done in Client.

// The first bytes of a Python pickle of protocol 2 to 5: PROTO (0x80) and
// the protocol number. The legacy protocol's server sends its key that way.
const (
	pickleProto       = 0x80
	pickleMinProtocol = 2
	pickleMaxProtocol = 5
)

// ServerHello is the server's first message.
type ServerHello struct {
	KEMID        uint16 // TLS code point of the ML-KEM parameter set
	StaticKey    []byte // ek_s, the server's long-term encapsulation key
	EphemeralKey []byte // ek_e, this connection's encapsulation key
}

// ClientHello is the client's only handshake message.
type ClientHello struct {
	KEMID               uint16 // TLS code point of the ML-KEM parameter set
	StaticCiphertext    []byte // ct_s, encapsulated to ek_s
	EphemeralCiphertext []byte // ct_e, encapsulated to ek_e
}

// ServerHelloSize is the exact payload size of a ServerHello for p.
func ServerHelloSize(p kem.Params) int { return HelloHeaderSize + 2*p.EncapsulationKeySize }

// ClientHelloSize is the exact payload size of a ClientHello for p.
func ClientHelloSize(p kem.Params) int { return HelloHeaderSize + 2*p.CiphertextSize }

// describe names a parameter set as error messages do: "ML-KEM-768 (0x0201)".
func describe(p kem.Params) string { return fmt.Sprintf("%s (0x%04x)", p.Name, p.ID) }

// looksLikePickle reports whether a frame starts as a pickle of protocol 2 to 5.
func looksLikePickle(p []byte) bool {
	return len(p) >= 2 && p[0] == pickleProto && p[1] >= pickleMinProtocol && p[1] <= pickleMaxProtocol
}

// parseHelloHeader checks Magic, Version and kem_id, and that the payload
// has the exact length bodySize(params) + HelloHeaderSize. It returns the
// parameters and the body after the header.
func parseHelloHeader(stage string, p []byte, size func(kem.Params) int) (kem.Params, []byte, error) {
	if len(p) < magicSize || string(p[:magicSize]) != Magic {
		if len(p) < magicSize && Magic[:len(p)] == string(p) {
			return kem.Params{}, nil, fmt.Errorf("%s: %w: got %d bytes, want at least %d", stage, ErrLength, len(p), HelloHeaderSize)
		}
		return kem.Params{}, nil, fmt.Errorf("%s: %w: got %q, want %q", stage, ErrBadMagic, p[:min(len(p), magicSize)], Magic)
	}
	if len(p) < HelloHeaderSize {
		return kem.Params{}, nil, fmt.Errorf("%s: %w: got %d bytes, want at least %d", stage, ErrLength, len(p), HelloHeaderSize)
	}
	if v := p[versionOffset]; v != Version {
		return kem.Params{}, nil, fmt.Errorf("%s: %w %d (this build speaks version %d)", stage, ErrVersion, v, Version)
	}
	id := binary.BigEndian.Uint16(p[kemIDOffset:])
	params, ok := kem.ParamsByID(id)
	if !ok {
		return kem.Params{}, nil, fmt.Errorf("%s: %w 0x%04x (want 0x0200 ML-KEM-512, 0x0201 ML-KEM-768 or 0x0202 ML-KEM-1024)", stage, ErrUnknownKEM, id)
	}
	if want := size(params); len(p) != want {
		return kem.Params{}, nil, fmt.Errorf("%s: %w for %s: got %d bytes, want %d", stage, ErrLength, describe(params), len(p), want)
	}
	return params, p[HelloHeaderSize:], nil
}

// ParseServerHello parses a ServerHello payload. The keys in the result
// alias payload. A payload that starts like a Python pickle gives
// ErrLegacyPeer; otherwise the errors wrap ErrBadMagic, ErrLength, ErrVersion
// or ErrUnknownKEM.
func ParseServerHello(payload []byte) (*ServerHello, error) {
	if looksLikePickle(payload) {
		return nil, fmt.Errorf("%s: %w", stageServerHello, ErrLegacyPeer)
	}
	params, body, err := parseHelloHeader(stageServerHello, payload, ServerHelloSize)
	if err != nil {
		return nil, err
	}
	n := params.EncapsulationKeySize
	return &ServerHello{
		KEMID:        params.ID,
		StaticKey:    body[:n:n],
		EphemeralKey: body[n : 2*n : 2*n],
	}, nil
}

// ParseClientHello parses a ClientHello payload. The ciphertexts in the
// result alias payload. The errors wrap ErrBadMagic, ErrLength, ErrVersion
// or ErrUnknownKEM.
func ParseClientHello(payload []byte) (*ClientHello, error) {
	params, body, err := parseHelloHeader(stageClientHello, payload, ClientHelloSize)
	if err != nil {
		return nil, err
	}
	n := params.CiphertextSize
	return &ClientHello{
		KEMID:               params.ID,
		StaticCiphertext:    body[:n:n],
		EphemeralCiphertext: body[n : 2*n : 2*n],
	}, nil
}

// appendHelloHeader appends Magic || Version || kem_id.
func appendHelloHeader(dst []byte, id uint16) []byte {
	dst = append(dst, Magic...)
	dst = append(dst, Version)
	return binary.BigEndian.AppendUint16(dst, id)
}

// checkField returns an error wrapping ErrLength if len(b) != want.
func checkField(stage, name string, p kem.Params, b []byte, want int) error {
	if len(b) != want {
		return fmt.Errorf("%s: %w of %s for %s: got %d bytes, want %d", stage, ErrLength, name, describe(p), len(b), want)
	}
	return nil
}

// Append appends the ServerHello payload to dst. It refuses an unknown
// KEMID and keys of the wrong size.
func (h *ServerHello) Append(dst []byte) ([]byte, error) {
	p, ok := kem.ParamsByID(h.KEMID)
	if !ok {
		return nil, fmt.Errorf("%s: %w 0x%04x", stageServerHello, ErrUnknownKEM, h.KEMID)
	}
	if err := checkField(stageServerHello, "ek_s", p, h.StaticKey, p.EncapsulationKeySize); err != nil {
		return nil, err
	}
	if err := checkField(stageServerHello, "ek_e", p, h.EphemeralKey, p.EncapsulationKeySize); err != nil {
		return nil, err
	}
	dst = appendHelloHeader(dst, h.KEMID)
	dst = append(dst, h.StaticKey...)
	return append(dst, h.EphemeralKey...), nil
}

// Marshal returns the ServerHello payload.
func (h *ServerHello) Marshal() ([]byte, error) {
	p, _ := kem.ParamsByID(h.KEMID)
	return h.Append(make([]byte, 0, ServerHelloSize(p)))
}

// Append appends the ClientHello payload to dst. It refuses an unknown
// KEMID and ciphertexts of the wrong size.
func (h *ClientHello) Append(dst []byte) ([]byte, error) {
	p, ok := kem.ParamsByID(h.KEMID)
	if !ok {
		return nil, fmt.Errorf("%s: %w 0x%04x", stageClientHello, ErrUnknownKEM, h.KEMID)
	}
	if err := checkField(stageClientHello, "ct_s", p, h.StaticCiphertext, p.CiphertextSize); err != nil {
		return nil, err
	}
	if err := checkField(stageClientHello, "ct_e", p, h.EphemeralCiphertext, p.CiphertextSize); err != nil {
		return nil, err
	}
	dst = appendHelloHeader(dst, h.KEMID)
	dst = append(dst, h.StaticCiphertext...)
	return append(dst, h.EphemeralCiphertext...), nil
}

// Marshal returns the ClientHello payload.
func (h *ClientHello) Marshal() ([]byte, error) {
	p, _ := kem.ParamsByID(h.KEMID)
	return h.Append(make([]byte, 0, ClientHelloSize(p)))
}
