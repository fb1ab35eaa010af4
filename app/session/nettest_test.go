package session

import (
	"net"
	"testing"

	"golang.org/x/net/nettest"

	"github.com/kemtcp/kemtcp/app/kem"
)

// TestNetConn runs golang.org/x/net/nettest's net.Conn conformance suite
// (basic I/O, ping-pong, racy reads and writes, past and future timeouts,
// concurrent methods, close timeouts) on sessions over real TCP, on every
// backend. crypto/tls fails three of its subtests (a timed-out Write breaks
// a tls.Conn); a session keeps the stream whole.
func TestNetConn(t *testing.T) {
	forEachBackend(t, kem.MLKEM768, func(t *testing.T, s kem.Scheme) {
		sc, cc := configs(t, s)
		nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
			ln, err := Listen("tcp", "127.0.0.1:0", sc)
			if err != nil {
				return nil, nil, nil, err
			}
			defer ln.Close()
			type result struct {
				c   net.Conn
				err error
			}
			accepted := make(chan result, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					err = c.(*Conn).Handshake()
				}
				accepted <- result{c, err}
			}()
			cli, err := Dial("tcp", ln.Addr().String(), cc)
			if err != nil {
				return nil, nil, nil, err
			}
			r := <-accepted
			if r.err != nil {
				cli.Close()
				return nil, nil, nil, r.err
			}
			return cli, r.c, func() {
				cli.Close()
				r.c.Close()
			}, nil
		})
	})
}
