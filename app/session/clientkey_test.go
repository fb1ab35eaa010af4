package session

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/identity"
	"github.com/kemtcp/kemtcp/app/kem"
)

// authorize returns a VerifyClientKey that accepts exactly the given keys.
func authorize(keys ...kem.DecapsulationKey) func([]byte) error {
	return func(ek []byte) error {
		for _, k := range keys {
			if bytes.Equal(ek, k.EncapsulationKey().Bytes()) {
				return nil
			}
		}
		return errors.New("not in the authorized keys")
	}
}

// TestClientKey: an authorized client gets in, on every KEM and backend;
// both sides see its key.
func TestClientKey(t *testing.T) {
	forEachScheme(t, func(t *testing.T, s kem.Scheme) {
		sc, cc := configs(t, s)
		cc.ClientKey = clientKey(t, s)
		sc.VerifyClientKey = authorize(cc.ClientKey)
		srv, cli := handshake(t, sc, cc)
		ek := cc.ClientKey.EncapsulationKey().Bytes()
		for _, c := range []*Conn{srv, cli} {
			cs := c.ConnectionState()
			assert.Equal(t, 2, cs.Version)
			assert.Equal(t, ek, cs.ClientKey)
			assert.Equal(t, identity.Fingerprint(ek), cs.ClientKeyFingerprint)
		}
		go func() {
			cli.Write([]byte("through"))
			cli.CloseWrite()
		}()
		got, err := io.ReadAll(srv)
		require.NoError(t, err)
		assert.Equal(t, "through", string(got))
	})
}

// TestClientKeyRefused: an unknown key is refused before anything else
// happens: the client learns it in one error naming its key, the server's
// error names the fingerprint, and nothing is delivered.
func TestClientKeyRefused(t *testing.T) {
	s := lookup(t, kem.MLKEM768, "")
	sc, cc := configs(t, s)
	other, err := s.GenerateKey()
	require.NoError(t, err)
	defer other.Destroy()
	cc.ClientKey = clientKey(t, s)
	sc.VerifyClientKey = authorize(other)
	srvRaw, cliRaw := tcpPair(t)
	_, _, srvErr, cliErr := handshakeOn(srvRaw, cliRaw, sc, cc)
	fp := identity.Fingerprint(cc.ClientKey.EncapsulationKey().Bytes())
	require.ErrorIs(t, cliErr, ErrClientKeyRefused)
	assert.Contains(t, cliErr.Error(), "the server does not authorize the client key "+fp)
	require.ErrorIs(t, srvErr, ErrClientKeyRefused)
	assert.Contains(t, srvErr.Error(), fp)
	assert.Contains(t, srvErr.Error(), "not in the authorized keys")
}

// TestClientKeyRequired: a client without a key is refused by a server that
// requires one, before it sends anything; a key-less client is served by a
// server that does not, and so is a client with a key (which it then does
// not use).
func TestClientKeyRequired(t *testing.T) {
	s := lookup(t, kem.MLKEM768, "")
	sc, cc := configs(t, s)
	sc.VerifyClientKey = authorize(clientKey(t, s))
	srvRaw, cliRaw := tcpPair(t)
	_, _, srvErr, cliErr := handshakeOn(srvRaw, cliRaw, sc, cc)
	require.ErrorIs(t, cliErr, ErrClientKeyRequired)
	require.ErrorIs(t, srvErr, ErrTruncated, "the client sent nothing")

	sc.VerifyClientKey = nil
	srv, cli := handshake(t, sc, cc)
	assert.Empty(t, srv.ConnectionState().ClientKeyFingerprint)
	cc.ClientKey = clientKey(t, s)
	srv, cli = handshake(t, sc, cc)
	assert.Nil(t, srv.ConnectionState().ClientKey)
	assert.Nil(t, cli.ConnectionState().ClientKey, "the server did not ask for it")
}

// TestClientKeyNeedsVersion2: a version-1 ClientHello to a server that
// requires client keys is refused.
func TestClientKeyNeedsVersion2(t *testing.T) {
	s := lookup(t, kem.MLKEM768, "")
	sc, cc := configs(t, s)
	cc.ClientKey = clientKey(t, s)
	sc.VerifyClientKey = authorize(cc.ClientKey)
	v1Client(cc)
	srvRaw, cliRaw := tcpPair(t)
	_, _, srvErr, _ := handshakeOn(srvRaw, cliRaw, sc, cc)
	require.ErrorIs(t, srvErr, ErrVersion)
}

// impostorKey has a real client's encapsulation key but not its private
// key: what a man in the middle who knows ek_c holds.
type impostorKey struct {
	kem.DecapsulationKey // his own key, for Decapsulate
	ek                   kem.EncapsulationKey
}

func (k impostorKey) EncapsulationKey() kem.EncapsulationKey { return k.ek }

// TestClientKeyImpostor: with the client's public key but not its private
// key, nobody completes the handshake: the server refuses his FINISHED, and
// delivers nothing.
func TestClientKeyImpostor(t *testing.T) {
	s := lookup(t, kem.MLKEM768, "")
	sc, cc := configs(t, s)
	victim := clientKey(t, s)
	own, err := s.GenerateKey()
	require.NoError(t, err)
	defer own.Destroy()
	sc.VerifyClientKey = authorize(victim)
	cc.ClientKey = impostorKey{DecapsulationKey: own, ek: victim.EncapsulationKey()}
	srvRaw, cliRaw := tcpPair(t)
	_, _, srvErr, cliErr := handshakeOn(srvRaw, cliRaw, sc, cc)
	require.ErrorIs(t, cliErr, ErrKeyConfirmation, "he cannot derive the server's keys")
	require.Error(t, srvErr, "the server delivers nothing")
}

// tee is a proxy that copies both ways between a client and a server and
// records every byte.
type tee struct {
	ln   net.Listener
	to   string
	mu   sync.Mutex
	c2s  [][]byte // one per connection
	s2c  [][]byte
	wait sync.WaitGroup
}

func newTee(t *testing.T, to string) *tee {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &tee{ln: ln, to: to}
	p.wait.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			i := len(p.c2s)
			p.c2s, p.s2c = append(p.c2s, nil), append(p.s2c, nil)
			p.mu.Unlock()
			copyRecording := func(dst, src net.Conn, rec *[][]byte) {
				buf := make([]byte, 4096)
				for {
					n, err := src.Read(buf)
					if n > 0 {
						p.mu.Lock()
						(*rec)[i] = append((*rec)[i], buf[:n]...)
						p.mu.Unlock()
						dst.Write(buf[:n])
					}
					if err != nil {
						dst.Close()
						src.Close()
						return
					}
				}
			}
			p.wait.Go(func() { copyRecording(s, c, &p.c2s) })
			p.wait.Go(func() { copyRecording(c, s, &p.s2c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.wait.Wait()
	})
	return p
}

// serve accepts on ln and, for each session, handshakes and copies what it
// reads into got, until ln closes.
func serve(t *testing.T, ln net.Listener) <-chan string {
	got := make(chan string, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, err := io.ReadAll(c)
				if err != nil {
					got <- "error: " + err.Error()
					return
				}
				got <- string(b)
			}()
		}
	}()
	return got
}

// TestClientKeyPassiveAndReplay: a passive observer never sees the client
// key's bytes, and replaying the client's whole recorded flight to the
// server fails before any data is delivered.
func TestClientKeyPassiveAndReplay(t *testing.T) {
	s := lookup(t, kem.MLKEM768, "")
	sc, cc := configs(t, s)
	cc.ClientKey = clientKey(t, s)
	sc.VerifyClientKey = authorize(cc.ClientKey)
	ln, err := Listen("tcp", "127.0.0.1:0", sc)
	require.NoError(t, err)
	defer ln.Close()
	got := serve(t, ln)
	p := newTee(t, ln.Addr().String())

	c, err := Dial("tcp", p.ln.Addr().String(), cc)
	require.NoError(t, err)
	_, err = c.Write([]byte("secret data"))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	assert.Equal(t, "secret data", <-got)

	p.mu.Lock()
	capture := append(bytes.Clone(p.c2s[0]), p.s2c[0]...)
	flight := bytes.Clone(p.c2s[0])
	p.mu.Unlock()
	ek := cc.ClientKey.EncapsulationKey().Bytes()
	for i := 0; i+16 <= len(ek); i += 16 {
		require.False(t, bytes.Contains(capture, ek[i:i+16]), "bytes %d..%d of ek_c are on the wire", i, i+16)
	}
	assert.False(t, bytes.Contains(capture, []byte("secret data")))

	// Replay: a raw connection sends the recorded flight and reads all.
	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer raw.Close()
	_, err = raw.Write(flight)
	require.NoError(t, err)
	result := <-got
	assert.True(t, len(result) > 6 && result[:6] == "error:", "the replay was refused: %q", result)
	assert.Contains(t, result, ErrAuth.Error())
}

// TestClientKeyReload: the authorized keys can change while connections
// run: the running one goes on, the next one sees the change.
func TestClientKeyReload(t *testing.T) {
	s := lookup(t, kem.MLKEM768, "")
	sc, cc := configs(t, s)
	cc.ClientKey = clientKey(t, s)
	var mu sync.Mutex
	allowed := true
	sc.VerifyClientKey = func([]byte) error {
		mu.Lock()
		defer mu.Unlock()
		if !allowed {
			return errors.New("removed")
		}
		return nil
	}
	srv, cli := handshake(t, sc, cc)
	mu.Lock()
	allowed = false
	mu.Unlock()
	go func() {
		fmt.Fprint(cli, "still here")
		cli.CloseWrite()
	}()
	b, err := io.ReadAll(srv)
	require.NoError(t, err)
	assert.Equal(t, "still here", string(b))
	srvRaw, cliRaw := tcpPair(t)
	_, _, _, cliErr := handshakeOn(srvRaw, cliRaw, sc, cc)
	require.ErrorIs(t, cliErr, ErrClientKeyRefused)
}
