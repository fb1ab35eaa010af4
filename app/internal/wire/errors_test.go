package wire

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestKEMMismatchErrorIs: a KEMMismatchError matches ErrKEMMismatch, even
// wrapped, and no other error of the protocol.
func TestKEMMismatchErrorIs(t *testing.T) {
	err := fmt.Errorf("handshake: %w", &KEMMismatchError{Stage: StageServerHello, Server: "ML-KEM-1024", Client: "ML-KEM-768"})
	assert.ErrorIs(t, err, ErrKEMMismatch)
	for _, other := range []error{ErrUnknownKEM, ErrVersion, ErrBadKey, errors.New("KEM mismatch")} {
		assert.NotErrorIs(t, err, other)
	}
	assert.EqualError(t, err, "handshake: "+StageServerHello+": KEM mismatch: the server uses ML-KEM-1024, the client ML-KEM-768")
}
