// Package cli holds the command-line programs kem-server and kem-client, so
// that tests can run them in-process; their main packages only call
// Server or Client with the process's arguments, streams and signals.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/server"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Flag defaults shared by both commands.
const (
	DefaultAddr  = "127.0.0.1:5000"
	DefaultAlg   = kem.MLKEM768
	DefaultProto = server.ProtoSession
	// MinMaxFrame is the smallest -max-frame that still fits every
	// protocol's first message (an ML-KEM-1024 ServerHello is 3,145 bytes).
	MinMaxFrame = 4096
	MaxMaxFrame = 1 << 30
)

// algFlag holds a canonical algorithm name.
type algFlag struct {
	name string
	set  bool
}

func (f *algFlag) String() string { return f.name }
func (f *algFlag) Set(s string) error {
	name, err := kem.CanonicalName(s)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), kem.ErrUnknownAlgorithm.Error()+" "))
	}
	f.name, f.set = name, true
	return nil
}

// backendFlag holds a backend compiled into this binary ("" = default).
type backendFlag struct{ name string }

func (f *backendFlag) String() string { return f.name }
func (f *backendFlag) Set(s string) error {
	s = strings.ToLower(strings.TrimSpace(s))
	if !slices.Contains(kem.AllBackends(), s) {
		return fmt.Errorf("unknown backend %q (want one of %s)", s, strings.Join(kem.AllBackends(), ", "))
	}
	if !slices.Contains(kem.Backends(), s) {
		if s == kem.BackendLiboqs {
			return errors.New("liboqs is not compiled into this binary: run 'make liboqs' and build with -tags liboqs (or 'make build')")
		}
		return fmt.Errorf("backend %q is not compiled into this binary", s)
	}
	f.name = s
	return nil
}

// protoFlag holds a protocol name.
type protoFlag struct{ name string }

func (f *protoFlag) String() string { return f.name }
func (f *protoFlag) Set(s string) error {
	switch s {
	case server.ProtoSession, server.ProtoLegacy:
		f.name = s
		return nil
	case "seed":
		return errors.New(`"seed" is now called "legacy": use -proto legacy (the original demo's unauthenticated protocol)`)
	}
	return fmt.Errorf("unknown protocol %q (want session or legacy)", s)
}

// sizeFlag is a byte count within [min, max].
type sizeFlag struct {
	n        int
	min, max int
}

func (f *sizeFlag) String() string { return strconv.Itoa(f.n) }
func (f *sizeFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < f.min || n > f.max {
		return fmt.Errorf("want a number of bytes from %d to %d", f.min, f.max)
	}
	f.n = n
	return nil
}

// common are the flags both commands have.
type common struct {
	addr             string
	alg              algFlag
	backend          backendFlag
	proto            protoFlag
	maxFrame         sizeFlag
	handshakeTimeout time.Duration
}

func (c *common) register(fs *flag.FlagSet) {
	c.alg.name = DefaultAlg
	c.proto.name = DefaultProto
	c.maxFrame = sizeFlag{n: frame.DefaultMaxSize, min: MinMaxFrame, max: MaxMaxFrame}
	fs.StringVar(&c.addr, "addr", DefaultAddr, "TCP `address` (host:port)")
	fs.Var(&c.alg, "alg", "KEM: ML-KEM-512, ML-KEM-768 or ML-KEM-1024 (or 512, 768, 1024)")
	fs.Var(&c.backend, "backend", "KEM backend: "+strings.Join(kem.Backends(), ", ")+" (compiled into this binary; default "+kem.DefaultBackend()+")")
	fs.Var(&c.proto, "proto", "wire protocol: session (authenticated channel) or legacy (the original Python demo's; unauthenticated)")
	fs.Var(&c.maxFrame, "max-frame", "largest frame accepted, in `bytes`")
	fs.DurationVar(&c.handshakeTimeout, "handshake-timeout", server.DefaultHandshakeTimeout, "time allowed for the key exchange, and for each frame once its first byte has arrived")
}

// scheme looks up the KEM the flags name.
func (c *common) scheme() (kem.Scheme, error) {
	return kem.Lookup(c.alg.name, c.backend.name)
}

// parse parses args. It returns (true, code) when the command should exit
// at once: -h (usage on stdout, 0) or a bad flag (one line on stderr, 2).
func parse(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (bool, int) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case err == nil:
		return false, 0
	case errors.Is(err, flag.ErrHelp):
		printUsage(fs, usage, stdout)
		return true, ExitOK
	default:
		fmt.Fprintf(stderr, "%s: %v (see -h)\n", fs.Name(), err)
		return true, ExitUsage
	}
}

func printUsage(fs *flag.FlagSet, usage string, w io.Writer) {
	fmt.Fprintf(w, "%s\n\nFlags:\n", usage)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// usageError prints one line and returns ExitUsage.
func usageError(stderr io.Writer, name string, format string, args ...any) int {
	fmt.Fprintf(stderr, "%s: %s\n", name, fmt.Sprintf(format, args...))
	return ExitUsage
}

// failure prints one line and returns ExitFailure.
func failure(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return ExitFailure
}

// backendLabel is "liboqs (liboqs 0.16.0)" style text for start-up lines.
func backendLabel(s kem.Scheme) string {
	if v := kem.BackendVersion(s.Backend()); v != "" && v != s.Backend() {
		return s.Backend() + " (" + v + ")"
	}
	return s.Backend()
}
