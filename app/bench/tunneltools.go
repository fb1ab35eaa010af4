package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/oqs"
)

// Tunnel tools, by the names -tunnel-tools takes.
const (
	ToolDirect  = "direct"
	ToolKemtcp  = "kemtcp"
	ToolStunnel = "stunnel4"
	ToolSpiped  = "spiped"
	ToolSSH     = "ssh"
)

// AllTunnelTools returns every tool of the tunnel section, in its order.
func AllTunnelTools() []string {
	return []string{ToolDirect, ToolKemtcp, ToolStunnel, ToolSpiped, ToolSSH}
}

// toolTitle is how the table names a tool.
func toolTitle(tool string) string {
	switch tool {
	case ToolDirect:
		return "direct TCP"
	case ToolSSH:
		return "ssh -L"
	}
	return tool
}

// tunnel is one running tunnel to one target: where clients connect, and
// the processes whose CPU time is the tunnel's (each with its descendants).
type tunnel struct {
	entry    string
	cpuRoots []int
}

// tunnelTool is one tool: set up once (keys, certificates, a private
// sshd), then started once per target.
type tunnelTool interface {
	// setup checks that the tool is installed (an error wrapping
	// errNotInstalled if not) and prepares what its tunnels share; it
	// returns what the table says about the tool.
	setup(env *tunnelEnv) (detail string, err error)
	// start starts a tunnel to target (host:port) and returns once its
	// entry listens.
	start(env *tunnelEnv, target string) (*tunnel, error)
}

// tunnelEnv is what the tools share: a scratch folder, and every process
// started, to stop at the end.
type tunnelEnv struct {
	cfg   *Config
	dir   string
	procs []*proc
}

func (e *tunnelEnv) start(name, path string, args ...string) (*proc, error) {
	p, err := startProc(name, path, args...)
	if err != nil {
		return nil, err
	}
	e.procs = append(e.procs, p)
	return p, nil
}

// stopAll stops every process, the last started first (clients before
// their servers).
func (e *tunnelEnv) stopAll() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		e.procs[i].stop()
	}
	e.procs = nil
}

func (e *tunnelEnv) path(name string) string { return filepath.Join(e.dir, name) }

func newTunnelTool(name string) tunnelTool {
	switch name {
	case ToolDirect:
		return directTool{}
	case ToolKemtcp:
		return &kemtcpTool{}
	case ToolStunnel:
		return &stunnelTool{}
	case ToolSpiped:
		return &spipedTool{}
	case ToolSSH:
		return &sshTool{}
	}
	return nil
}

func loopbackAddr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// directTool is no tunnel: clients connect to the target.
type directTool struct{}

func (directTool) setup(*tunnelEnv) (string, error) {
	return "no tunnel: the client connects to the target", nil
}

func (directTool) start(_ *tunnelEnv, target string) (*tunnel, error) {
	return &tunnel{entry: target}, nil
}

// kemtcpTool is kem-server -forward and kem-client -listen, ML-KEM-768 on
// liboqs (on the default backend where this kem-bench has no liboqs), the
// client pinning the server's key.
type kemtcpTool struct {
	server, client string
	keyFile, pin   string
	alg, backend   string
}

// kemtcpBinaries finds kem-server and kem-client: in -tunnel-bin's folder;
// else built from the kemtcp source this kem-bench stands in (the
// repository holding the working folder or this program), with this
// kem-bench's build tags, into the scratch folder; else next to this
// program. It says which.
func kemtcpBinaries(env *tunnelEnv) (server, client, how string, err error) {
	both := func(dir string) (string, string, bool) {
		s, c := filepath.Join(dir, "kem-server"), filepath.Join(dir, "kem-client")
		_, e1 := os.Stat(s)
		_, e2 := os.Stat(c)
		return s, c, e1 == nil && e2 == nil
	}
	if dir := env.cfg.TunnelBin; dir != "" {
		s, c, ok := both(dir)
		if !ok {
			return "", "", "", fmt.Errorf("-tunnel-bin %s: no kem-server and kem-client there", dir)
		}
		return s, c, "kem-server and kem-client from " + dir, nil
	}
	exe, _ := os.Executable()
	if root := kemtcpSource(exe); root != "" {
		if goCmd, err := exec.LookPath("go"); err == nil {
			tags := ""
			if oqs.Compiled {
				tags = "liboqs"
			}
			out := env.path("bin")
			cmd := exec.Command(goCmd, "build", "-trimpath", "-tags", tags, "-o", out+string(filepath.Separator), "./app/cmd/kem-server", "./app/cmd/kem-client")
			cmd.Dir = root
			if b, err := cmd.CombinedOutput(); err != nil {
				return "", "", "", fmt.Errorf("go build of kem-server and kem-client in %s: %v: %s", root, err, strings.TrimSpace(string(b)))
			}
			s, c, _ := both(out)
			return s, c, fmt.Sprintf("kem-server and kem-client built now by `go build -tags '%s'` from %s", tags, root), nil
		}
	}
	if exe != "" {
		if s, c, ok := both(filepath.Dir(exe)); ok {
			return s, c, "kem-server and kem-client found next to kem-bench in " + filepath.Dir(exe), nil
		}
	}
	return "", "", "", fmt.Errorf("%w: no kem-server and kem-client (give -tunnel-bin DIR, or run kem-bench in the kemtcp source with go on PATH)", errNotInstalled)
}

// kemtcpSource returns the root of the kemtcp module that holds the
// working folder or exe, or "".
func kemtcpSource(exe string) string {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe != "" {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, dir := range starts {
		for {
			b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err == nil && regexp.MustCompile(`(?m)^module github\.com/kemtcp/kemtcp\s*$`).Match(b) {
				if _, err := os.Stat(filepath.Join(dir, "app", "cmd", "kem-server")); err == nil {
					return dir
				}
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return ""
}

var fingerprintRE = regexp.MustCompile(`SHA256:[A-Za-z0-9+/]+`)

// backendsRE finds the backends a kem-client names in the help of its
// -backend flag: "KEM backend: liboqs, circl, go (compiled into this
// binary; ...".
var backendsRE = regexp.MustCompile(`KEM backend: ([a-z, ]+) \(`)

// binaryBackends returns the KEM backends compiled into the kem-client at
// path, the default first, as its -h says.
func binaryBackends(path string) []string {
	out, _ := exec.Command(path, "-h").CombinedOutput()
	m := backendsRE.FindSubmatch(out)
	if m == nil {
		return nil
	}
	return splitList(string(m[1]))
}

func (t *kemtcpTool) setup(env *tunnelEnv) (string, error) {
	var how string
	var err error
	if t.server, t.client, how, err = kemtcpBinaries(env); err != nil {
		return "", err
	}
	t.alg = kem.MLKEM768
	backends := binaryBackends(t.client)
	switch {
	case slices.Contains(backends, kem.BackendLiboqs):
		t.backend = kem.BackendLiboqs
	case len(backends) > 0:
		t.backend = backends[0]
	default:
		return "", fmt.Errorf("kem-client -h names no KEM backend: is %s kemtcp's kem-client?", t.client)
	}
	t.keyFile = env.path("kemtcp.key")
	out, err := exec.Command(t.server, "-genkey", t.keyFile, "-alg", t.alg).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("kem-server -genkey: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if t.pin = fingerprintRE.FindString(string(out)); t.pin == "" {
		return "", fmt.Errorf("kem-server -genkey printed no fingerprint: %s", strings.TrimSpace(string(out)))
	}
	note := ""
	if t.backend != kem.BackendLiboqs {
		note = " (liboqs is not compiled into kem-client)"
	}
	return fmt.Sprintf("%s %s%s, server key pinned; %s", t.backend, t.alg, note, how), nil
}

func (t *kemtcpTool) start(env *tunnelEnv, target string) (*tunnel, error) {
	return startEnds(func(exit int) (*proc, error) {
		return env.start("kem-server", t.server, "-addr", loopbackAddr(exit), "-key", t.keyFile, "-backend", t.backend, "-forward", target)
	}, func(entry, exit int) (*proc, error) {
		return env.start("kem-client", t.client, "-addr", loopbackAddr(exit), "-alg", t.alg, "-backend", t.backend, "-pin", t.pin, "-listen", loopbackAddr(entry))
	})
}

// startEnds starts a tunnel's two ends: the server end on a free port
// (exit), and once it listens, the client end on another (entry),
// forwarding to exit; the tunnel is ready once that listens too.
func startEnds(server func(exit int) (*proc, error), client func(entry, exit int) (*proc, error)) (*tunnel, error) {
	exit, err := freePort()
	if err != nil {
		return nil, err
	}
	srv, err := server(exit)
	if err != nil {
		return nil, err
	}
	if err := waitListening(exit, srv); err != nil {
		return nil, err
	}
	entry, err := freePort()
	if err != nil {
		return nil, err
	}
	cl, err := client(entry, exit)
	if err != nil {
		return nil, err
	}
	if err := waitListening(entry, cl, srv); err != nil {
		return nil, err
	}
	return &tunnel{entry: loopbackAddr(entry), cpuRoots: []int{srv.pid(), cl.pid()}}, nil
}

// stunnelTool is stunnel4 configured as in the reference measurements:
// TLS 1.3 only, TLS_AES_256_GCM_SHA384, an ECDSA P-256 self-signed
// certificate that the client verifies, both ends in the foreground.
type stunnelTool struct {
	path, cert, key string
	n               int
}

func (t *stunnelTool) setup(env *tunnelEnv) (string, error) {
	var err error
	if t.path, err = lookAny("stunnel4", "stunnel"); err != nil {
		return "", err
	}
	t.cert, t.key = env.path("stunnel-cert.pem"), env.path("stunnel-key.pem")
	how, err := selfSignedP256(t.cert, t.key)
	if err != nil {
		return "", err
	}
	v := versionLine("stunnel ", t.path, "-version")
	return fmt.Sprintf("%s; TLS 1.3 TLS_AES_256_GCM_SHA384, ECDSA P-256 certificate (%s), verifyPeer; the client's session cache resumes most connections", orDash(v), how), nil
}

// selfSignedP256 writes an ECDSA P-256 self-signed certificate for
// CN=127.0.0.1 and its key, as `openssl req -x509 -newkey ec -pkeyopt
// ec_paramgen_curve:prime256v1 -nodes -days 30 -subj /CN=127.0.0.1` does
// (by running it, when openssl is installed; else in Go, with the same
// contents: a CA certificate of 30 days, its key in PKCS#8).
func selfSignedP256(certFile, keyFile string) (string, error) {
	if openssl, err := exec.LookPath("openssl"); err == nil {
		out, err := exec.Command(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
			"-keyout", keyFile, "-out", certFile, "-days", "30", "-subj", "/CN=127.0.0.1").CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("openssl req: %v: %s", err, strings.TrimSpace(string(out)))
		}
		return "made by openssl req", nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: time.Now().Add(-time.Minute),
		NotAfter: time.Now().Add(30 * 24 * time.Hour), BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		return "", err
	}
	return "made in Go: openssl is not installed", nil
}

// The reference configurations (README of the anchor measurements).
const stunnelServerConf = `foreground = yes
pid =
debug = warning
[%[1]s]
accept = 127.0.0.1:%[2]d
connect = %[3]s
cert = %[4]s
key = %[5]s
sslVersionMin = TLSv1.3
sslVersionMax = TLSv1.3
ciphersuites = TLS_AES_256_GCM_SHA384
`

const stunnelClientConf = `foreground = yes
pid =
debug = warning
[%[1]s]
client = yes
accept = 127.0.0.1:%[2]d
connect = 127.0.0.1:%[3]d
verifyPeer = yes
CAfile = %[4]s
sslVersionMin = TLSv1.3
sslVersionMax = TLSv1.3
ciphersuites = TLS_AES_256_GCM_SHA384
`

func (t *stunnelTool) start(env *tunnelEnv, target string) (*tunnel, error) {
	t.n++
	service := fmt.Sprintf("tunnel%d", t.n)
	return startEnds(func(exit int) (*proc, error) {
		srvConf := env.path(service + "-server.conf")
		if err := os.WriteFile(srvConf, fmt.Appendf(nil, stunnelServerConf, service, exit, target, t.cert, t.key), 0o600); err != nil {
			return nil, err
		}
		return env.start("stunnel (server)", t.path, srvConf)
	}, func(entry, exit int) (*proc, error) {
		clConf := env.path(service + "-client.conf")
		if err := os.WriteFile(clConf, fmt.Appendf(nil, stunnelClientConf, service, entry, exit, t.cert), 0o600); err != nil {
			return nil, err
		}
		return env.start("stunnel (client)", t.path, clConf)
	})
}

// spipedTool is spiped with a 32-byte key file, in its default mode (a
// Diffie-Hellman exchange on every connection), both ends in the
// foreground.
type spipedTool struct {
	path, key string
}

func (t *spipedTool) setup(env *tunnelEnv) (string, error) {
	var err error
	if t.path, err = lookAny("spiped"); err != nil {
		return "", err
	}
	t.key = env.path("spiped.key")
	k := make([]byte, 32)
	rand.Read(k)
	if err := os.WriteFile(t.key, k, 0o600); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s; 32-byte key file, DH on every connection", orDash(versionLine("spiped", t.path, "-v"))), nil
}

func (t *spipedTool) start(env *tunnelEnv, target string) (*tunnel, error) {
	host, port, ok := strings.Cut(target, ":")
	if !ok {
		return nil, fmt.Errorf("spiped: target %q is not host:port", target)
	}
	bracket := func(h string, p any) string { return fmt.Sprintf("[%s]:%v", h, p) }
	return startEnds(func(exit int) (*proc, error) {
		return env.start("spiped -d", t.path, "-d", "-F", "-s", bracket("127.0.0.1", exit), "-t", bracket(host, port), "-k", t.key)
	}, func(entry, exit int) (*proc, error) {
		return env.start("spiped -e", t.path, "-e", "-F", "-s", bracket("127.0.0.1", entry), "-t", bracket("127.0.0.1", exit), "-k", t.key)
	})
}

// sshTool is ssh -L to a private sshd, with sntrup761x25519-sha512 and
// aes256-gcm@openssh.com, as in the reference measurements. Every
// connection through it is a new channel of one authenticated SSH
// connection, with no handshake.
type sshTool struct {
	ssh, user, userKey, knownHosts string
	port                           int
	sshd                           *proc
}

const (
	sshKex    = "sntrup761x25519-sha512@openssh.com"
	sshCipher = "aes256-gcm@openssh.com"
	// sshPrivsep is the folder an sshd started by root needs.
	sshPrivsep = "/run/sshd"
)

const sshdConfig = `Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PasswordAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
MaxStartups 100
`

func (t *sshTool) setup(env *tunnelEnv) (string, error) {
	var err error
	if t.ssh, err = lookAny("ssh"); err != nil {
		return "", err
	}
	sshd, err := lookAny("sshd")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/sshd"); err2 != nil {
			return "", err
		}
		sshd = "/usr/sbin/sshd"
	}
	keygen, err := lookAny("ssh-keygen")
	if err != nil {
		return "", err
	}
	if kex, _ := exec.Command(t.ssh, "-Q", "kex").Output(); !strings.Contains(string(kex), sshKex) {
		return "", fmt.Errorf("%w: this ssh has no %s", errNotInstalled, sshKex)
	}
	u, err := user.Current()
	if err != nil {
		return "", err
	}
	t.user = u.Username
	if os.Geteuid() == 0 {
		if err := os.MkdirAll(sshPrivsep, 0o755); err != nil {
			return "", fmt.Errorf("sshd needs %s: %w", sshPrivsep, err)
		}
	}
	hostKey, userKey := env.path("ssh_host_ed25519_key"), env.path("ssh_user_ed25519_key")
	for _, k := range []string{hostKey, userKey} {
		if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput(); err != nil {
			return "", fmt.Errorf("ssh-keygen: %v: %s", err, strings.TrimSpace(string(out)))
		}
	}
	pub, err := os.ReadFile(userKey + ".pub")
	if err != nil {
		return "", err
	}
	authorized := env.path("authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o600); err != nil {
		return "", err
	}
	t.userKey, t.knownHosts = userKey, env.path("known_hosts")
	if t.port, err = freePort(); err != nil {
		return "", err
	}
	conf := env.path("sshd_config")
	if err := os.WriteFile(conf, fmt.Appendf(nil, sshdConfig, t.port, hostKey, env.path("sshd.pid"), authorized), 0o600); err != nil {
		return "", err
	}
	if t.sshd, err = env.start("sshd", sshd, "-D", "-e", "-f", conf); err != nil {
		return "", err
	}
	if err := waitListening(t.port, t.sshd); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s; %s, %s, a private sshd; a new connection is a new channel, no handshake", orDash(versionLine("OpenSSH", t.ssh, "-V")), sshKex, sshCipher), nil
}

func (t *sshTool) start(env *tunnelEnv, target string) (*tunnel, error) {
	entry, err := freePort()
	if err != nil {
		return nil, err
	}
	cl, err := env.start("ssh -L", t.ssh, "-N", "-F", "/dev/null", "-p", strconv.Itoa(t.port), "-i", t.userKey,
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new", "-o", "UserKnownHostsFile="+t.knownHosts,
		"-o", "ExitOnForwardFailure=yes", "-o", "Ciphers="+sshCipher, "-o", "KexAlgorithms="+sshKex,
		"-L", fmt.Sprintf("127.0.0.1:%d:%s", entry, target), t.user+"@127.0.0.1")
	if err != nil {
		return nil, err
	}
	if err := waitListening(entry, cl, t.sshd); err != nil {
		return nil, err
	}
	return &tunnel{entry: loopbackAddr(entry), cpuRoots: []int{cl.pid(), t.sshd.pid()}}, nil
}

// toolMissing says whether err means the tool is not installed.
func toolMissing(err error) bool { return errors.Is(err, errNotInstalled) }
