package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/kemtcp/kemtcp/app/identity"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/legacy"
	"github.com/kemtcp/kemtcp/app/session"
)

// The libraries' errors say what happened; the commands add what to do
// about it, in the flags the user knows (as age keeps errorWithHint in
// cmd/age). hints returns the hints for err, most specific first.
func hints(err error, name string) []string {
	var h []string
	var mismatch *session.KEMMismatchError
	switch {
	case errors.As(err, &mismatch) && mismatch.ClientIsSelf:
		h = append(h, fmt.Sprintf("both sides must use the same KEM: run kem-client with -alg %s", mismatch.ServerName))
	case errors.As(err, &mismatch):
		h = append(h, "both sides must use the same KEM: the client must use this server's -alg")
	case errors.Is(err, legacy.ErrSessionPeer) && name == "kem-client":
		h = append(h, "talk to it with -proto session (the default)")
	case errors.Is(err, legacy.ErrSessionPeer):
		h = append(h, "that client speaks the session protocol: run the server with -proto session (the default)")
	case errors.Is(err, legacy.ErrKEMMismatch):
		h = append(h, "both sides must use the same KEM: give the client the server's -alg (the message says which each uses)")
	case errors.Is(err, identity.ErrExpandedKeyUnsupported):
		h = append(h, "this key file holds no seed: load it with -backend circl or -backend liboqs")
	case errors.Is(err, kem.ErrNotCompiledIn):
		h = append(h, "liboqs is not compiled into this binary: run 'make liboqs', then 'make build' (or choose -backend circl)")
	case errors.Is(err, kem.ErrUnsupported):
		h = append(h, "choose another -backend: circl and liboqs implement every ML-KEM parameter set")
	case errors.Is(err, session.ErrLegacyPeer):
		h = append(h, "kem-client -proto legacy can talk to it, but that protocol is unauthenticated: anyone in the middle can read and change what you send")
	case errors.Is(err, session.ErrClientKeyRequired):
		h = append(h, "give this client its key with -key FILE (make one with kem-client -genkey FILE, and have the server's administrator add the line kem-client -key FILE -pubout prints to its -authorized-keys file)")
	case errors.Is(err, session.ErrClientKeyRefused) && name == "kem-client":
		h = append(h, "ask the server's administrator to add this client's key, the line kem-client -key FILE -pubout prints, to the server's -authorized-keys file")
	case errors.Is(err, identity.ErrHostKeyChanged):
		var changed *identity.HostKeyChangedError
		if errors.As(err, &changed) {
			h = append(h, fmt.Sprintf("if the server's key changed on purpose (a new -key), forget the old one with: kem-client -forget %s", changed.Addr))
		}
	case errors.Is(err, identity.ErrKnownHostsFile):
		h = append(h, "choose another file with -known-hosts FILE, or check the server with -pin FINGERPRINT instead")
	case errors.Is(err, identity.ErrKeyFilePermissions):
		// The error says it: "Fix it with: chmod 600 FILE".
	case errors.Is(err, session.ErrKeyConfirmation):
		h = append(h, "someone may be in the middle, passing on the real server's key: none of your data was sent; check the address and the network path")
	case errors.Is(err, session.ErrTruncated) && strings.Contains(err.Error(), "before FINISHED"):
		h = append(h, "the server closed the connection during the handshake: it may be full, refuse this client, or be an older kem-server; its log says which")
	case errors.Is(err, session.ErrServerKeyRefused) && errors.Is(err, identity.ErrPinMismatch):
		h = append(h, "the server's key is not the one pinned: if it changed on purpose, pin the new fingerprint (kem-server prints it at start-up)")
	}
	return h
}

// failure prints err, then its hints, each on a line of its own, and
// returns ExitFailure, or ExitUsage when the error is the command line's
// (commandLineError). A multi-line error (the known-hosts banner) starts
// on a line of its own, and so does the banner within it.
func failure(stderr io.Writer, name string, err error) int {
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		fmt.Fprintf(stderr, "%s: error:\n%s\n", name, strings.TrimRight(bannerOnOwnLines(err), "\n"))
	} else {
		fmt.Fprintf(stderr, "%s: %s\n", name, msg)
	}
	for _, h := range hints(err, name) {
		fmt.Fprintf(stderr, "%s: hint: %s\n", name, h)
	}
	if commandLineError(err) {
		return ExitUsage
	}
	return ExitFailure
}

// bannerOnOwnLines returns err's message with its innermost multi-line
// part (a banner such as identity.HostKeyChangedError's, wrapped as
// "...: refused: %w") starting on a line of its own.
func bannerOnOwnLines(err error) string {
	msg := err.Error()
	banner := ""
	var walk func(e error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if s := e.Error(); strings.Contains(s, "\n") && strings.HasSuffix(msg, s) {
			banner = s // the deepest one wins
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	prefix := strings.TrimRight(strings.TrimSuffix(msg, banner), " ")
	if prefix == "" || strings.HasSuffix(prefix, "\n") {
		return msg
	}
	return prefix + "\n" + banner
}

// commandLineError reports whether err comes from flags that contradict
// each other or a key file, found only once the key or KEM is looked up:
// a usage error, as the README promises for bad flags (exit 2).
func commandLineError(err error) bool {
	var mismatch *algMismatchError
	return errors.As(err, &mismatch) || errors.Is(err, kem.ErrUnsupported)
}
