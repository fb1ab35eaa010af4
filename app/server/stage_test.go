package server

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/session"
)

// TestHandshakeStage: the metrics' stage label of a failed handshake is the
// stage its error names, a refused client key's included (its error says
// "client key refused", not "client key: ...").
func TestHandshakeStage(t *testing.T) {
	for msg, want := range map[error]string{
		errors.New("ServerHello: send: broken pipe"):                    "ServerHello",
		errors.New("ClientHello: bad magic"):                            "ClientHello",
		errors.New("client key: invalid encapsulation key"):             "client key",
		fmt.Errorf("%w: SHA256:x: not in", session.ErrClientKeyRefused): "client key",
		errors.New("FINISHED: from the client: record 0"):               "FINISHED",
		errors.New("read tcp: i/o timeout"):                             "other",
		errors.New("ClientHellos are great"):                            "other",
	} {
		require.Equal(t, want, handshakeStage(msg), msg.Error())
	}
}
