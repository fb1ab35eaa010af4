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
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kemtcp/kemtcp/app/identity"
	"github.com/kemtcp/kemtcp/app/internal/display"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/server"
	"github.com/kemtcp/kemtcp/app/session"
)

const serverUsage = `kem-server: a post-quantum (ML-KEM, X-Wing) encrypted TCP server.

Usage:
  kem-server [flags]                          chat: print what clients send (a fresh key per run)
  kem-server -key FILE [flags]                serve with the key in FILE
  kem-server -key FILE -forward HOST:PORT     tunnel: carry each session to a TCP service
  kem-server -genkey FILE [-alg ALG]          write a new private key to FILE
  kem-server -key FILE -pubout                print FILE's public key and fingerprint

Signals: Ctrl+C or SIGTERM stops accepting (after -drain-delay) and gives
open connections -grace to finish; SIGHUP reloads -authorized-keys and, for
new connections, -key.`

// Default idle timeouts: people type slowly in a chat; a tunnel may carry a
// database client's pooled connections, which sit idle for long (stunnel's
// default is 12 hours).
const (
	DefaultChatIdle    = 10 * time.Minute
	DefaultForwardIdle = 12 * time.Hour
)

// serverFlags are kem-server's flags.
type serverFlags struct {
	common
	once, echo, quiet   bool
	maxConns, perSource int
	grace, idle         durationFlag
	drainDelay          durationFlag
	genkey, keyFile     string
	pubout              bool
	forward             string
	forwardProxy        bool
	authorizedKeys      string
	proxyProtocol       cidrFlag
	metricsAddr, health string
	logFormat           string
}

// Server runs kem-server with args (without the program name) until ctx is
// cancelled, and returns the process's exit code. ready, if not nil, is
// called with the listener's address once it accepts connections.
func Server(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(net.Addr)) int {
	const name = "kem-server"
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var f serverFlags
	f.register(fs)
	f.grace = durationFlag{d: server.DefaultGrace}
	f.idle = durationFlag{} // unset: DefaultChatIdle, or DefaultForwardIdle with -forward
	fs.BoolVar(&f.once, "once", false, "serve one client and exit, as the original demo")
	fs.BoolVar(&f.echo, "echo", false, "chat, session: answer every message with the same bytes")
	fs.BoolVar(&f.quiet, "quiet", false, "chat: do not print a line per message")
	fs.IntVar(&f.maxConns, "max-conns", server.DefaultMaxConns, "most connections served at once")
	fs.IntVar(&f.perSource, "max-conns-per-source", 0, "most connections served at once from one IP address (0: no limit)")
	fs.Var(&f.grace, "grace", "on Ctrl+C or SIGTERM, the `duration` open connections get to finish")
	fs.Var(&f.drainDelay, "drain-delay", "on Ctrl+C or SIGTERM, go on accepting connections for this `duration` while /healthz answers 503, before -grace (behind a load balancer: longer than its health check takes to notice)")
	fs.Var(&f.idle, "idle-timeout", fmt.Sprintf("end a connection idle for this `duration` (0: never; default %v for the chat, %v with -forward)", DefaultChatIdle, DefaultForwardIdle))
	fs.StringVar(&f.genkey, "genkey", "", "write a new private key to `FILE` (mode 0600) and exit")
	fs.StringVar(&f.keyFile, "key", "", "serve with the private key in `FILE` (PEM, PKCS#8) instead of a fresh one")
	fs.BoolVar(&f.pubout, "pubout", false, "with -key: print the public key (PEM) and fingerprint and exit")
	fs.StringVar(&f.forward, "forward", "", "tunnel: carry each session to a new TCP connection to `HOST:PORT`")
	fs.BoolVar(&f.forwardProxy, "forward-proxy-protocol", false, "with -forward: send the service a PROXY protocol v2 header with the client's address")
	fs.StringVar(&f.authorizedKeys, "authorized-keys", "", "require client keys, and accept those in `FILE` (one per line: ALG BASE64 [comment])")
	fs.Var(&f.proxyProtocol, "proxy-protocol", "accept a PROXY protocol v1/v2 header, and require one, from these load balancers only (`CIDR,...`)")
	fs.StringVar(&f.metricsAddr, "metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics (and /healthz)")
	fs.StringVar(&f.health, "health", "", "serve a health check at http://`ADDR`/healthz (503 while shutting down)")
	fs.StringVar(&f.logFormat, "log-format", "text", "server events as `format` text (lines on stdout) or json (one object per line on stderr)")
	if exit, code := parse(fs, args, serverUsage, stdout, stderr); exit {
		return code
	}
	set := explicit(fs)
	if code, ok := f.check(name, set, stderr); !ok {
		return code
	}
	if f.genkey != "" {
		if err := genKey(stdout, f.genkey, f.alg.name, "Server"); err != nil {
			return failure(stderr, name, err)
		}
		return ExitOK
	}

	// The key: from -key (whose algorithm wins; -alg must agree), or fresh.
	var key *loadedKey
	if f.keyFile != "" {
		var err error
		if key, err = loadKey(f.keyFile, f.alg, f.backend.name); err != nil {
			return failure(stderr, name, err)
		}
	} else {
		s, err := f.scheme()
		if err != nil {
			return failure(stderr, name, err)
		}
		dk, err := s.GenerateKey()
		if err != nil {
			return failure(stderr, name, err)
		}
		key = &loadedKey{alg: s.Name(), dk: dk, scheme: s}
	}
	defer func() { key.dk.Destroy() }()
	ek := key.dk.EncapsulationKey().Bytes()
	if f.pubout {
		pem, err := identity.MarshalPublicKeyPEM(key.alg, ek)
		if err != nil {
			return failure(stderr, name, err)
		}
		stdout.Write(pem)
		fmt.Fprintf(stdout, "%s %s\n", key.alg, identity.Fingerprint(ek))
		return ExitOK
	}
	if f.proto.name == server.ProtoLegacy && key.alg == kem.XWing {
		return usageError(stderr, name, "%s", legacyXWing)
	}

	out := display.NewLines(stdout)
	logger := server.NewTextLogger(out)
	if f.logFormat == "json" {
		logger = server.NewJSONLogger(stderr)
	}
	sc := &session.ServerConfig{Scheme: key.scheme, Static: key.dk, MaxFrame: f.maxFrame.n}
	var auth *authorized
	if f.authorizedKeys != "" {
		var err error
		if auth, err = loadAuthorized(f.authorizedKeys, key.alg); err != nil {
			return failure(stderr, name, err)
		}
		sc.VerifyClientKey = auth.verify
	}
	var handler server.Handler = &server.Chat{Out: out, Echo: f.echo, Quiet: f.quiet}
	idle := f.idle.d
	if !f.idle.set {
		idle = DefaultChatIdle
	}
	if f.forward != "" {
		handler = &server.Forward{Target: f.forward, ProxyProtocol: f.forwardProxy}
		if !f.idle.set {
			idle = DefaultForwardIdle
		}
	}
	var metrics *server.Metrics
	var ops *opsServer
	if f.metricsAddr != "" || f.health != "" {
		ops = newOps()
		if f.metricsAddr != "" {
			metrics = server.NewMetrics(ops.registry, server.BuildInfo{Version: version(), Proto: f.proto.name, KEM: key.alg, Backend: key.scheme.Backend(), Liboqs: liboqsVersion()})
		}
	}
	cfg := server.Config{
		Proto:             f.proto.name,
		Session:           sc,
		Handler:           handler,
		Once:              f.once,
		HandshakeTimeout:  f.handshakeTimeout.d,
		IdleTimeout:       idle,
		MaxConns:          f.maxConns,
		MaxConnsPerSource: f.perSource,
		Grace:             f.grace.d,
		DrainDelay:        f.drainDelay.d,
		ShutdownNote:      " (Ctrl+C again to stop now)",
		Log:               logger,
		Metrics:           metrics,
	}
	if auth != nil {
		cfg.DescribeClientKey = auth.describe
	}
	srv, err := server.New(cfg)
	if err != nil {
		return usageError(stderr, name, "%v", err)
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return failure(stderr, name, fmt.Errorf("cannot listen on %s: the address is already in use (another kem-server? choose another with -addr)", f.addr))
		}
		return failure(stderr, name, fmt.Errorf("cannot listen on %s: %w", f.addr, err))
	}
	if len(f.proxyProtocol.nets) > 0 {
		ln = proxyListener(ln, &f.proxyProtocol, f.handshakeTimeout.d)
	}
	if ops != nil {
		if err := ops.start(f.metricsAddr, f.health, srv); err != nil {
			ln.Close()
			return failure(stderr, name, err)
		}
		defer ops.stop()
	}

	// Reloads: SIGHUP, and a changed authorized-keys file; SIGHUP is
	// handled before the server says it listens, so that a SIGHUP sent
	// then cannot end it.
	rl := &reloader{srv: srv, cfg: sc, key: key, auth: auth, log: logger}
	stopReload := rl.start(ctx)
	defer stopReload()
	f.startupLines(stdout, key, ek, auth)
	if ops != nil {
		ops.lines(stdout)
	}
	fmt.Fprintf(stdout, "Server listening on %s\n", listenAddr(f.addr, ln.Addr()))
	if ready != nil {
		ready(ln.Addr())
	}

	if err := srv.Serve(ctx, ln); err != nil {
		return failure(stderr, name, err)
	}
	return ExitOK
}

// legacyXWing refuses X-Wing with the legacy protocol, for both commands.
const legacyXWing = "X-Wing needs -proto session: the legacy protocol is the original demo's and speaks ML-KEM only"

// check refuses flag combinations that do not go together.
func (f *serverFlags) check(name string, set map[string]bool, stderr io.Writer) (int, bool) {
	legacy := f.proto.name == server.ProtoLegacy
	switch {
	case f.maxConns < 1:
		return usageError(stderr, name, "-max-conns must be at least 1"), false
	case f.drainDelay.d > 0 && f.health == "" && f.metricsAddr == "":
		return usageError(stderr, name, "-drain-delay needs -health or -metrics: their /healthz is what tells a load balancer that the server is stopping"), false
	case f.perSource < 0:
		return usageError(stderr, name, "-max-conns-per-source must be 0 (no limit) or more"), false
	case f.echo && legacy:
		return usageError(stderr, name, "-echo needs -proto session: the legacy protocol has no server-to-client messages"), false
	case f.pubout && f.keyFile == "":
		return usageError(stderr, name, "-pubout needs -key FILE"), false
	case f.genkey != "" && f.keyFile != "":
		return usageError(stderr, name, "-genkey and -key do not go together"), false
	case f.forward != "" && legacy:
		return usageError(stderr, name, "-forward needs -proto session: the legacy protocol carries only the client's lines"), false
	case f.forward != "" && (f.echo || f.quiet):
		return usageError(stderr, name, "-echo and -quiet are for the chat, not -forward"), false
	case f.forwardProxy && f.forward == "":
		return usageError(stderr, name, "-forward-proxy-protocol needs -forward HOST:PORT"), false
	case legacy && f.alg.name == kem.XWing:
		return usageError(stderr, name, "%s", legacyXWing), false
	case f.authorizedKeys != "" && legacy:
		return usageError(stderr, name, "-authorized-keys needs -proto session: the legacy protocol cannot authenticate clients"), false
	case f.logFormat != "text" && f.logFormat != "json":
		return usageError(stderr, name, "-log-format %q: want text or json", f.logFormat), false
	}
	if f.forward != "" {
		if _, _, err := net.SplitHostPort(f.forward); err != nil {
			return usageError(stderr, name, "-forward %q: want HOST:PORT", f.forward), false
		}
	}
	return 0, true
}

// startupLines are what kem-server says before it listens.
func (f *serverFlags) startupLines(w io.Writer, key *loadedKey, ek []byte, auth *authorized) {
	fmt.Fprintf(w, "kemtcp server: protocol %s, %s, backend %s\n", f.proto.name, key.alg, backendLabel(key.scheme))
	switch {
	case f.proto.name == server.ProtoLegacy:
		fmt.Fprintln(w, "Warning: the legacy protocol does not authenticate the server; clients cannot detect a man in the middle.")
	case key.path != "":
		fmt.Fprintf(w, "Server key fingerprint: %s (from %s)\n", identity.Fingerprint(ek), key.path)
	default:
		fmt.Fprintf(w, "Server key fingerprint: %s (new key for this run; use -genkey and -key to keep one)\n", identity.Fingerprint(ek))
	}
	if auth != nil {
		fmt.Fprintf(w, "Client keys: required; %d authorized in %s (reloaded when it changes)\n", auth.len(), f.authorizedKeys)
	}
	if f.forward != "" {
		proxy := ""
		if f.forwardProxy {
			proxy = ", with a PROXY protocol v2 header"
		}
		fmt.Fprintf(w, "Forwarding each session to %s%s\n", f.forward, proxy)
	}
	if f.drainDelay.d > 0 {
		fmt.Fprintf(w, "On Ctrl+C or SIGTERM: accepting for %v more while /healthz answers 503, then %v for open connections to finish\n", f.drainDelay.d, f.grace.d)
	}
	if len(f.proxyProtocol.nets) > 0 {
		fmt.Fprintf(w, "PROXY protocol: required from %s\n", f.proxyProtocol.String())
	}
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

// reloader reloads the authorized keys when their file changes or on
// SIGHUP, and the server key on SIGHUP, for the connections to come.
type reloader struct {
	srv  *server.Server
	cfg  *session.ServerConfig
	key  *loadedKey
	auth *authorized
	log  *slog.Logger
}

func (r *reloader) start(ctx context.Context) func() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-hup:
				r.reload(true)
			case <-tick.C:
				if r.auth != nil && r.auth.changed() {
					r.reload(false)
				}
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-stopped
	}
}

// reload reloads the authorized keys (if any) and, on SIGHUP, the key file.
func (r *reloader) reload(hup bool) {
	if r.auth != nil {
		if n, err := r.auth.reload(); err != nil {
			r.log.Warn(fmt.Sprintf("Authorized keys not reloaded (still %d): %s", r.auth.len(), oneLine(err.Error())), "error", err.Error())
		} else {
			r.log.Info(fmt.Sprintf("Reloaded %s: %d authorized key%s.", r.auth.path, n, plural(n)), "authorized_keys", n)
		}
	}
	if !hup || r.key.path == "" {
		return
	}
	next, err := loadKey(r.key.path, algFlag{name: r.key.alg, set: true}, r.key.scheme.Backend())
	if err != nil {
		r.log.Warn(fmt.Sprintf("Server key not reloaded: %v", err), "error", err.Error())
		return
	}
	oldFP := identity.Fingerprint(r.key.dk.EncapsulationKey().Bytes())
	newFP := identity.Fingerprint(next.dk.EncapsulationKey().Bytes())
	if oldFP == newFP {
		next.dk.Destroy()
		return
	}
	cfg := *r.cfg
	cfg.Static = next.dk
	r.srv.SetSession(&cfg)
	r.cfg = &cfg
	// The old key stays alive for the connections that use it: it is
	// dropped, not destroyed.
	r.key = next
	r.log.Info(fmt.Sprintf("Server key changed: new connections use %s (from %s).", newFP, next.path), "fingerprint", newFP)
}

// oneLine joins a multi-line message (one line per bad line of a file,
// indented) into one line, for a log line: "FIRST: SECOND; THIRD".
func oneLine(msg string) string {
	lines := strings.Split(strings.TrimRight(msg, "\n"), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	if len(lines) == 1 {
		return lines[0]
	}
	return lines[0] + ": " + strings.Join(lines[1:], "; ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// kemName is the canonical name of alg, or alg.
func kemName(alg string) string {
	if n, err := kem.CanonicalName(alg); err == nil {
		return n
	}
	return alg
}
