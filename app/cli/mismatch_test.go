package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
)

func TestProtocolMismatch(t *testing.T) {
	legacySrv := startServer(t, "-proto", "legacy")
	code, _, errOut := runClient(t, context.Background(), legacySrv.addr, "hello\n", "-proto", "session")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "legacy protocol")
	assert.Contains(t, errOut, "-proto legacy")

	sessSrv := startServer(t, "-proto", "session")
	code, _, errOut = runClient(t, context.Background(), sessSrv.addr, "hello\n", "-proto", "legacy")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "session protocol")
	assert.Contains(t, errOut, "-proto session")
	// Nothing was decrypted by either server.
	time.Sleep(100 * time.Millisecond)
	assert.Empty(t, decrypted(legacySrv.out.String()))
	assert.Empty(t, decrypted(sessSrv.out.String()))
}

func TestKEMMismatch(t *testing.T) {
	for _, proto := range []string{"session", "legacy"} {
		t.Run(proto, func(t *testing.T) {
			s := startServer(t, "-proto", proto, "-alg", "ML-KEM-1024")
			code, _, errOut := runClient(t, context.Background(), s.addr, "hello\n", "-proto", proto, "-alg", "768")
			assert.Equal(t, ExitFailure, code)
			assert.Contains(t, errOut, "ML-KEM-1024")
			assert.Contains(t, errOut, "ML-KEM-768")
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(errOut), "\n")+1-strings.Count(errOut, "warning:"), "one line: %q", errOut)
			time.Sleep(100 * time.Millisecond)
			assert.Empty(t, decrypted(s.out.String()))
		})
	}
}

// fakeServer accepts one connection and sends payload as its first frame.
func fakeServer(t *testing.T, payload []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		frame.Write(c, payload)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [1]byte
		c.Read(b[:])
	}()
	return ln.Addr().String()
}

func TestBadServerHello(t *testing.T) {
	s, err := kem.Lookup("768", "")
	require.NoError(t, err)
	dk, err := s.GenerateKey()
	require.NoError(t, err)
	ek := dk.EncapsulationKey().Bytes()
	hello := func(magic string, version byte, id uint16) []byte {
		b := append([]byte(magic), version, byte(id>>8), byte(id))
		return append(append(b, ek...), ek...)
	}
	for name, tc := range map[string]struct {
		payload []byte
		want    string
	}{
		"bad magic":      {hello("KEMTCQ", 1, 0x0201), "magic"},
		"bad version":    {hello("KEMTCP", 2, 0x0201), "version"},
		"unknown kem id": {hello("KEMTCP", 1, 0x0299), "0x0299"},
		"short":          {hello("KEMTCP", 1, 0x0201)[:100], "length"},
		"garbage":        {[]byte("HTTP/1.1 400 Bad Request\r\n\r\n"), "magic"},
	} {
		t.Run(name, func(t *testing.T) {
			addr := fakeServer(t, tc.payload)
			code, _, errOut := runClient(t, context.Background(), addr, "hello\n")
			assert.Equal(t, ExitFailure, code)
			assert.Contains(t, strings.ToLower(errOut), strings.ToLower(tc.want))
			assert.Contains(t, errOut, "ServerHello")
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	for _, proto := range []string{"session", "legacy"} {
		code, _, errOut := runClient(t, context.Background(), addr, "hello\n", "-proto", proto)
		assert.Equal(t, ExitFailure, code)
		assert.Contains(t, errOut, "connection refused by "+addr)
	}
}

var fingerprintRE = regexp.MustCompile(`SHA256:[A-Za-z0-9+/]{43}`)

func serverFingerprint(t *testing.T, s *testServer) string {
	fp := fingerprintRE.FindString(s.out.String())
	require.NotEmpty(t, fp, "no fingerprint in %q", s.out.String())
	return fp
}

func TestPin(t *testing.T) {
	s := startServer(t)
	fp := serverFingerprint(t, s)

	code, out, errOut := runClient(t, context.Background(), s.addr, "pinned hello\n", "-pin", fp)
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "matches the pinned fingerprint")
	requireServerLines(t, s, "Decrypted from client: pinned hello")

	other := "SHA256:" + strings.Repeat("A", 43)
	code, _, errOut = runClient(t, context.Background(), s.addr, "must not arrive\n", "-pin", other)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, fp)
	assert.Contains(t, errOut, other)
	time.Sleep(100 * time.Millisecond)
	assert.NotContains(t, s.out.String(), "must not arrive")

	code, _, errOut = runClient(t, context.Background(), s.addr, "x\n", "-pin", "not-a-fingerprint")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "not-a-fingerprint")
}

func TestKnownHosts(t *testing.T) {
	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	keyA, keyB := filepath.Join(dir, "a.key"), filepath.Join(dir, "b.key")
	for _, k := range []string{keyA, keyB} {
		var out, errOut bytes.Buffer
		require.Equal(t, ExitOK, Server(context.Background(), []string{"-genkey", k}, &out, &errOut, nil), errOut.String())
	}

	s := startServer(t, "-key", keyA)
	fpA := serverFingerprint(t, s)
	client := func(input string) (int, string, string) {
		var out, errOut syncBuffer
		code := Client(context.Background(), []string{"-addr", s.addr, "-known-hosts", kh}, strings.NewReader(input), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, errOut := client("first\n")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "recorded in "+kh)
	data, err := os.ReadFile(kh)
	require.NoError(t, err)
	assert.Contains(t, string(data), s.addr+" ML-KEM-768 "+fpA)

	code, out, errOut = client("second\n")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "is known for "+s.addr)

	// Same address, another key: refused loudly, nothing sent.
	addr := s.addr
	require.Equal(t, ExitOK, s.stop(t))
	s2 := startServer(t, "-key", keyB, "-addr", addr)
	require.Equal(t, addr, s2.addr)
	fpB := serverFingerprint(t, s2)
	code, _, errOut = client("must not arrive\n")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, fpA)
	assert.Contains(t, errOut, fpB)
	time.Sleep(100 * time.Millisecond)
	assert.NotContains(t, s2.out.String(), "must not arrive")

	// A malformed file is an error, not ignored.
	require.NoError(t, os.WriteFile(kh, []byte("this is not a known hosts line\n"), 0o600))
	code, _, errOut = client("x\n")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, kh+":1")
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "server.key")
	var out, errOut bytes.Buffer
	require.Equal(t, ExitOK, Server(context.Background(), []string{"-genkey", key, "-alg", "1024"}, &out, &errOut, nil), errOut.String())
	fp := fingerprintRE.FindString(out.String())
	require.NotEmpty(t, fp)
	fi, err := os.Stat(key)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	pem, err := os.ReadFile(key)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(pem, []byte("-----BEGIN PRIVATE KEY-----\n")))

	// -genkey never overwrites.
	out.Reset()
	errOut.Reset()
	assert.Equal(t, ExitFailure, Server(context.Background(), []string{"-genkey", key}, &out, &errOut, nil))
	assert.Contains(t, errOut.String(), key)

	// -pubout prints the public key and the same fingerprint.
	out.Reset()
	errOut.Reset()
	require.Equal(t, ExitOK, Server(context.Background(), []string{"-key", key, "-pubout"}, &out, &errOut, nil), errOut.String())
	assert.Contains(t, out.String(), "-----BEGIN PUBLIC KEY-----")
	assert.Contains(t, out.String(), "ML-KEM-1024 "+fp)

	// Serving with it: the key's algorithm is used, the fingerprint is stable.
	s := startServer(t, "-key", key)
	assert.Contains(t, s.out.String(), "ML-KEM-1024")
	assert.Equal(t, fp, serverFingerprint(t, s))
	code, _, cerr := runClient(t, context.Background(), s.addr, "hi\n", "-alg", "1024", "-pin", fp)
	assert.Equal(t, ExitOK, code, cerr)

	// -alg contradicting the key file.
	out.Reset()
	errOut.Reset()
	assert.Equal(t, ExitUsage, Server(context.Background(), []string{"-key", key, "-alg", "768"}, &out, &errOut, nil))
	assert.Contains(t, errOut.String(), "ML-KEM-1024")

	// A key readable by others is refused, with the fix.
	require.NoError(t, os.Chmod(key, 0o644))
	out.Reset()
	errOut.Reset()
	assert.Equal(t, ExitFailure, Server(context.Background(), []string{"-key", key}, &out, &errOut, nil))
	assert.Contains(t, errOut.String(), "chmod 600")
}

func TestFlags(t *testing.T) {
	run := func(f func(args []string, stdout, stderr *bytes.Buffer) int, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := f(args, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	srv := func(args []string, o, e *bytes.Buffer) int { return Server(context.Background(), args, o, e, nil) }
	cli := func(args []string, o, e *bytes.Buffer) int {
		return Client(context.Background(), args, strings.NewReader(""), o, e)
	}

	for name, f := range map[string]func([]string, *bytes.Buffer, *bytes.Buffer) int{"server": srv, "client": cli} {
		t.Run(name, func(t *testing.T) {
			code, out, _ := run(f, "-h")
			assert.Equal(t, ExitOK, code)
			for _, flag := range []string{"-addr", "-alg", "-backend", "-proto", "-max-frame", "-handshake-timeout"} {
				assert.Contains(t, out, flag)
			}
			assert.Contains(t, out, `(default "127.0.0.1:5000")`)
			assert.Contains(t, out, "(default ML-KEM-768)")
			assert.Contains(t, out, "(default session)")
			assert.Contains(t, out, "(default 1048576)")
			assert.Contains(t, out, "(default 10s)")

			for _, bad := range [][]string{
				{"-alg", "999"}, {"-backend", "openssl"}, {"-proto", "tls"}, {"-max-frame", "12"},
				{"-handshake-timeout", "soon"}, {"-nope"}, {"extra-arg"},
			} {
				code, out, errOut := run(f, bad...)
				assert.Equal(t, ExitUsage, code, "%v", bad)
				assert.Empty(t, out)
				assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line for %v: %q", bad, errOut)
			}
			code, _, errOut := run(f, "-alg", "999")
			assert.Equal(t, ExitUsage, code)
			assert.Contains(t, errOut, `"999"`)
		})
	}
	code, out, _ := run(srv, "-h")
	assert.Equal(t, ExitOK, code)
	for _, flag := range []string{"-once", "-echo", "-max-conns", "-genkey", "-key", "-pubout", "(default 1024)"} {
		assert.Contains(t, out, flag)
	}
	code, out, _ = run(cli, "-h")
	assert.Equal(t, ExitOK, code)
	for _, flag := range []string{"-pin", "-known-hosts"} {
		assert.Contains(t, out, flag)
	}
	code, _, errOut := run(srv, "-proto", "legacy", "-echo")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "-echo needs -proto session")

	if supports("512", "go") {
		t.Fatal("the go backend should not support ML-KEM-512")
	}
	code, _, errOut = run(cli, "-alg", "512", "-backend", "go")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "not supported")
	if !supports("768", "liboqs") {
		code, _, errOut = run(srv, "-backend", "liboqs")
		assert.Equal(t, ExitUsage, code)
		assert.Contains(t, errOut, "make liboqs")
	}
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var out, errOut bytes.Buffer
	code := Server(context.Background(), []string{"-addr", ln.Addr().String()}, &out, &errOut, nil)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut.String(), "already in use")
}

func TestListenAddr(t *testing.T) {
	for asked, want := range map[string]string{
		"0.0.0.0:5000": "0.0.0.0:5000",
		":5000":        ":5000",
		"[::]:5000":    "[::]:5000",
	} {
		got := listenAddr(asked, &net.TCPAddr{IP: net.IPv6unspecified, Port: 5000})
		assert.Equal(t, want, got, asked)
	}
	assert.Equal(t, "127.0.0.1:41000", listenAddr("127.0.0.1:0", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41000}))
}
