package legacy

import (
	"bytes"
	"errors"
	"strings"

	"github.com/kemtcp/kemtcp/app/pickle"
)

// EncodePublicKey returns the payload of the server's key frame:
// pickle.dumps(ek) in protocol 4, as CPython writes it (no frame header).
func EncodePublicKey(ek []byte) []byte {
	p, err := pickle.Encode(pickle.Bytes(ek))
	if err != nil {
		panic("legacy: encoding a bytes object cannot fail: " + err.Error())
	}
	return p
}

// publicKeyShape is the shape of the server's key frame: one bytes object.
var publicKeyShape = &pickle.Shape{Name: "server's key frame", Kind: pickle.KindBytes}

// bundleShape is the shape of a message frame: a dict of at most the four
// str keys, each holding bytes. DecodeShape refuses anything else as soon
// as the pickle leaves it, so a hostile frame cannot make the decoder hold
// more than about its own size in memory.
var bundleShape = &pickle.Shape{
	Name:      "message",
	Kind:      pickle.KindDict,
	KeyKind:   pickle.KindString,
	Keys:      bundleKeys[:],
	ValueKind: pickle.KindBytes,
}

// DecodePublicKey returns the key in the payload of a server's key frame: a
// pickle (protocol 3, 4 or 5) of one bytes object, decoded under that shape
// (pickle.DecodeShape). It does not check the key's size: Connect does,
// knowing the KEM.
func DecodePublicKey(payload []byte) ([]byte, error) {
	if bytes.HasPrefix(payload, []byte(sessionMagic)) {
		return nil, newError(ErrSessionPeer, nil, "the server speaks kemtcp's session protocol, not the legacy one")
	}
	v, err := pickle.DecodeShape(payload, publicKeyShape)
	if err != nil {
		return nil, pickleError("server's key frame", err)
	}
	ek, ok := v.(pickle.Bytes)
	if !ok {
		return nil, newError(ErrMalformed, nil, "server's key frame holds %s, not bytes", pickle.TypeName(v))
	}
	return ek, nil
}

// pickleError wraps an error of pickle.DecodeShape in ErrMalformed: a
// pickle of the wrong shape is described as the pickle package says it
// (e.g. "message has an unexpected key 'mac'; ..."), any other as not a
// valid pickle.
func pickleError(what string, err error) error {
	if errors.Is(err, pickle.ErrShape) {
		return newError(ErrMalformed, err, "%s", strings.TrimPrefix(err.Error(), "pickle: "))
	}
	return newError(ErrMalformed, err, "%s is not a valid pickle: %v", what, err)
}

// LooksLikePickle reports whether a frame's payload starts as a pickle of
// protocol 2 to 5 does (PROTO, then the protocol number), e.g. for a session
// peer to tell that it is talking to a legacy peer.
func LooksLikePickle(payload []byte) bool {
	return len(payload) >= 2 && payload[0] == 0x80 && payload[1] >= 2 && payload[1] <= 5
}

// Bundle is one message: the dict the original client pickles.
type Bundle struct {
	KEMCiphertext []byte // a fresh ML-KEM ciphertext to the server's key
	Nonce         []byte // NonceSize random bytes
	Ciphertext    []byte // AES-256-GCM ciphertext with its tag appended
	AAD           []byte // associated data: empty in the demo
}

// Marshal returns the message frame's payload: pickle.dumps of the dict
// {"kem_ciphertext": ..., "nonce": ..., "ciphertext": ..., "aad": ...}, in
// that order, protocol 4, as CPython writes it. A nil field is written as
// b"".
func (b *Bundle) Marshal() []byte {
	d := &pickle.Dict{}
	for i, v := range [...][]byte{b.KEMCiphertext, b.Nonce, b.Ciphertext, b.AAD} {
		if v == nil {
			v = []byte{}
		}
		if err := d.Set(pickle.String(bundleKeys[i]), pickle.Bytes(v)); err != nil {
			panic("legacy: building a bundle cannot fail: " + err.Error())
		}
	}
	p, err := pickle.Encode(d)
	if err != nil {
		panic("legacy: encoding a bundle cannot fail: " + err.Error())
	}
	return p
}

// ParseBundle parses a message frame's payload: a pickle (protocol 3, 4 or
// 5) of a dict with exactly the keys kem_ciphertext, nonce, ciphertext and
// aad (str, in any order), each holding bytes, and a NonceSize nonce. The
// pickle is decoded under that shape (pickle.DecodeShape): a frame that
// leaves it is refused at the first opcode that does, before that opcode's
// value is copied, so parsing allocates at most about the frame's size.
// The sizes that depend on the KEM are checked by Open.
func ParseBundle(payload []byte) (*Bundle, error) {
	if bytes.HasPrefix(payload, []byte(sessionMagic)) {
		return nil, newError(ErrSessionPeer, nil, "the client speaks kemtcp's session protocol, not the legacy one")
	}
	v, err := pickle.DecodeShape(payload, bundleShape)
	if err != nil {
		return nil, pickleError("message", err)
	}
	// The shape has made sure of the kinds and the keys; missing keys are
	// left to find. The checks below cannot fail after DecodeShape and are
	// kept as a second line.
	d, ok := v.(*pickle.Dict)
	if !ok {
		return nil, newError(ErrMalformed, nil, "message holds %s, not a dict", pickle.TypeName(v))
	}
	var fields [len(bundleKeys)][]byte
	var seen [len(bundleKeys)]bool
	for _, it := range d.Items() {
		k, _ := it.Key.(pickle.String)
		val, ok := it.Value.(pickle.Bytes)
		i := keyIndex(string(k))
		if i < 0 || !ok {
			return nil, newError(ErrMalformed, nil, "message has an unexpected item %s: %s; want exactly %s", pickle.Repr(it.Key), pickle.TypeName(it.Value), keyList())
		}
		fields[i], seen[i] = val, true
	}
	for i, ok := range seen {
		if !ok {
			return nil, newError(ErrMalformed, nil, "message lacks the key %s; want exactly %s", pickle.Repr(pickle.String(bundleKeys[i])), keyList())
		}
	}
	b := &Bundle{KEMCiphertext: fields[0], Nonce: fields[1], Ciphertext: fields[2], AAD: fields[3]}
	if err := checkNonce(b.Nonce); err != nil {
		return nil, err
	}
	return b, nil
}

func checkNonce(nonce []byte) error {
	if len(nonce) != NonceSize {
		return newError(ErrMalformed, nil, "nonce is %d bytes, want %d", len(nonce), NonceSize)
	}
	return nil
}

func keyIndex(k string) int {
	for i, want := range bundleKeys {
		if k == want {
			return i
		}
	}
	return -1
}

func keyList() string {
	q := make([]string, len(bundleKeys))
	for i, k := range bundleKeys {
		q[i] = pickle.Repr(pickle.String(k))
	}
	return strings.Join(q, ", ")
}
