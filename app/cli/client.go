package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/kemtcp/kemtcp/app/client"
	"github.com/kemtcp/kemtcp/app/identity"
	"github.com/kemtcp/kemtcp/app/server"
)

const clientUsage = `kem-client: sends each line of its input, encrypted, to a kem-server.

Usage:
  kem-client [flags]            type lines; 'exit' or end of input (Ctrl+D) ends the session

The server's key is checked (session protocol): with -pin against a
fingerprint, else against a known-hosts file (trust on first use, as ssh).`

// KnownHostsNone turns known-hosts checking off.
const KnownHostsNone = "none"

// Client runs kem-client with args (without the program name), reading lines
// from stdin, and returns the process's exit code. Cancelling ctx (Ctrl+C)
// ends the session cleanly.
func Client(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	const name = "kem-client"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var c common
	c.register(fs)
	pin := fs.String("pin", "", "session: accept only the server key with this `fingerprint` (SHA256:...)")
	defaultKH, khErr := identity.DefaultKnownHostsPath()
	khHelp := "session: known-hosts `file` (trust on first use; 'none' turns checking off)"
	if khErr != nil {
		defaultKH = KnownHostsNone
		khHelp += fmt.Sprintf(" [no default: %v]", khErr)
	}
	knownHosts := fs.String("known-hosts", defaultKH, khHelp)
	if exit, code := parse(fs, args, clientUsage, stdout, stderr); exit {
		return code
	}
	if c.handshakeTimeout <= 0 {
		return usageError(stderr, name, "-handshake-timeout must be positive")
	}
	scheme, err := c.scheme()
	if err != nil {
		return usageError(stderr, name, "%v", err)
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if c.proto.name == server.ProtoLegacy && (explicit["pin"] || explicit["known-hosts"] && *knownHosts != KnownHostsNone) {
		return usageError(stderr, name, "-pin and -known-hosts need -proto session: the legacy protocol cannot authenticate the server")
	}

	cfg := client.Config{
		Addr:             c.addr,
		Proto:            c.proto.name,
		Scheme:           scheme,
		MaxFrame:         c.maxFrame.n,
		DialTimeout:      c.handshakeTimeout,
		HandshakeTimeout: c.handshakeTimeout,
		Interactive:      isTerminal(stdin),
		Out:              stdout,
		Err:              stderr,
	}
	if c.proto.name == server.ProtoSession {
		verify, err := verifier(c.addr, scheme.Name(), *pin, *knownHosts)
		if err != nil {
			return usageError(stderr, name, "%v", err)
		}
		cfg.Verify = verify
	}
	if err := client.Run(ctx, cfg, stdin); err != nil {
		return failure(stderr, name, err)
	}
	return ExitOK
}

// verifier returns the check of the server's key: the pin if one is given,
// else the known-hosts file (loaded now, so that a broken file is reported
// before connecting), else none, loudly.
func verifier(addr, alg, pin, knownHosts string) (func(ek []byte) (string, error), error) {
	if pin != "" {
		if _, err := identity.ParseFingerprint(pin); err != nil {
			return nil, err
		}
		return func(ek []byte) (string, error) {
			if err := identity.CheckPin(pin, ek); err != nil {
				return "", err
			}
			return fmt.Sprintf("Server key %s matches the pinned fingerprint.", identity.Fingerprint(ek)), nil
		}, nil
	}
	if knownHosts == KnownHostsNone || knownHosts == "" {
		return func(ek []byte) (string, error) {
			return fmt.Sprintf("WARNING: server key %s NOT verified (-known-hosts none): a man in the middle would go unnoticed.", identity.Fingerprint(ek)), nil
		}, nil
	}
	addrKey, err := identity.NormalizeAddr(addr)
	if err != nil {
		return nil, err
	}
	kh, err := identity.LoadKnownHosts(knownHosts)
	if err != nil {
		return nil, err
	}
	return func(ek []byte) (string, error) {
		res, err := kh.Check(addrKey, alg, ek)
		if err != nil {
			return "", err
		}
		fp := identity.Fingerprint(ek)
		if res == identity.Known {
			return fmt.Sprintf("Server key %s is known for %s (%s).", fp, addrKey, knownHosts), nil
		}
		if err := kh.Add(addrKey, alg, ek); err != nil {
			return "", err
		}
		return fmt.Sprintf("New server %s: its %s key %s is now recorded in %s (trust on first use).", addrKey, alg, fp, knownHosts), nil
	}, nil
}

// isTerminal reports whether r is a terminal, where the client shows a prompt.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
