package cli

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/identity"
	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/session"
)

// mitmMain is the test program
//
//	kem-mitm [-addr ADDR] -upstream ADDR [-keep-key]
//
// a man in the middle between kem-client and the kem-server at -upstream
// (an ML-KEM-768 session server). It listens on -addr (127.0.0.1:0: a port
// of the kernel's choice) and says where.
//
// By default it swaps in its own server key: to the client it is a session
// server, to the real server a client, and it prints every message it reads
// as it forwards it. It serves one client after the other until
// interrupted.
//
// With -keep-key it sends the client the real server's ServerHello key (so
// that a pin or known host matches) with its own ephemeral key, which it
// can decapsulate, and a FINISHED record under the keys it would have if it
// could guess ss_s: key confirmation must fail. It serves one client and
// prints how many bytes the client sent after its ClientHello.
func mitmMain(args []string, _ io.Reader, stdout io.Writer) int {
	fs := flag.NewFlagSet("kem-mitm", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen on this `address`")
	upstream := fs.String("upstream", "", "the real server's `address`")
	keepKey := fs.Bool("keep-key", false, "forward the real server's key (and fail key confirmation)")
	if err := fs.Parse(args); err != nil || *upstream == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: kem-mitm [-addr ADDR] -upstream ADDR [-keep-key]")
		return ExitUsage
	}
	scheme, err := kem.Lookup(kem.MLKEM768, "")
	if err != nil {
		return failure(os.Stderr, "kem-mitm", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return failure(os.Stderr, "kem-mitm", err)
	}
	defer ln.Close()
	ctx := Interruptible(ServerStopSignals...)
	context.AfterFunc(ctx, func() { ln.Close() })

	if *keepKey {
		fmt.Fprintf(stdout, "kem-mitm listening on %s\n", ln.Addr())
		c, err := ln.Accept()
		if err != nil {
			return failure(os.Stderr, "kem-mitm", err)
		}
		defer c.Close()
		n, err := failConfirmation(c, *upstream, scheme)
		if err != nil {
			return failure(os.Stderr, "kem-mitm", err)
		}
		fmt.Fprintf(stdout, "The client sent %d bytes after its ClientHello.\n", n)
		return ExitOK
	}

	key, err := scheme.GenerateKey()
	if err != nil {
		return failure(os.Stderr, "kem-mitm", err)
	}
	defer key.Destroy()
	fmt.Fprintf(stdout, "kem-mitm key fingerprint: %s\n", identity.Fingerprint(key.EncapsulationKey().Bytes()))
	fmt.Fprintf(stdout, "kem-mitm listening on %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ExitOK
			}
			return failure(os.Stderr, "kem-mitm", err)
		}
		relay(c, *upstream, scheme, key, stdout)
	}
}

// relay serves one client: its messages, read, go to the real server.
func relay(c net.Conn, upstream string, scheme kem.Scheme, key kem.DecapsulationKey, stdout io.Writer) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	down := session.Server(c, &session.ServerConfig{Scheme: scheme, Static: key})
	if err := down.Handshake(); err != nil {
		fmt.Fprintln(stdout, "No handshake with the client.")
		return
	}
	up, err := session.Dial("tcp", upstream, &session.ClientConfig{Scheme: scheme})
	if err != nil {
		fmt.Fprintf(stdout, "No handshake with the real server: %v\n", err)
		return
	}
	defer up.Close()
	for {
		msg, err := down.ReadMessage()
		if err != nil {
			// The client's CLOSE: pass it on, wait for the server's, and
			// answer the client's.
			up.CloseWrite()
			up.ReadMessage()
			down.CloseWrite()
			fmt.Fprintln(stdout, "The client left.")
			return
		}
		fmt.Fprintf(stdout, "Read from the client: %s\n", msg)
		up.WriteMessage(msg)
	}
}

// failConfirmation answers the client with the real server's ek_s and its own
// ephemeral key, and a FINISHED under keys derived from a guessed ss_s; it
// returns the number of bytes the client sends after its ClientHello.
func failConfirmation(c net.Conn, upstream string, scheme kem.Scheme) (int64, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	uc, err := net.Dial("tcp", upstream)
	if err != nil {
		return 0, err
	}
	realHello, err := frame.NewReader(uc, 0).Next()
	uc.Close()
	if err != nil {
		return 0, err
	}
	sh, err := wire.ParseServerHello(realHello)
	if err != nil {
		return 0, err
	}
	dkE, err := scheme.GenerateKey()
	if err != nil {
		return 0, err
	}
	sh.EphemeralKey = dkE.EncapsulationKey().Bytes()
	shPayload, err := sh.Append(nil)
	if err != nil {
		return 0, err
	}
	if err := frame.Write(c, shPayload); err != nil {
		return 0, err
	}
	chPayload, err := frame.NewReader(c, 0).Next()
	if err != nil {
		return 0, err
	}
	ch, err := wire.ParseClientHello(chPayload)
	if err != nil {
		return 0, err
	}
	ssE, err := dkE.Decapsulate(ch.EphemeralCiphertext)
	if err != nil {
		return 0, err
	}
	guess := make([]byte, 32) // ss_s cannot be had without dk_s
	rand.Read(guess)
	th := wire.TranscriptHash(shPayload, chPayload)
	prk, err := wire.Extract(th[:], ssE, guess)
	if err != nil {
		return 0, err
	}
	ts, err := wire.Expand(prk, wire.LabelServerToClient, wire.SecretSize)
	if err != nil {
		return 0, err
	}
	keyS2C, err := wire.Expand(ts, wire.LabelKey, wire.KeySize)
	if err != nil {
		return 0, err
	}
	var sealer wire.Sealer
	if err := sealer.SetKey(keyS2C); err != nil {
		return 0, err
	}
	if _, err := c.Write(frame.Append(nil, sealer.Seal(nil, wire.RecordFinished, nil))); err != nil {
		return 0, err
	}
	// Until the client closes (or resets) the connection.
	n, _ := io.Copy(io.Discard, c)
	return n, nil
}
