package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"

	"github.com/kemtcp/kemtcp/app/identity"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/server"
)

const serverUsage = `kem-server: a post-quantum (ML-KEM) encrypted TCP server.

Usage:
  kem-server [flags]                      serve (a fresh key per run)
  kem-server -key FILE [flags]            serve with the key in FILE
  kem-server -genkey FILE [-alg ALG]      write a new private key to FILE
  kem-server -key FILE -pubout            print FILE's public key and fingerprint`

// Server runs kem-server with args (without the program name) until ctx is
// cancelled, and returns the process's exit code. ready, if not nil, is
// called with the listener's address once it accepts connections.
func Server(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(net.Addr)) int {
	const name = "kem-server"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var c common
	c.register(fs)
	once := fs.Bool("once", false, "serve one client and exit, as the original demo")
	echo := fs.Bool("echo", false, "session: answer every message with the same bytes")
	quiet := fs.Bool("quiet", false, "do not print a line per message")
	maxConns := fs.Int("max-conns", server.DefaultMaxConns, "most connections served at once")
	grace := fs.Duration("grace", server.DefaultGrace, "on Ctrl+C or SIGTERM, time open connections get to finish")
	genkey := fs.String("genkey", "", "write a new private key to `FILE` (mode 0600) and exit")
	keyFile := fs.String("key", "", "serve with the private key in `FILE` (PEM, PKCS#8) instead of a fresh one")
	pubout := fs.Bool("pubout", false, "with -key: print the public key (PEM) and fingerprint and exit")
	if exit, code := parse(fs, args, serverUsage, stdout, stderr); exit {
		return code
	}
	if *maxConns < 1 {
		return usageError(stderr, name, "-max-conns must be at least 1")
	}
	if *grace < 0 || c.handshakeTimeout <= 0 {
		return usageError(stderr, name, "-grace and -handshake-timeout must be positive")
	}
	if *echo && c.proto.name != server.ProtoSession {
		return usageError(stderr, name, "-echo needs -proto session: the legacy protocol has no server-to-client messages")
	}
	if *pubout && *keyFile == "" {
		return usageError(stderr, name, "-pubout needs -key FILE")
	}
	if *genkey != "" && *keyFile != "" {
		return usageError(stderr, name, "-genkey and -key do not go together")
	}

	if *genkey != "" {
		return genKey(*genkey, c.alg.name, stdout, stderr)
	}

	// The key: from -key (whose algorithm wins; -alg must agree), or fresh.
	var pk *identity.PrivateKey
	if *keyFile != "" {
		var err error
		if pk, err = identity.ReadPrivateKeyFile(*keyFile); err != nil {
			return failure(stderr, name, err)
		}
		defer pk.Wipe()
		if c.alg.set && c.alg.name != pk.Algorithm {
			return usageError(stderr, name, "-alg %s does not match the key in %s, which is %s", c.alg.name, *keyFile, pk.Algorithm)
		}
		c.alg.name = pk.Algorithm
	}
	scheme, err := c.scheme()
	if err != nil {
		return usageError(stderr, name, "%v", err)
	}
	var dk kem.DecapsulationKey
	if pk != nil {
		dk, err = pk.DecapsulationKey(scheme)
	} else {
		dk, err = scheme.GenerateKey()
	}
	if err != nil {
		return failure(stderr, name, err)
	}
	defer dk.Destroy()
	ek := dk.EncapsulationKey().Bytes()

	if *pubout {
		pem, err := identity.MarshalPublicKeyPEM(scheme.Name(), ek)
		if err != nil {
			return failure(stderr, name, err)
		}
		stdout.Write(pem)
		fmt.Fprintf(stdout, "%s %s\n", scheme.Name(), identity.Fingerprint(ek))
		return ExitOK
	}

	srv, err := server.New(server.Config{
		Proto:            c.proto.name,
		Scheme:           scheme,
		Key:              dk,
		Once:             *once,
		Echo:             *echo,
		Quiet:            *quiet,
		MaxFrame:         c.maxFrame.n,
		HandshakeTimeout: c.handshakeTimeout,
		MaxConns:         *maxConns,
		Grace:            *grace,
		Out:              stdout,
	})
	if err != nil {
		return usageError(stderr, name, "%v", err)
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return failure(stderr, name, fmt.Errorf("cannot listen on %s: the address is already in use (another kem-server? choose another with -addr)", c.addr))
		}
		return failure(stderr, name, fmt.Errorf("cannot listen on %s: %w", c.addr, err))
	}
	fmt.Fprintf(stdout, "kemtcp server: protocol %s, %s, backend %s\n", c.proto.name, scheme.Name(), backendLabel(scheme))
	switch {
	case c.proto.name == server.ProtoLegacy:
		fmt.Fprintln(stdout, "Warning: the legacy protocol does not authenticate the server; clients cannot detect a man in the middle.")
	case pk != nil:
		fmt.Fprintf(stdout, "Server key fingerprint: %s (from %s)\n", identity.Fingerprint(ek), *keyFile)
	default:
		fmt.Fprintf(stdout, "Server key fingerprint: %s (new key for this run; use -genkey and -key to keep one)\n", identity.Fingerprint(ek))
	}
	fmt.Fprintf(stdout, "Server listening on %s\n", listenAddr(c.addr, ln.Addr()))
	if ready != nil {
		ready(ln.Addr())
	}
	if err := srv.Serve(ctx, ln); err != nil {
		return failure(stderr, name, err)
	}
	return ExitOK
}

func genKey(path, alg string, stdout, stderr io.Writer) int {
	const name = "kem-server"
	s, err := kem.Lookup(alg, kem.BackendCircl)
	if err != nil {
		return failure(stderr, name, err)
	}
	dk, err := s.GenerateKey()
	if err != nil {
		return failure(stderr, name, err)
	}
	defer dk.Destroy()
	seed := dk.Bytes()
	defer clear(seed)
	if err := identity.WritePrivateKeyFile(path, alg, seed); err != nil {
		return failure(stderr, name, err)
	}
	fmt.Fprintf(stdout, "Wrote a new %s private key to %s\nServer key fingerprint: %s\n", alg, path, identity.Fingerprint(dk.EncapsulationKey().Bytes()))
	return ExitOK
}

// listenAddr is the address to print: the listener's, except that a wildcard
// host stays as it was asked for (0.0.0.0 rather than Go's dual-stack [::]).
func listenAddr(asked string, got net.Addr) string {
	t, ok := got.(*net.TCPAddr)
	if !ok || !t.IP.IsUnspecified() {
		return got.String()
	}
	host, _, err := net.SplitHostPort(asked)
	if err != nil {
		return got.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(t.Port))
}
