package cli

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
)

// badHelloMain is the test program
//
//	kem-badhello [-magic M] [-version V] [-kem-id ID] [-cut N] [-raw TEXT]
//
// a fake session server. It listens on 127.0.0.1:0, says where, accepts one
// client, and sends it a ServerHello with the given magic, version and
// kem_id (by default those of ML-KEM-768 in protocol version 1) and two
// ML-KEM-768 keys, cut to its first N bytes; or, with -raw, TEXT instead.
// It then waits for the client to hang up.
func badHelloMain(args []string, _ io.Reader, stdout io.Writer) int {
	fs := flag.NewFlagSet("kem-badhello", flag.ContinueOnError)
	magic := fs.String("magic", "KEMTCP", "the hello's magic")
	version := fs.Uint("version", 1, "the hello's protocol version")
	id := fs.Uint("kem-id", 0x0201, "the hello's kem_id")
	cut := fs.Int("cut", 0, "send only the first `N` bytes (0: all)")
	raw := fs.String("raw", "", "send this `text` instead of a hello")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: kem-badhello [-magic M] [-version V] [-kem-id ID] [-cut N] [-raw TEXT]")
		return ExitUsage
	}
	payload := []byte(*raw)
	if *raw == "" {
		s, err := kem.Lookup(kem.MLKEM768, "")
		if err != nil {
			return failure(os.Stderr, "kem-badhello", err)
		}
		dk, err := s.GenerateKey()
		if err != nil {
			return failure(os.Stderr, "kem-badhello", err)
		}
		ek := dk.EncapsulationKey().Bytes()
		payload = append([]byte(*magic), byte(*version), byte(*id>>8), byte(*id))
		payload = append(append(payload, ek...), ek...)
		if *cut > 0 {
			payload = payload[:*cut]
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return failure(os.Stderr, "kem-badhello", err)
	}
	defer ln.Close()
	fmt.Fprintf(stdout, "kem-badhello listening on %s\n", ln.Addr())
	c, err := ln.Accept()
	if err != nil {
		return failure(os.Stderr, "kem-badhello", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := frame.Write(c, payload); err != nil {
		return failure(os.Stderr, "kem-badhello", err)
	}
	io.Copy(io.Discard, c)
	return ExitOK
}
