package session_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/session"
)

// Listen serves sessions as tls.Listen serves TLS: Accept returns a
// *session.Conn whose handshake runs on first use.
func ExampleListen() {
	scheme, err := kem.Lookup(kem.MLKEM768, "")
	if err != nil {
		log.Fatal(err)
	}
	key, err := scheme.GenerateKey() // in production: loaded from a key file
	if err != nil {
		log.Fatal(err)
	}
	ln, err := session.Listen("tcp", "127.0.0.1:0", &session.ServerConfig{Scheme: scheme, Static: key})
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c) // echo, until the client's CLOSE
	}()

	// A client that pins the server's key.
	ek := key.EncapsulationKey().Bytes()
	c, err := session.Dial("tcp", ln.Addr().String(), &session.ClientConfig{
		Scheme: scheme,
		VerifyServerKey: func(got []byte) error {
			if !bytes.Equal(got, ek) {
				return fmt.Errorf("not the pinned key")
			}
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "hello, post-quantum world")
	c.CloseWrite()
	echo, err := io.ReadAll(c)
	fmt.Printf("%s %v\n", echo, err)
	// Output: hello, post-quantum world <nil>
}

// Dial connects and completes the handshake; ConnectionState then tells
// what the session is, and binds other protocols to it.
func ExampleDial() {
	scheme, _ := kem.Lookup(kem.MLKEM768, "")
	key, _ := scheme.GenerateKey()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		c := session.Server(raw, &session.ServerConfig{Scheme: scheme, Static: key})
		defer c.Close()
		io.Copy(io.Discard, c)
	}()

	c, err := session.Dial("tcp", ln.Addr().String(), &session.ClientConfig{Scheme: scheme})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	cs := c.ConnectionState()
	binding, _ := cs.ExportKeyingMaterial("EXPERIMENTAL my protocol", nil, 32)
	fmt.Println(cs.Version, cs.KEM, cs.HandshakeComplete, len(binding))
	// Output: 2 ML-KEM-768 true 32
}
