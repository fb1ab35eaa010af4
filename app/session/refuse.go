package session

import (
	"fmt"
	"net"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/wire"
)

// RefusalReason says why a server refuses a connection before the
// handshake (Refuse).
type RefusalReason uint8

const (
	// RefusedFull: the server is serving as many connections as it may.
	RefusedFull RefusalReason = wire.RefusedFull
	// RefusedPerSource: too many connections from the client's address.
	RefusedPerSource RefusalReason = wire.RefusedPerSource
	// RefusedShuttingDown: the server is shutting down.
	RefusedShuttingDown RefusalReason = wire.RefusedShuttingDown
)

func (r RefusalReason) String() string { return wire.RefusalReason(byte(r)) }

// Refuse tells a client, in place of a ServerHello, that the server will not
// serve it and why (PROTOCOL.md, "Refusal before the handshake"); the
// client's handshake then fails with an error wrapping ErrRefused that says
// so. It costs one small write and no cryptography; the caller closes conn.
// The refusal is not authenticated.
func Refuse(conn net.Conn, reason RefusalReason) error {
	b := frame.AppendHeader(make([]byte, 0, frame.HeaderSize+wire.RefusalSize), wire.RefusalSize)
	if _, err := conn.Write(wire.AppendRefusal(b, byte(reason))); err != nil {
		return fmt.Errorf("session: refuse: %w", err)
	}
	return nil
}
