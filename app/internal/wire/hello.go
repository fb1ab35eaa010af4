package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/kemtcp/kemtcp/app/kem"
)

// The hellos (PROTOCOL.md, "Handshake"):
//
//	ServerHello v1 = Magic || 0x01 || kem_id (u16) || ek_s || ek_e
//	ServerHello v2 = Magic || 0x02 || kem_id (u16) || flags (u8) || ek_s || ek_e
//	ClientHello    = Magic || version || kem_id (u16) || ct_s || ct_e
//	refusal        = Magic || 0xFF || reason (u8)
//
// Their sizes follow from version and kem_id alone, and the parsers accept
// only that exact size. They check structure only: the FIPS 203 modulus
// check of the keys is the client's (Scheme.NewEncapsulationKey).

// Stages, as error messages name them.
const (
	StageServerHello = "ServerHello"
	StageClientHello = "ClientHello"
	StageClientKey   = "client key"
	StageFinished    = "FINISHED"
)

// The first bytes of a Python pickle of protocol 2 to 5: PROTO (0x80) and
// the protocol number. The legacy protocol's server sends its key so.
const (
	pickleProto       = 0x80
	pickleMinProtocol = 2
	pickleMaxProtocol = 5
)

// ServerHello is the server's first message.
type ServerHello struct {
	Version      byte
	KEMID        uint16
	Flags        byte   // version 2 only
	StaticKey    []byte // ek_s, the server's long-term encapsulation key
	EphemeralKey []byte // ek_e, this connection's encapsulation key
}

// ClientHello is the client's hello.
type ClientHello struct {
	Version             byte
	KEMID               uint16
	StaticCiphertext    []byte // ct_s, encapsulated to ek_s
	EphemeralCiphertext []byte // ct_e, encapsulated to ek_e
}

// serverHeaderSize is the size of a ServerHello before ek_s.
func serverHeaderSize(version byte) int {
	if version == Version1 {
		return HelloHeaderSize
	}
	return HelloHeaderSize + FlagsSize
}

// ServerHelloSize is the exact payload size of a ServerHello.
func ServerHelloSize(version byte, p kem.Params) int {
	return serverHeaderSize(version) + 2*p.EncapsulationKeySize
}

// ClientHelloSize is the exact payload size of a ClientHello.
func ClientHelloSize(p kem.Params) int { return HelloHeaderSize + 2*p.CiphertextSize }

// MaxHelloSize is the largest hello of any algorithm: the limit on a hello
// frame, so that a mismatched peer still gets a precise error and no peer
// can make us reserve more.
var MaxHelloSize = func() int {
	n := 0
	for _, alg := range kem.Algorithms() {
		p, err := kem.ParamsFor(alg)
		if err != nil {
			panic(err)
		}
		n = max(n, ServerHelloSize(Version2, p), ClientHelloSize(p))
	}
	return n
}()

// Describe names an algorithm as error messages do: "ML-KEM-768 (0x0201)".
func Describe(p kem.Params) string { return fmt.Sprintf("%s (0x%04x)", p.Name, p.ID) }

// describeID describes a kem_id that may be unknown.
func describeID(id uint16) string {
	if p, ok := kem.ParamsByID(id); ok {
		return Describe(p)
	}
	return fmt.Sprintf("0x%04x", id)
}

func looksLikePickle(p []byte) bool {
	return len(p) >= 2 && p[0] == pickleProto && p[1] >= pickleMinProtocol && p[1] <= pickleMaxProtocol
}

// knownIDs lists the kem_ids this build knows, for error messages.
func knownIDs() string {
	s := ""
	for i, alg := range kem.Algorithms() {
		p, _ := kem.ParamsFor(alg)
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("0x%04x %s", p.ID, p.Name)
	}
	return s
}

// parseHeader checks Magic, the version (one of versions) and kem_id.
func parseHeader(stage string, p []byte, versions ...byte) (byte, kem.Params, error) {
	if len(p) < MagicSize || string(p[:MagicSize]) != Magic {
		if len(p) < MagicSize && Magic[:len(p)] == string(p) {
			return 0, kem.Params{}, fmt.Errorf("%s: %w: got %d bytes, want at least %d", stage, ErrLength, len(p), HelloHeaderSize)
		}
		return 0, kem.Params{}, fmt.Errorf("%s: %w: got %q, want %q", stage, ErrBadMagic, p[:min(len(p), MagicSize)], Magic)
	}
	if len(p) < HelloHeaderSize {
		return 0, kem.Params{}, fmt.Errorf("%s: %w: got %d bytes, want at least %d", stage, ErrLength, len(p), HelloHeaderSize)
	}
	v := p[VersionOffset]
	ok := false
	for _, w := range versions {
		ok = ok || v == w
	}
	if !ok {
		return 0, kem.Params{}, fmt.Errorf("%s: %w %d (this build speaks versions 1 and 2)", stage, ErrVersion, v)
	}
	id := binary.BigEndian.Uint16(p[KEMIDOffset:])
	params, found := kem.ParamsByID(id)
	if !found {
		return 0, kem.Params{}, fmt.Errorf("%s: %w 0x%04x (want one of %s)", stage, ErrUnknownKEM, id, knownIDs())
	}
	return v, params, nil
}

func checkSize(stage string, p []byte, params kem.Params, want int) error {
	if len(p) != want {
		return fmt.Errorf("%s: %w for %s: got %d bytes, want %d", stage, ErrLength, Describe(params), len(p), want)
	}
	return nil
}

// ParseServerHello parses a ServerHello payload of version 1 or 2. The keys
// in the result alias payload. A refusal gives an error wrapping ErrRefused
// that says why; a payload that starts like a Python pickle, ErrLegacyPeer;
// otherwise the errors wrap ErrBadMagic, ErrLength, ErrVersion, ErrFlags or
// ErrUnknownKEM.
func ParseServerHello(payload []byte) (*ServerHello, error) {
	if looksLikePickle(payload) {
		return nil, fmt.Errorf("%s: %w", StageServerHello, ErrLegacyPeer)
	}
	if len(payload) == RefusalSize && string(payload[:MagicSize]) == Magic && payload[VersionOffset] == VersionRefusal {
		return nil, fmt.Errorf("%s: %w: %s", StageServerHello, ErrRefused, RefusalReason(payload[RefusalSize-1]))
	}
	if len(payload) > RefusalSize && string(payload[:MagicSize]) == Magic && payload[VersionOffset] == VersionRefusal {
		return nil, fmt.Errorf("%s: %w: refusal: got %d bytes, want %d", StageServerHello, ErrLength, len(payload), RefusalSize)
	}
	v, params, err := parseHeader(StageServerHello, payload, Version1, Version2)
	if err != nil {
		return nil, err
	}
	if err := checkSize(StageServerHello, payload, params, ServerHelloSize(v, params)); err != nil {
		return nil, err
	}
	h := &ServerHello{Version: v, KEMID: params.ID}
	off := serverHeaderSize(v)
	if v == Version2 {
		h.Flags = payload[HelloHeaderSize]
		if h.Flags&^knownFlags != 0 {
			return nil, fmt.Errorf("%s: %w 0x%02x (this build knows 0x%02x, client key required)", StageServerHello, ErrFlags, h.Flags, FlagClientKey)
		}
	}
	n := params.EncapsulationKeySize
	h.StaticKey = payload[off : off+n : off+n]
	h.EphemeralKey = payload[off+n : off+2*n : off+2*n]
	return h, nil
}

// ParseClientHello parses a ClientHello payload of version 1 or 2. The
// ciphertexts in the result alias payload. The errors wrap ErrBadMagic,
// ErrLength, ErrVersion or ErrUnknownKEM.
func ParseClientHello(payload []byte) (*ClientHello, error) {
	v, params, err := parseHeader(StageClientHello, payload, Version1, Version2)
	if err != nil {
		return nil, err
	}
	if err := checkSize(StageClientHello, payload, params, ClientHelloSize(params)); err != nil {
		return nil, err
	}
	n := params.CiphertextSize
	body := payload[HelloHeaderSize:]
	return &ClientHello{
		Version:             v,
		KEMID:               params.ID,
		StaticCiphertext:    body[:n:n],
		EphemeralCiphertext: body[n : 2*n : 2*n],
	}, nil
}

func appendHeader(dst []byte, version byte, id uint16) []byte {
	dst = append(dst, Magic...)
	dst = append(dst, version)
	return binary.BigEndian.AppendUint16(dst, id)
}

func checkField(stage, name string, p kem.Params, b []byte, want int) error {
	if len(b) != want {
		return fmt.Errorf("%s: %w of %s for %s: got %d bytes, want %d", stage, ErrLength, name, Describe(p), len(b), want)
	}
	return nil
}

// Append appends the ServerHello payload to dst. It refuses an unknown
// version or KEMID, flags in version 1, and keys of the wrong size.
func (h *ServerHello) Append(dst []byte) ([]byte, error) {
	p, ok := kem.ParamsByID(h.KEMID)
	if !ok {
		return nil, fmt.Errorf("%s: %w 0x%04x", StageServerHello, ErrUnknownKEM, h.KEMID)
	}
	switch {
	case h.Version != Version1 && h.Version != Version2:
		return nil, fmt.Errorf("%s: %w %d", StageServerHello, ErrVersion, h.Version)
	case h.Version == Version1 && h.Flags != 0:
		return nil, fmt.Errorf("%s: %w: version 1 has no flags", StageServerHello, ErrFlags)
	}
	if err := checkField(StageServerHello, "ek_s", p, h.StaticKey, p.EncapsulationKeySize); err != nil {
		return nil, err
	}
	if err := checkField(StageServerHello, "ek_e", p, h.EphemeralKey, p.EncapsulationKeySize); err != nil {
		return nil, err
	}
	dst = appendHeader(dst, h.Version, h.KEMID)
	if h.Version == Version2 {
		dst = append(dst, h.Flags)
	}
	dst = append(dst, h.StaticKey...)
	return append(dst, h.EphemeralKey...), nil
}

// Append appends the ClientHello payload to dst. It refuses an unknown
// version or KEMID and ciphertexts of the wrong size.
func (h *ClientHello) Append(dst []byte) ([]byte, error) {
	p, ok := kem.ParamsByID(h.KEMID)
	if !ok {
		return nil, fmt.Errorf("%s: %w 0x%04x", StageClientHello, ErrUnknownKEM, h.KEMID)
	}
	if h.Version != Version1 && h.Version != Version2 {
		return nil, fmt.Errorf("%s: %w %d", StageClientHello, ErrVersion, h.Version)
	}
	if err := checkField(StageClientHello, "ct_s", p, h.StaticCiphertext, p.CiphertextSize); err != nil {
		return nil, err
	}
	if err := checkField(StageClientHello, "ct_e", p, h.EphemeralCiphertext, p.CiphertextSize); err != nil {
		return nil, err
	}
	dst = appendHeader(dst, h.Version, h.KEMID)
	dst = append(dst, h.StaticCiphertext...)
	return append(dst, h.EphemeralCiphertext...), nil
}

// AppendRefusal appends a refusal payload to dst.
func AppendRefusal(dst []byte, reason byte) []byte {
	dst = append(dst, Magic...)
	return append(dst, VersionRefusal, reason)
}

// RefusalReason says what a refusal's reason byte means.
func RefusalReason(reason byte) string {
	switch reason {
	case RefusedFull:
		return "the server is full (too many connections)"
	case RefusedPerSource:
		return "too many connections from this address"
	case RefusedShuttingDown:
		return "the server is shutting down"
	}
	return fmt.Sprintf("reason 0x%02x", reason)
}
