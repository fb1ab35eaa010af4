// Package cli holds the command-line programs kem-server and kem-client, so
// that tests can run them in-process; their main packages only call Server
// or Client with the process's arguments, streams and signals. It owns
// everything that speaks in flags: the flags themselves, and the hints that
// turn a library's error into what to type next (hints.go).
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
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
	ExitFailure = 1 // something went wrong at run time
	ExitUsage   = 2 // the command line is wrong
)

// Flag defaults shared by both commands.
const (
	DefaultAddr  = "127.0.0.1:5000"
	DefaultAlg   = kem.MLKEM768
	DefaultProto = server.ProtoSession
	// MinMaxFrame is the smallest -max-frame that still fits every
	// protocol's first message (an ML-KEM-1024 ServerHello is 3,146 bytes).
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
		return fmt.Errorf("want one of %s", strings.Join(kem.Algorithms(), ", "))
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
		return fmt.Errorf("want one of %s", strings.Join(kem.AllBackends(), ", "))
	}
	if !slices.Contains(kem.Backends(), s) {
		if s == kem.BackendLiboqs {
			return errors.New("liboqs is not compiled into this binary: run 'make liboqs', then 'make build'")
		}
		return errors.New("not compiled into this binary")
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
	return errors.New("want session or legacy")
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

// durationFlag is a time.Duration that says what it wants when it cannot
// parse, and remembers whether it was set.
type durationFlag struct {
	d        time.Duration
	set      bool
	positive bool // 0 is not allowed
}

func (f *durationFlag) String() string { return f.d.String() }
func (f *durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return errors.New("want a duration such as 10s, 5m or 1h30m")
	case d < 0 || f.positive && d == 0:
		return errors.New("want a positive duration")
	}
	f.d, f.set = d, true
	return nil
}

// cidrFlag is a comma-separated list of IP addresses and CIDR ranges.
type cidrFlag struct{ nets []*net.IPNet }

func (f *cidrFlag) String() string {
	var s []string
	for _, n := range f.nets {
		s = append(s, n.String())
	}
	return strings.Join(s, ",")
}

func (f *cidrFlag) Set(s string) error {
	f.nets = nil
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if !strings.Contains(part, "/") {
			ip := net.ParseIP(part)
			if ip == nil {
				return fmt.Errorf("%q is not an IP address or CIDR range", part)
			}
			bits := 128
			if ip.To4() != nil {
				ip, bits = ip.To4(), 32
			}
			f.nets = append(f.nets, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(part)
		if err != nil {
			return fmt.Errorf("%q is not an IP address or CIDR range", part)
		}
		f.nets = append(f.nets, n)
	}
	return nil
}

func (f *cidrFlag) contains(ip net.IP) bool {
	for _, n := range f.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// common are the flags both commands have.
type common struct {
	addr             string
	alg              algFlag
	backend          backendFlag
	proto            protoFlag
	maxFrame         sizeFlag
	handshakeTimeout durationFlag
}

func (c *common) register(fs *flag.FlagSet) {
	c.alg.name = DefaultAlg
	c.proto.name = DefaultProto
	c.maxFrame = sizeFlag{n: frame.DefaultMaxSize, min: MinMaxFrame, max: MaxMaxFrame}
	c.handshakeTimeout = durationFlag{d: server.DefaultHandshakeTimeout, positive: true}
	fs.StringVar(&c.addr, "addr", DefaultAddr, "TCP `address` (host:port)")
	fs.Var(&c.alg, "alg", "`KEM`: "+strings.Join(kem.Algorithms(), ", ")+" (or 512, 768, 1024, xwing)")
	fs.Var(&c.backend, "backend", "KEM `backend`: "+strings.Join(kem.Backends(), ", ")+" (compiled into this binary; default "+kem.DefaultBackend()+")")
	fs.Var(&c.proto, "proto", "wire `protocol`: session (authenticated channel) or legacy (the original Python demo's; unauthenticated)")
	fs.Var(&c.maxFrame, "max-frame", "largest frame accepted and sent, in `bytes` (both sides must agree)")
	fs.Var(&c.handshakeTimeout, "handshake-timeout", "`duration` allowed for the key exchange, and for each frame once its first byte has arrived")
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

// explicit returns the names of the flags set on the command line.
func explicit(fs *flag.FlagSet) map[string]bool {
	m := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { m[f.Name] = true })
	return m
}

// backendLabel is "liboqs (liboqs 0.16.0)" style text for start-up lines.
func backendLabel(s kem.Scheme) string {
	if v := kem.BackendVersion(s.Backend()); v != "" && v != s.Backend() {
		return s.Backend() + " (" + v + ")"
	}
	return s.Backend()
}
