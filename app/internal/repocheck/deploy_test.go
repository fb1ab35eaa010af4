package repocheck

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/kemtcp/kemtcp/app/cli"
	"github.com/kemtcp/kemtcp/app/server"
)

// The deployment files (scripts/deploy): each is checked by the tool that
// reads it where that tool is installed, and against kem-server's own flag
// parsing. What they do at run time (HAProxy in front of replicas, drains,
// restarts) is app/cli's TestOpsScripts.

const deployDir = "scripts/deploy"

// kemServerArgs parses kem-server's arguments: every flag exists and its
// value parses (the command's own parsing, with -h appended, exits 0), and
// they go together: run with -key naming a file that does not exist, the
// command gets as far as reading it (exit 1, naming it), past its checks
// of values and combinations (which exit 2). It returns the flags' values
// by name ("addr" for "-addr=X" and "-addr X").
func kemServerArgs(t *testing.T, where string, args []string) map[string]string {
	t.Helper()
	code, errOut := runHelp("kem-server", args)
	require.Equal(t, cli.ExitOK, code, "%s: kem-server %s: %s", where, strings.Join(args, " "), errOut)
	flags := map[string]string{}
	bare := map[string]bool{} // booleans given without a value
	var order []string
	for i := 0; i < len(args); i++ {
		name, value, ok := strings.Cut(args[i], "=")
		require.True(t, strings.HasPrefix(name, "-"), "%s: %q is not a flag", where, args[i])
		name = strings.TrimLeft(name, "-")
		switch {
		case ok:
		case i+1 < len(args) && !strings.HasPrefix(args[i+1], "-"):
			value = args[i+1]
			i++
		default:
			bare[name] = true
		}
		flags[name] = value
		order = append(order, name)
	}
	require.Contains(t, flags, "key", "%s: a server key (-key)", where)
	absent := filepath.Join(t.TempDir(), "absent.key")
	var run []string
	for _, name := range order {
		v := flags[name]
		switch {
		case name == "key":
			v = absent
		case bare[name]:
			run = append(run, "-"+name)
			continue
		}
		run = append(run, "-"+name+"="+v)
	}
	var out, errOut2 bytes.Buffer
	code = cli.Server(context.Background(), run, &out, &errOut2, nil)
	assert.Equal(t, cli.ExitFailure, code, "%s: kem-server %s: %s", where, strings.Join(run, " "), errOut2.String())
	assert.Contains(t, errOut2.String(), absent, "%s: kem-server did not get as far as reading its key", where)
	return flags
}

// port returns the port of a host:port flag, and checks its host is one of
// hosts.
func port(t *testing.T, where, flag, addr string, hosts ...string) int {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	require.NoError(t, err, "%s: -%s %q", where, flag, addr)
	assert.Contains(t, hosts, host, "%s: -%s %q listens on the wrong address", where, flag, addr)
	n, err := strconv.Atoi(p)
	require.NoError(t, err, "%s: -%s %q", where, flag, addr)
	return n
}

// grace is kem-server's -grace in flags.
func grace(t *testing.T, flags map[string]string) time.Duration {
	if g, ok := flags["grace"]; ok {
		d, err := time.ParseDuration(g)
		require.NoError(t, err)
		return d
	}
	return server.DefaultGrace
}

// unit is a systemd unit file: its settings by section, in order.
type unit map[string][][2]string

func parseUnit(t *testing.T, text string) unit {
	u := unit{}
	section := ""
	text = strings.ReplaceAll(text, "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok, "unit: %q is not KEY=VALUE", line)
			u[section] = append(u[section], [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
		}
	}
	return u
}

func (u unit) get(section, key string) []string {
	var vs []string
	for _, kv := range u[section] {
		if kv[0] == key {
			vs = append(vs, kv[1])
		}
	}
	return vs
}

// TestSystemdUnit: kem-server.service's ExecStart runs kem-server with
// flags that exist, reading the key files its LoadCredential lines load,
// and stops within TimeoutStopSec; where systemd-analyze is installed, the
// unit passes "systemd-analyze verify" without a word of complaint, with
// its binary path replaced by a kem-server built from this checkout.
func TestSystemdUnit(t *testing.T) {
	text := readFile(t, filepath.Join(deployDir, "kem-server.service"))
	u := parseUnit(t, text)
	exec1 := u.get("Service", "ExecStart")
	require.Len(t, exec1, 1, "one ExecStart")
	words := strings.Fields(exec1[0])
	require.Equal(t, "kem-server", filepath.Base(words[0]), "ExecStart runs kem-server")
	binary := words[0]
	const credDir = "/run/credentials/kem-server.service"
	args := strings.Fields(strings.ReplaceAll(strings.Join(words[1:], " "), "${CREDENTIALS_DIRECTORY}", credDir))
	flags := kemServerArgs(t, "ExecStart", args)

	// The files it reads are the credentials systemd loads for it.
	creds := map[string]bool{}
	for _, c := range u.get("Service", "LoadCredential") {
		name, _, ok := strings.Cut(c, ":")
		require.True(t, ok, "LoadCredential=%s: want NAME:PATH", c)
		creds[name] = true
	}
	for _, f := range []string{"key", "authorized-keys"} {
		if path, ok := flags[f]; ok {
			name, ok := strings.CutPrefix(path, credDir+"/")
			if assert.True(t, ok, "-%s %s: not under ${CREDENTIALS_DIRECTORY}", f, path) {
				assert.True(t, creds[name], "-%s %s: no LoadCredential=%s:...", f, path, name)
			}
		}
	}
	assert.Equal(t, []string{"SIGTERM"}, u.get("Service", "KillSignal"), "kem-server drains on SIGTERM")
	assert.Equal(t, []string{"/bin/kill -HUP $MAINPID"}, u.get("Service", "ExecReload"), "kem-server reloads on SIGHUP")
	stop := u.get("Service", "TimeoutStopSec")
	if assert.Len(t, stop, 1, "TimeoutStopSec") {
		secs, err := strconv.Atoi(stop[0])
		require.NoError(t, err, "TimeoutStopSec=%s", stop[0])
		assert.Greater(t, time.Duration(secs)*time.Second, grace(t, flags), "TimeoutStopSec leaves -grace its time")
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("SKIPPED: systemd-analyze is not installed: kem-server.service is NOT checked by systemd-analyze verify")
	}
	dir := t.TempDir()
	built := filepath.Join(dir, "kem-server")
	goTool, err := exec.LookPath("go")
	require.NoError(t, err, "the go command, to build kem-server")
	build := exec.Command(goTool, "build", "-o", built, "./app/cmd/kem-server")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	unitFile := filepath.Join(dir, "kem-server.service")
	require.NoError(t, os.WriteFile(unitFile, []byte(strings.Replace(text, "ExecStart="+binary, "ExecStart="+built, 1)), 0o644))
	cmd := exec.Command(analyze, "verify", unitFile)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	assert.NoError(t, err, "systemd-analyze verify: %s%s", stdout.String(), stderr.String())
	// verify exits 0 after unknown keys and bad values too: it only warns.
	assert.Empty(t, stdout.String()+stderr.String(), "systemd-analyze verify complains")
}

// TestSystemdVerifyComplains: the checks above can fail: verify names a
// bad value, and a missing binary makes it fail.
func TestSystemdVerifyComplains(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("SKIPPED: systemd-analyze is not installed")
	}
	dir := t.TempDir()
	unitFile := filepath.Join(dir, "bad.service")
	require.NoError(t, os.WriteFile(unitFile, []byte("[Service]\nExecStart="+filepath.Join(dir, "missing")+"\nProtectHome=yess\n"), 0o644))
	out, err := exec.Command(analyze, "verify", unitFile).CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(out), "yess")
}

// manifest is a Kubernetes object, as YAML decodes it.
type manifest = map[string]any

// get walks a decoded YAML tree: keys of mappings, indexes of sequences.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			require.True(t, ok, "%v: not a mapping", path[:i+1])
			v, ok = m[k]
			require.True(t, ok, "no %v", path[:i+1])
		case int:
			s, ok := v.([]any)
			require.True(t, ok && k < len(s), "no %v", path[:i+1])
			v = s[k]
		}
	}
	return v
}

func loadManifest(t *testing.T, name string) manifest {
	t.Helper()
	var docs []manifest
	dec := yaml.NewDecoder(strings.NewReader(readFile(t, filepath.Join(deployDir, "kubernetes", name))))
	for {
		var m manifest
		err := dec.Decode(&m)
		if err != nil {
			require.ErrorContains(t, err, "EOF", "%s", name)
			break
		}
		docs = append(docs, m)
	}
	require.Len(t, docs, 1, "%s: one object", name)
	return docs[0]
}

// TestKubernetesManifests: the manifests under scripts/deploy/kubernetes
// parse, are of the expected kinds, and agree with each other and with
// kem-server: the container's arguments are kem-server flags, its ports are
// those the flags listen on (on every address, for the Service and the
// kubelet), the probes ask /healthz on the metrics port, the Service and
// the NetworkPolicy name those ports and select the pods, the key files
// are where the Secret is mounted, and the pod has time to drain.
func TestKubernetesManifests(t *testing.T) {
	dep := loadManifest(t, "deployment.yaml")
	svc := loadManifest(t, "service.yaml")
	pol := loadManifest(t, "networkpolicy.yaml")
	sec := loadManifest(t, "secret.yaml")
	for _, c := range []struct {
		m                manifest
		apiVersion, kind string
	}{
		{dep, "apps/v1", "Deployment"},
		{svc, "v1", "Service"},
		{pol, "networking.k8s.io/v1", "NetworkPolicy"},
		{sec, "v1", "Secret"},
	} {
		assert.Equal(t, c.apiVersion, c.m["apiVersion"], "%s's apiVersion", c.kind)
		assert.Equal(t, c.kind, c.m["kind"])
	}

	pod := get(t, dep, "spec", "template")
	labels := get(t, pod, "metadata", "labels").(map[string]any)
	assert.Equal(t, labels, get(t, dep, "spec", "selector", "matchLabels"), "the Deployment selects its pods")
	containers := get(t, pod, "spec", "containers").([]any)
	require.Len(t, containers, 1)
	ctr := containers[0]
	_, hasCommand := ctr.(map[string]any)["command"]
	assert.False(t, hasCommand, "the image's CMD is replaced by args, not command")

	// The args replace the image's CMD: the Dockerfile has no ENTRYPOINT,
	// so the first is the program.
	df := readFile(t, "Dockerfile")
	assert.NotRegexp(t, `(?m)^ENTRYPOINT`, df)
	var args []string
	for _, a := range get(t, ctr, "args").([]any) {
		args = append(args, a.(string))
	}
	require.NotEmpty(t, args)
	require.Equal(t, "kem-server", args[0], "args start with the program (the image has no ENTRYPOINT)")
	assert.Regexp(t, `(?m)^CMD \["kem-server"`, df, "the image's own CMD runs kem-server too")
	flags := kemServerArgs(t, "deployment.yaml args", args[1:])
	addrPort := port(t, "deployment.yaml", "addr", flags["addr"], "0.0.0.0", "")
	metricsPort := port(t, "deployment.yaml", "metrics", flags["metrics"], "0.0.0.0", "")

	// Container ports: by name, and each is one the flags listen on.
	ports := map[string]int{}
	for _, p := range get(t, ctr, "ports").([]any) {
		name, num := get(t, p, "name").(string), get(t, p, "containerPort").(int)
		ports[name] = num
		assert.Contains(t, []int{addrPort, metricsPort}, num, "containerPort %s (%d) is neither -addr's nor -metrics'", name, num)
	}
	assert.ElementsMatch(t, []int{addrPort, metricsPort}, slices.Collect(func(yield func(int) bool) {
		for _, n := range ports {
			if !yield(n) {
				return
			}
		}
	}), "the container declares -addr's and -metrics' ports")
	resolve := func(where string, p any) int {
		t.Helper()
		switch v := p.(type) {
		case int:
			return v
		case string:
			n, ok := ports[v]
			require.True(t, ok, "%s: no container port named %q", where, v)
			return n
		}
		t.Fatalf("%s: port %v", where, p)
		return 0
	}

	// Probes: /healthz, which -metrics serves, on its port.
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		assert.Equal(t, "/healthz", get(t, ctr, probe, "httpGet", "path"), probe)
		assert.Equal(t, metricsPort, resolve(probe, get(t, ctr, probe, "httpGet", "port")), "%s asks the -metrics port", probe)
	}

	// The pod drains: Kubernetes sends SIGTERM at the same time as it takes
	// the pod out of the Service's endpoints, and kem-server closes its
	// listener at once on SIGTERM (app/cli testdata/ops: lb_sigterm_queued),
	// so new connections would be refused until every node has noticed: a
	// preStop sleep keeps the pod serving meanwhile. The grace period
	// counts from the preStop hook: it covers the sleep and -grace.
	sleep := get(t, ctr, "lifecycle", "preStop", "sleep", "seconds").(int)
	assert.GreaterOrEqual(t, sleep, 5, "preStop sleep: time for the endpoints' removal to reach every node")
	period := get(t, pod, "spec", "terminationGracePeriodSeconds").(int)
	assert.Greater(t, time.Duration(period)*time.Second, time.Duration(sleep)*time.Second+grace(t, flags),
		"terminationGracePeriodSeconds covers the preStop sleep and -grace")

	// The key files are where the Secret is mounted.
	secretName := get(t, sec, "metadata", "name")
	secretKeys := get(t, sec, "stringData").(map[string]any)
	volumes := map[string]bool{}
	for _, v := range get(t, pod, "spec", "volumes").([]any) {
		if get(t, v, "secret", "secretName") == secretName {
			volumes[get(t, v, "name").(string)] = true
		}
	}
	require.NotEmpty(t, volumes, "a volume mounts the Secret %s", secretName)
	files := map[string]bool{} // the Secret's files, as mounted
	for _, m := range get(t, ctr, "volumeMounts").([]any) {
		mm := m.(map[string]any)
		if !volumes[mm["name"].(string)] {
			continue
		}
		assert.Equal(t, true, mm["readOnly"], "the Secret is mounted read-only")
		if sub, ok := mm["subPath"].(string); ok {
			files[mm["mountPath"].(string)] = secretKeys[sub] != nil
			continue
		}
		for k := range secretKeys {
			files[mm["mountPath"].(string)+"/"+k] = true
		}
	}
	for _, f := range []string{"key", "authorized-keys"} {
		assert.True(t, files[flags[f]], "-%s %s is not a file of the Secret %s as mounted (%v)", f, flags[f], secretName, files)
	}

	// The Service: the pods, on the tunnel port.
	assert.Equal(t, labels, get(t, svc, "spec", "selector"), "the Service selects the pods")
	for i, p := range get(t, svc, "spec", "ports").([]any) {
		assert.Equal(t, addrPort, resolve(fmt.Sprintf("Service port %d", i), get(t, p, "targetPort")), "the Service sends to -addr's port")
		assert.Equal(t, "TCP", get(t, p, "protocol"))
	}

	// The NetworkPolicy: the pods; in, the tunnel and metrics ports; out,
	// the -forward target's port.
	assert.Equal(t, labels, get(t, pol, "spec", "podSelector", "matchLabels"), "the NetworkPolicy selects the pods")
	var in []int
	for i, rule := range get(t, pol, "spec", "ingress").([]any) {
		for _, p := range get(t, rule, "ports").([]any) {
			in = append(in, resolve(fmt.Sprintf("ingress rule %d", i), get(t, p, "port")))
		}
	}
	assert.ElementsMatch(t, []int{addrPort, metricsPort}, in, "the NetworkPolicy lets in -addr's and -metrics' ports, and no other")
	targetPort := port(t, "deployment.yaml", "forward", flags["forward"], "postgres")
	var out []int
	for _, rule := range get(t, pol, "spec", "egress").([]any) {
		for _, p := range get(t, rule, "ports").([]any) {
			out = append(out, get(t, p, "port").(int))
		}
	}
	assert.Contains(t, out, targetPort, "the NetworkPolicy lets the replicas reach -forward's port")
}

// TestHAProxyConfig: haproxy.cfg passes "haproxy -c" without a warning,
// where HAProxy is installed, and sends each replica the PROXY protocol
// header that kem-server -proxy-protocol requires, with health checks on
// /healthz. (TestOpsScripts runs it in front of real replicas.)
func TestHAProxyConfig(t *testing.T) {
	cfg := readFile(t, filepath.Join(deployDir, "haproxy.cfg"))
	assert.Regexp(t, `(?m)^\s+mode tcp$`, cfg)
	assert.Regexp(t, `(?m)^\s+option httpchk GET /healthz$`, cfg)
	assert.Regexp(t, `(?m)^\s+default-server .*\bsend-proxy-v2\b`, cfg)
	servers := regexp.MustCompile(`(?m)^\s+server \S+ \S+ check port \d+$`).FindAllString(cfg, -1)
	assert.Len(t, servers, 3, "three replicas, each with a health check port")

	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("SKIPPED: HAProxy is not installed (apt-get install haproxy): haproxy.cfg is NOT checked by haproxy -c")
	}
	out, err := exec.Command(haproxy, "-c", "-f", filepath.Join(root, deployDir, "haproxy.cfg")).CombinedOutput()
	require.NoError(t, err, "haproxy -c: %s", out)
	assert.Equal(t, "Configuration file is valid\n", string(out), "haproxy -c says more than that it is valid")
}
