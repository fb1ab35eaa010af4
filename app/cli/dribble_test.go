package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/session"
)

// dribbleMain is the test program
//
//	kem-dribble (-connect ADDR | -listen) [-handshake] [-bytes N] [-within D]
//
// a session peer that stalls: with -connect, a client of the server at
// ADDR; with -listen, a server on 127.0.0.1:0 (it says where) for one
// client. With -handshake it first completes an ML-KEM-768 session
// handshake (as a client, it checks no server key; as a server, its key is
// new). Then it sends the first N bytes (default 0) of a frame's 4-byte
// header, and stalls, reading and dropping what comes, until the peer
// hangs up. It says so, and exits 0; with -within, it exits 1 instead when
// the peer took longer than D to hang up (counted from the stall), and
// hangs up itself then.
func dribbleMain(args []string, _ io.Reader, stdout io.Writer) int {
	fs := flag.NewFlagSet("kem-dribble", flag.ContinueOnError)
	connect := fs.String("connect", "", "be a client of the server at this `address`")
	listen := fs.Bool("listen", false, "be a server for one client")
	handshake := fs.Bool("handshake", false, "complete a session handshake first")
	n := fs.Int("bytes", 0, "send the first `N` bytes of a frame header (0 to 3)")
	within := fs.Duration("within", 0, "fail unless the peer hangs up within this `duration` (0: wait as long as it takes)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || (*connect == "") == !*listen || *n < 0 || *n >= frame.HeaderSize {
		fmt.Fprintln(os.Stderr, "usage: kem-dribble (-connect ADDR | -listen) [-handshake] [-bytes N] [-within D]")
		return ExitUsage
	}
	scheme, err := kem.Lookup(kem.MLKEM768, "")
	if err != nil {
		return failure(os.Stderr, "kem-dribble", err)
	}
	var c net.Conn
	peer := "server"
	if *listen {
		peer = "client"
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return failure(os.Stderr, "kem-dribble", err)
		}
		fmt.Fprintf(stdout, "kem-dribble listening on %s\n", ln.Addr())
		c, err = ln.Accept()
		ln.Close()
		if err != nil {
			return failure(os.Stderr, "kem-dribble", err)
		}
	} else if c, err = net.Dial("tcp", *connect); err != nil {
		return failure(os.Stderr, "kem-dribble", err)
	}
	defer c.Close()

	if *handshake {
		var sc *session.Conn
		if *listen {
			dk, err := scheme.GenerateKey()
			if err != nil {
				return failure(os.Stderr, "kem-dribble", err)
			}
			defer dk.Destroy()
			sc = session.Server(c, &session.ServerConfig{Scheme: scheme, Static: dk})
		} else {
			sc = session.Client(c, &session.ClientConfig{Scheme: scheme})
		}
		c.SetDeadline(time.Now().Add(waitTimeout))
		if err := sc.Handshake(); err != nil {
			return failure(os.Stderr, "kem-dribble", fmt.Errorf("handshake: %w", err))
		}
		c.SetDeadline(time.Time{})
		fmt.Fprintln(stdout, "Handshake complete.")
	}
	if _, err := c.Write(make([]byte, *n)); err != nil {
		return failure(os.Stderr, "kem-dribble", err)
	}
	if *within > 0 {
		c.SetReadDeadline(time.Now().Add(*within))
	}
	_, err = io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		fmt.Fprintf(os.Stderr, "kem-dribble: the %s did not hang up within %v\n", peer, *within)
		return ExitFailure
	}
	fmt.Fprintf(stdout, "The %s hung up.\n", peer)
	return ExitOK
}
