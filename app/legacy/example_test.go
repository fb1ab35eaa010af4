package legacy_test

import (
	"fmt"
	"io"
	"net"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/legacy"
)

func Example() {
	s, err := kem.Lookup(kem.MLKEM768, "")
	if err != nil {
		panic(err)
	}
	dk, err := s.GenerateKey()
	if err != nil {
		panic(err)
	}
	serverSide, clientSide := net.Pipe()

	done := make(chan struct{})
	go func() { // the server
		defer close(done)
		defer serverSide.Close()
		c, err := legacy.Accept(serverSide, dk, 0)
		if err != nil {
			panic(err)
		}
		for {
			line, err := c.Recv()
			if err == io.EOF {
				fmt.Println("Client disconnected.")
				return
			}
			if err != nil {
				panic(err)
			}
			fmt.Printf("Decrypted from client: %s\n", line)
		}
	}()

	c, err := legacy.Connect(clientSide, s, 0) // the client
	if err != nil {
		panic(err)
	}
	c.Send([]byte("Hello from client using ML-KEM!"))
	c.Send([]byte("exit"))
	clientSide.Close()
	<-done
	// Output:
	// Decrypted from client: Hello from client using ML-KEM!
	// Decrypted from client: exit
	// Client disconnected.
}
