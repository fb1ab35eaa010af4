package wire

import (
	"errors"
	"fmt"
)

// Errors of the session protocol; package session exports each under the
// same name. They are wrapped with the stage and the values involved, so
// compare them with errors.Is.
var (
	ErrBadMagic          = errors.New("bad magic (the peer does not speak the kemtcp session protocol)")
	ErrLegacyPeer        = errors.New("the server speaks the original demo's legacy protocol (its first frame is a pickled key), not the session protocol")
	ErrVersion           = errors.New("unsupported protocol version")
	ErrFlags             = errors.New("unknown ServerHello flags")
	ErrUnknownKEM        = errors.New("unknown KEM id")
	ErrKEMMismatch       = errors.New("KEM mismatch")
	ErrLength            = errors.New("wrong length")
	ErrBadKey            = errors.New("invalid encapsulation key")
	ErrServerKeyRefused  = errors.New("server key refused")
	ErrKeyConfirmation   = errors.New("server failed key confirmation: it does not hold the private key for the key it sent")
	ErrClientKeyRequired = errors.New("the server requires a client key")
	ErrClientKeyRefused  = errors.New("client key refused")
	ErrRefused           = errors.New("the server refused the connection")
	ErrAuth              = errors.New("record failed to authenticate")
	ErrTruncated         = errors.New("connection ended without CLOSE (truncated)")
	ErrUnknownRecordType = errors.New("unknown record type")
	ErrUnexpectedRecord  = errors.New("unexpected record")
	ErrRecordLimit       = errors.New("key usage limit reached")
)

// KEMMismatchError says which KEM each side uses; it matches
// ErrKEMMismatch.
type KEMMismatchError struct {
	Stage        string
	Server       string // the server's KEM, as Describe names it
	Client       string
	ServerName   string // the server's canonical name, e.g. "ML-KEM-1024"
	ClientIsSelf bool   // this side is the client
}

func (e *KEMMismatchError) Error() string {
	return fmt.Sprintf("%s: %v: the server uses %s, the client %s", e.Stage, ErrKEMMismatch, e.Server, e.Client)
}

func (e *KEMMismatchError) Is(target error) bool { return target == ErrKEMMismatch }
