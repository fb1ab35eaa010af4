package identity

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kemtcp/kemtcp/app/kem"
)

// privateKeySeeds are DER seeds for the private key fuzzers: every form of
// every KEM, the RFC 9935 and X-Wing draft examples, RFC 9935's bad keys,
// and near misses.
func privateKeySeeds(f *testing.F) [][]byte {
	var out [][]byte
	for _, alg := range kem.Algorithms() {
		seed := countingSeed(alg)
		expanded, ek := keyMaterial(f, alg, seed)
		oid := testOIDs[alg]
		if alg == kem.XWing {
			out = append(out,
				oak{oid: oid, priv: seed}.der(),
				oak{version: 1, oid: oid, priv: seed, attrs: true}.der(),
				oak{version: 1, oid: oid, priv: seed, pub: ek}.der(),
				oak{oid: oid, priv: seed[:31]}.der(),
				oak{oid: oid, priv: choiceExpanded(seed)}.der(),
				oak{oid: compositeOID, priv: append(countingSeed(kem.MLKEM768), seed...)}.der(),
			)
			continue
		}
		out = append(out,
			oak{oid: oid, priv: choiceSeed(seed)}.der(),
			oak{oid: oid, priv: choiceExpanded(expanded)}.der(),
			oak{oid: oid, priv: choiceBoth(seed, expanded)}.der(),
			oak{oid: oid, priv: seed}.der(),
			oak{version: 1, oid: oid, priv: choiceSeed(seed), pub: ek, attrs: true}.der(),
			oak{oid: oid, priv: choiceSeed(seed[:63])}.der(),
		)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*.priv"))
	if err != nil || len(files) == 0 {
		f.Fatal("no example keys in testdata", err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, derOfPEM(f, data))
	}
	return append(out, nil, []byte{0x30, 0x00}, []byte{0x30, 0x80, 0x00, 0x00})
}

// checkReparse is the property of the private key fuzzers: an accepted key
// is a working key pair (what it encapsulates to, it decapsulates), and
// re-marshals to the same key, in its own forms and in the seed form.
func checkReparse(t *testing.T, k *PrivateKey) {
	if k.Seed == nil && k.Expanded == nil {
		t.Fatal("accepted a key with no key material")
	}
	p, err := kem.ParamsFor(k.Algorithm)
	if err != nil || p.Name != k.Algorithm {
		t.Fatalf("accepted a key of algorithm %q: %v", k.Algorithm, err)
	}
	if k.Seed != nil && len(k.Seed) != p.SeedSize {
		t.Fatalf("accepted a %d-byte %s seed", len(k.Seed), k.Algorithm)
	}
	if k.Expanded != nil && len(k.Expanded) != p.DecapsulationKeySize {
		t.Fatalf("accepted a %d-byte %s expanded key", len(k.Expanded), k.Algorithm)
	}
	s, err := kem.Lookup(k.Algorithm, kem.BackendCircl)
	if err != nil {
		t.Fatalf("accepted a key of algorithm %q: %v", k.Algorithm, err)
	}
	dk, err := k.DecapsulationKey(s)
	if err != nil {
		t.Fatalf("accepted key is not usable: %v", err)
	}
	ss, ct, err := dk.EncapsulationKey().Encapsulate()
	if err != nil {
		t.Fatalf("accepted key's encapsulation key: %v", err)
	}
	if ss2, err := dk.Decapsulate(ct); err != nil || !bytes.Equal(ss, ss2) {
		t.Fatalf("accepted key does not decapsulate what its own encapsulation key makes (%v)", err)
	}
	data, err := k.MarshalPEM()
	if err != nil {
		t.Fatalf("accepted key does not marshal: %v", err)
	}
	k2, err := ParsePrivateKeyPEM(data)
	if err != nil {
		t.Fatalf("re-marshalled key does not parse: %v", err)
	}
	if k2.Algorithm != k.Algorithm || !bytes.Equal(k2.Seed, k.Seed) || !bytes.Equal(k2.Expanded, k.Expanded) {
		t.Fatal("re-marshalled key differs")
	}
	if k.Seed != nil {
		data, err := MarshalPrivateKeyPEM(k.Algorithm, k.Seed)
		if err != nil {
			t.Fatal(err)
		}
		k3, err := ParsePrivateKeyPEM(data)
		if err != nil {
			t.Fatalf("seed form does not parse: %v", err)
		}
		if k3.Algorithm != k.Algorithm || !bytes.Equal(k3.Seed, k.Seed) || k3.Expanded != nil || k3.Form != FormSeed {
			t.Fatal("seed form differs")
		}
	}
}

func FuzzParsePrivateKeyDER(f *testing.F) {
	for _, s := range privateKeySeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		in := bytes.Clone(der)
		k, err := ParsePrivateKeyDER(der)
		if !bytes.Equal(in, der) {
			t.Fatal("the parser changed its input")
		}
		if err != nil {
			if k != nil {
				t.Fatal("key and error")
			}
			return
		}
		checkReparse(t, k)
	})
}

func FuzzParsePrivateKeyPEM(f *testing.F) {
	for _, s := range privateKeySeeds(f) {
		f.Add(pemOf("PRIVATE KEY", s))
	}
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nMAA=\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("junk\n-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n-----BEGIN X-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePrivateKeyPEM(data)
		if err != nil {
			return
		}
		checkReparse(t, k)
	})
}

func FuzzParsePublicKeyDER(f *testing.F) {
	for _, alg := range kem.Algorithms() {
		_, ek := keyMaterial(f, alg, countingSeed(alg))
		f.Add(spki(testOIDs[alg], ek))
		f.Add(spki(testOIDs[alg], notReducedEK(ek)))
	}
	_, xek := keyMaterial(f, kem.XWing, countingSeed(kem.XWing))
	f.Add(spki(compositeOID, xek))
	f.Fuzz(func(t *testing.T, der []byte) {
		alg, ek, err := ParsePublicKeyDER(der)
		if err != nil {
			return
		}
		// An accepted key passes the FIPS 203 checks of every backend that
		// has its algorithm (circl checked it while parsing; crypto/mlkem
		// is an independent implementation).
		for _, b := range kem.Backends() {
			s, err := kem.Lookup(alg, b)
			if err != nil {
				continue
			}
			if _, err := s.NewEncapsulationKey(ek); err != nil {
				t.Fatalf("accepted a %s key that the %s backend refuses: %v", alg, b, err)
			}
		}
		data, err := MarshalPublicKeyPEM(alg, ek)
		if err != nil {
			t.Fatalf("accepted key does not marshal: %v", err)
		}
		alg2, ek2, err := ParsePublicKeyPEM(data)
		if err != nil || alg2 != alg || !bytes.Equal(ek, ek2) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzParseKnownHosts(f *testing.F) {
	fp := Fingerprint([]byte("kemtcp"))
	f.Add("# comment\n\nexample.com:9000 ML-KEM-768 " + fp + "\n")
	f.Add("[2001:db8::1]:9000\t768\t" + fp + " # c\r\n10.0.0.1:1 mlkem1024 " + fp)
	f.Add("a:1 ML-KEM-512 " + fp + "\nA:01 512 " + fp + "\n")
	f.Add("example.com ML-KEM-768 " + fp + "\n")
	f.Add("a:1 ML-KEM-768 " + fp + "=\n")
	f.Add("|1|abc=|def= ssh-ed25519 AAAA\n")
	f.Add(":1 ML-KEM-768 " + fp + " x\n")
	f.Fuzz(func(t *testing.T, content string) {
		h, err := parseKnownHosts("fuzz", strings.NewReader(content))
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if h.Len() > strings.Count(content, "\n")+1 {
			t.Fatalf("%d entries from %d lines", h.Len(), strings.Count(content, "\n")+1)
		}
		// The canonical form parses to the same entries.
		canon := h.marshal()
		h2, err := parseKnownHosts("fuzz", bytes.NewReader(canon))
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, canon)
		}
		if !bytes.Equal(canon, h2.marshal()) {
			t.Fatal("canonical form is not stable")
		}
		for _, e := range h.entries {
			if n, err := NormalizeAddr(e.addr); err != nil || n != e.addr {
				t.Fatalf("address %q not normalized: %q %v", e.addr, n, err)
			}
		}
	})
}

func FuzzNormalizeAddr(f *testing.F) {
	for _, s := range []string{"example.com:9000", "[::1]:1", "[fe80::1%eth0]:80", "A:01", ":1", "a b:1", "[a:b]:1", "1.2.3.4:5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		n, err := NormalizeAddr(addr)
		if err != nil {
			return
		}
		n2, err := NormalizeAddr(n)
		if err != nil || n2 != n {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", addr, n, n2, err)
		}
		// The same port, as a plain number from 1 to 65535; the same host,
		// up to case and the spelling of an IP address.
		host, port, _ := net.SplitHostPort(addr)
		nhost, nport, err := net.SplitHostPort(n)
		if err != nil {
			t.Fatalf("%q -> %q, which does not split: %v", addr, n, err)
		}
		pn, err1 := strconv.ParseUint(port, 10, 16)
		npn, err2 := strconv.ParseUint(nport, 10, 16)
		if err1 != nil || err2 != nil || pn != npn || pn == 0 || nport != strconv.FormatUint(npn, 10) {
			t.Fatalf("%q -> %q: port %q became %q", addr, n, port, nport)
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			if nhost != ip.String() {
				t.Fatalf("%q -> %q: IP %q became %q", addr, n, host, nhost)
			}
		} else if nhost != strings.ToLower(host) {
			t.Fatalf("%q -> %q: host %q became %q", addr, n, host, nhost)
		}
		if strings.ContainsAny(n, " \t\r\n#") {
			t.Fatalf("%q would break a known-hosts line", n)
		}
	})
}

// FuzzParseAuthorizedKeys checks, for any input:
//   - ParseAuthorizedKeys never panics; it fails only with an
//     *AuthorizedKeysError whose bad lines exist and come in order, or, for
//     input over the size limit, with ErrAuthorizedKeysFile;
//   - every key it accepts is found by Lookup, with its comment and
//     fingerprint, and re-formats (FormatAuthorizedKey) to a line that
//     parses to the same key and comment.
//
// go test -run '^$' -fuzz FuzzParseAuthorizedKeys ./app/identity/
func FuzzParseAuthorizedKeys(f *testing.F) {
	for i, alg := range kem.Algorithms() {
		_, ek := keyMaterial(f, alg, countingSeed(alg))
		raw := base64.StdEncoding.EncodeToString(ek)
		der := base64.StdEncoding.EncodeToString(spki(testOIDs[alg], ek))
		f.Add("# clients\n\n" + alg + " " + raw + " alice\n")
		f.Add(strings.TrimPrefix(alg, "ML-KEM-") + "\t" + der + "\t bob # x \r\n")
		f.Add(alg + " " + der + "\n" + alg + " " + raw + "\n") // duplicate
		f.Add(alg + " " + raw[:len(raw)-4] + "\n")
		f.Add(kem.Algorithms()[(i+1)%len(kem.Algorithms())] + " " + der + " wrong algorithm")
	}
	f.Add("ML-KEM-768\n")
	f.Add("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG me@host\n")
	f.Add("ML-KEM-768 MAA= \x1b\n\xff\n")
	f.Fuzz(func(t *testing.T, content string) {
		a, err := ParseAuthorizedKeys(strings.NewReader(content), "fuzz")
		if err != nil {
			var ae *AuthorizedKeysError
			switch {
			case errors.As(err, &ae):
				lines := strings.Count(content, "\n") + 1
				prev := 0
				for _, l := range ae.Lines {
					if l.Line <= prev || l.Line > lines || l.Err == nil {
						t.Fatalf("bad line numbers %v for %d lines", ae.Lines, lines)
					}
					prev = l.Line
				}
				if len(ae.Lines) == 0 || !errors.Is(err, ErrMalformedAuthorizedKeys) {
					t.Fatalf("empty or unmatched error: %v", err)
				}
			case errors.Is(err, ErrAuthorizedKeysFile):
			default:
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		var again strings.Builder
		for _, k := range a.Keys() {
			comment, fp, ok := a.Lookup(k.Algorithm, k.Key)
			if !ok || comment != k.Comment || fp != Fingerprint(k.Key) || fp != k.Fingerprint {
				t.Fatalf("Lookup of line %d: %q %q %v", k.Line, comment, fp, ok)
			}
			line, err := FormatAuthorizedKey(k.Algorithm, k.Key, k.Comment)
			if err != nil {
				t.Fatalf("accepted key of line %d does not format: %v", k.Line, err)
			}
			again.WriteString(line + "\n")
		}
		b, err := ParseAuthorizedKeys(strings.NewReader(again.String()), "again")
		if err != nil || b.Len() != a.Len() {
			t.Fatalf("formatted keys do not parse back: %v", err)
		}
		for i, k := range b.Keys() {
			want := a.Keys()[i]
			if k.Algorithm != want.Algorithm || !bytes.Equal(k.Key, want.Key) || k.Comment != want.Comment {
				t.Fatalf("key %d changed through FormatAuthorizedKey", i)
			}
		}
	})
}
