package session

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: a Conn, a
// handshake or a test helper that blocks forever.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
