package server

import (
	"errors"
	"net"

	proxyproto "github.com/pires/go-proxyproto"
)

// stageProxyHeader is the stage of a connection that failed before its
// handshake because of its PROXY protocol header.
const stageProxyHeader = "PROXY header"

// proxyHeaderError reports what is wrong with the PROXY protocol header of
// a connection accepted through a proxyproto.Listener (the load balancer
// sent none, or a client that is not a load balancer sent one), before the
// server says anything to it. Other connections have no header to check.
func proxyHeaderError(raw net.Conn) error {
	pc, ok := raw.(*proxyproto.Conn)
	if !ok {
		return nil
	}
	// A read of nothing makes the wrapper read and check the header, and
	// consumes no byte of the client's.
	_, err := pc.Read(nil)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		return errors.New("no PROXY protocol header, which a load balancer's connection must start with")
	case errors.Is(err, proxyproto.ErrSuperfluousProxyHeader):
		return errors.New("a PROXY protocol header from an address that is not a trusted load balancer")
	default:
		return err
	}
}
