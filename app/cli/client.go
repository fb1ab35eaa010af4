package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/kemtcp/kemtcp/app/client"
	"github.com/kemtcp/kemtcp/app/identity"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/server"
)

const clientUsage = `kem-client: talks to a kem-server over a post-quantum (ML-KEM, X-Wing) encrypted channel.

Usage:
  kem-client [flags]                    chat: type lines; 'exit' or end of input (Ctrl+D) ends
  kem-client -listen ADDR [flags]       tunnel: carry each local TCP connection to ADDR in its own session
  kem-client -stdio [flags]             tunnel stdin and stdout over one session (ssh ProxyCommand)
  kem-client -genkey FILE [-alg ALG]    write a new client private key to FILE
  kem-client -key FILE -pubout          print FILE's public key as a line for -authorized-keys
  kem-client -forget HOST:PORT          forget the server key recorded for HOST:PORT

The server's key is checked (session protocol): with -pin against a
fingerprint, else against a known-hosts file (trust on first use, as ssh).`

// KnownHostsNone turns known-hosts checking off.
const KnownHostsNone = "none"

// clientFlags are kem-client's flags.
type clientFlags struct {
	common
	pin, knownHosts string
	forget          string
	genkey, keyFile string
	pubout          bool
	listen          string
	stdio           bool
}

// Client runs kem-client with args (without the program name), reading
// stdin, and returns the process's exit code. Cancelling ctx (Ctrl+C) ends
// the session cleanly.
func Client(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	const name = "kem-client"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var f clientFlags
	f.register(fs)
	fs.StringVar(&f.pin, "pin", "", "session: accept only the server key with this `fingerprint` (SHA256:...)")
	fs.StringVar(&f.knownHosts, "known-hosts", "", "session: known-hosts `file` (trust on first use; 'none' turns checking off) (default: the user's config folder, kemtcp/known_hosts)")
	fs.StringVar(&f.forget, "forget", "", "remove the server key recorded for `HOST:PORT` from the known-hosts file, and exit")
	fs.StringVar(&f.genkey, "genkey", "", "write a new client private key to `FILE` (mode 0600) and exit")
	fs.StringVar(&f.keyFile, "key", "", "the client's private key `FILE`, for servers that require client keys")
	fs.BoolVar(&f.pubout, "pubout", false, "with -key: print the public key as one line for the server's -authorized-keys, and exit")
	fs.StringVar(&f.listen, "listen", "", "tunnel: accept local TCP connections on `ADDR` (loopback unless the address says otherwise)")
	fs.BoolVar(&f.stdio, "stdio", false, "tunnel stdin and stdout over one session (for ssh -o ProxyCommand)")
	if exit, code := parse(fs, args, clientUsage, stdout, stderr); exit {
		return code
	}
	set := explicit(fs)
	legacy := f.proto.name == server.ProtoLegacy
	switch {
	case legacy && (set["pin"] || set["known-hosts"] && f.knownHosts != KnownHostsNone):
		return usageError(stderr, name, "-pin and -known-hosts need -proto session: the legacy protocol cannot authenticate the server")
	case legacy && (f.listen != "" || f.stdio):
		return usageError(stderr, name, "-listen and -stdio need -proto session: the legacy protocol carries only lines to the server")
	case legacy && f.alg.name == kem.XWing:
		return usageError(stderr, name, "%s", legacyXWing)
	case legacy && f.keyFile != "":
		return usageError(stderr, name, "-key needs -proto session: the legacy protocol has no client keys")
	case f.listen != "" && f.stdio:
		return usageError(stderr, name, "-listen and -stdio do not go together")
	case f.pubout && f.keyFile == "":
		return usageError(stderr, name, "-pubout needs -key FILE")
	case f.genkey != "" && f.keyFile != "":
		return usageError(stderr, name, "-genkey and -key do not go together")
	}
	if f.pin != "" {
		if _, err := identity.ParseFingerprint(f.pin); err != nil {
			return usageError(stderr, name, "%v", err)
		}
	}

	switch {
	case f.genkey != "":
		if err := genKey(stdout, f.genkey, f.alg.name, "Client"); err != nil {
			return failure(stderr, name, err)
		}
		fmt.Fprintf(stdout, "Give the server's administrator the line of: kem-client -key %s -pubout\n", f.genkey)
		return ExitOK
	case f.forget != "":
		return f.forgetHost(stdout, stderr)
	}

	var key *loadedKey
	if f.keyFile != "" {
		var err error
		if key, err = loadKey(f.keyFile, f.alg, f.backend.name); err != nil {
			return failure(stderr, name, err)
		}
		defer key.dk.Destroy()
		f.alg.name = key.alg
		if f.pubout {
			line, err := identity.FormatAuthorizedKey(key.alg, key.dk.EncapsulationKey().Bytes(), defaultComment())
			if err != nil {
				return failure(stderr, name, err)
			}
			fmt.Fprintln(stdout, line)
			return ExitOK
		}
	}
	scheme, err := f.scheme()
	if err != nil {
		return failure(stderr, name, err)
	}
	cfg := client.Config{
		Addr:             f.addr,
		Proto:            f.proto.name,
		Scheme:           scheme,
		MaxFrame:         f.maxFrame.n,
		DialTimeout:      f.handshakeTimeout.d,
		HandshakeTimeout: f.handshakeTimeout.d,
		Out:              stdout,
		Err:              stderr,
	}
	if key != nil {
		cfg.ClientKey = key.dk
	}
	if !legacy {
		verify, err := f.verifier(stderr)
		if err != nil {
			return failure(stderr, name, err)
		}
		cfg.Verify = verify
	}

	switch {
	case f.listen != "":
		return f.tunnel(ctx, cfg, stdout, stderr)
	case f.stdio:
		cfg.Out = io.Discard
		if err := (&client.Stdio{Config: cfg}).Run(ctx, stdin, stdout); err != nil {
			return failure(stderr, name, err)
		}
		return ExitOK
	}
	if legacy {
		fmt.Fprintln(stderr, "warning: the legacy protocol does not authenticate the server: anyone in the middle can read these messages (use -proto session with -pin)")
	}
	chat := &client.Chat{Config: cfg, Interactive: isTerminal(stdin)}
	if err := chat.Run(ctx, stdin); err != nil {
		return failure(stderr, name, err)
	}
	return ExitOK
}

// tunnel runs -listen.
func (f *clientFlags) tunnel(ctx context.Context, cfg client.Config, stdout, stderr io.Writer) int {
	const name = "kem-client"
	addr := f.listen
	if _, _, err := net.SplitHostPort(addr); err != nil {
		// A bare port: loopback.
		addr = net.JoinHostPort("127.0.0.1", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return failure(stderr, name, fmt.Errorf("cannot listen on %s: %w", addr, err))
	}
	if t, ok := ln.Addr().(*net.TCPAddr); ok && !t.IP.IsLoopback() {
		fmt.Fprintf(stderr, "%s: warning: listening on %s, which is not a loopback address: anyone who can reach it can use the tunnel\n", name, ln.Addr())
	}
	fmt.Fprintf(stdout, "kemtcp tunnel: %s, backend %s\n", cfg.Scheme.Name(), backendLabel(cfg.Scheme))
	fmt.Fprintf(stdout, "Listening on %s; each connection goes to %s in a session of its own.\n", ln.Addr(), cfg.Addr)
	t := &client.Tunnel{Config: cfg, Log: newTextLog(stdout)}
	if err := t.Serve(ctx, ln); err != nil {
		return failure(stderr, name, err)
	}
	fmt.Fprintln(stdout, "Tunnel closed.")
	return ExitOK
}

// forgetHost runs -forget.
func (f *clientFlags) forgetHost(stdout, stderr io.Writer) int {
	const name = "kem-client"
	addr, err := identity.NormalizeAddr(f.forget)
	if err != nil {
		return usageError(stderr, name, "-forget %q: %v", f.forget, err)
	}
	kh, err := f.loadKnownHosts("-known-hosts FILE")
	if err != nil {
		return failure(stderr, name, err)
	}
	n, err := kh.Remove(addr)
	if err != nil {
		return failure(stderr, name, err)
	}
	if n == 0 {
		fmt.Fprintf(stdout, "No key was recorded for %s in %s.\n", addr, kh.Path())
	} else {
		fmt.Fprintf(stdout, "Removed the key recorded for %s from %s.\n", addr, kh.Path())
	}
	return ExitOK
}

// loadKnownHosts loads -known-hosts, or the default file (whose folder
// may be created). Without a default location, the error says what to
// give instead: the flags in give.
func (f *clientFlags) loadKnownHosts(give string) (*identity.KnownHosts, error) {
	if f.knownHosts != "" {
		return identity.LoadKnownHosts(f.knownHosts)
	}
	kh, err := identity.LoadDefaultKnownHosts()
	switch {
	case errors.Is(err, identity.ErrKnownHostsFile): // its hint says what to give
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w (give %s)", err, give)
	}
	return kh, nil
}

// verifier returns the check of the server's key: the pin if one is given,
// else the known-hosts file (loaded now, so that a broken file is reported
// before connecting), else none, loudly. A new server's key is recorded
// only once the server has proven it holds it.
func (f *clientFlags) verifier(stderr io.Writer) (func(ek []byte) (func() (string, error), error), error) {
	if f.pin != "" {
		if _, err := identity.ParseFingerprint(f.pin); err != nil {
			return nil, err
		}
		return func(ek []byte) (func() (string, error), error) {
			if err := identity.CheckPin(f.pin, ek); err != nil {
				return nil, err
			}
			return func() (string, error) {
				return fmt.Sprintf("Server key %s matches the pinned fingerprint.", identity.Fingerprint(ek)), nil
			}, nil
		}, nil
	}
	if f.knownHosts == KnownHostsNone {
		return func(ek []byte) (func() (string, error), error) {
			return func() (string, error) {
				return fmt.Sprintf("WARNING: server key %s NOT verified (-known-hosts none): a man in the middle would go unnoticed.", identity.Fingerprint(ek)), nil
			}, nil
		}, nil
	}
	addrKey, err := identity.NormalizeAddr(f.addr)
	if err != nil {
		return nil, err
	}
	kh, err := f.loadKnownHosts("-known-hosts FILE, or -pin FINGERPRINT")
	if err != nil {
		return nil, err
	}
	alg := kemName(f.alg.name)
	return func(ek []byte) (func() (string, error), error) {
		res, err := kh.Check(addrKey, alg, ek)
		if err != nil {
			return nil, err
		}
		fp := identity.Fingerprint(ek)
		if res == identity.Known {
			return func() (string, error) {
				return fmt.Sprintf("Server key %s is known for %s (%s).", fp, addrKey, kh.Path()), nil
			}, nil
		}
		return func() (string, error) {
			if err := kh.Add(addrKey, alg, ek); err != nil {
				return "", err
			}
			return fmt.Sprintf("New server %s: its %s key %s is now recorded in %s (trust on first use).", addrKey, alg, fp, kh.Path()), nil
		}, nil
	}, nil
}

// isTerminal reports whether r is a terminal, where the chat shows a
// prompt (not /dev/null, a pipe or a file).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// newTextLog prints a tunnel's events as lines.
func newTextLog(w io.Writer) *slog.Logger { return server.NewTextLogger(w) }
