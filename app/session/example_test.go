package session_test

import (
	"fmt"
	"io"
	"net"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/session"
)

// A server and a client run the handshake over a connection, the client
// sends a line and closes, the server answers and closes.
func Example() {
	scheme, err := kem.Lookup(kem.MLKEM768, "")
	if err != nil {
		panic(err)
	}
	static, err := scheme.GenerateKey() // dk_s, usually loaded from a key file
	if err != nil {
		panic(err)
	}
	serverSide, clientSide := net.Pipe() // usually a TCP connection
	defer serverSide.Close()
	defer clientSide.Close()

	go func() {
		c, err := session.Server(serverSide, &session.ServerConfig{Scheme: scheme, Static: static})
		if err != nil {
			serverSide.Close() // the caller closes on error
			return
		}
		for {
			line, err := c.Recv()
			if err == io.EOF { // the client's CLOSE
				c.CloseWrite()
				return
			}
			if err != nil {
				return
			}
			c.Send(append([]byte("got: "), line...))
		}
	}()

	c, err := session.Client(clientSide, &session.ClientConfig{
		Scheme: scheme,
		VerifyServerKey: func(ekS []byte) error {
			return nil // compare with a pin or a known-hosts entry here
		},
	})
	if err != nil {
		fmt.Println("handshake:", err)
		return
	}
	c.Send([]byte("hello"))
	reply, _ := c.Recv()
	fmt.Println(string(reply))
	c.CloseWrite()
	_, err = c.Recv()
	fmt.Println(err == io.EOF)
	// Output:
	// got: hello
	// true
}
