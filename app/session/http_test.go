package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// randReader is a deterministic stream of n pseudo-random bytes.
func randReader(seed uint64, n int64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

// TestHTTP: net/http runs over sessions unchanged: an http.Server serving
// on Listen and an http.Client whose transport dials with Dialer move a
// 100 MB body each way, its SHA-256 checked.
func TestHTTP(t *testing.T) {
	const size = 100 << 20
	if testing.Short() {
		t.Skip("moves 200 MB")
	}
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	ln, err := Listen("tcp", "127.0.0.1:0", sc)
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Got", fmt.Sprintf("%d %x", n, h.Sum(nil)))
		io.Copy(w, randReader(2, size))
	})}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())

	d := &Dialer{Config: cc}
	client := &http.Client{Transport: &http.Transport{
		DialContext:       d.DialContext,
		DisableKeepAlives: true,
	}}
	want := sha256.New()
	io.Copy(want, randReader(1, size))
	resp, err := client.Post("http://"+ln.Addr().String()+"/", "application/octet-stream", randReader(1, size))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, fmt.Sprintf("%d %x", size, want.Sum(nil)), resp.Header.Get("X-Got"), "the server got the request body whole")
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	require.NoError(t, err)
	assert.Equal(t, int64(size), n)
	back := sha256.New()
	io.Copy(back, randReader(2, size))
	assert.Equal(t, hex.EncodeToString(back.Sum(nil)), hex.EncodeToString(got.Sum(nil)), "the client got the response body whole")
	var _ net.Conn = (*Conn)(nil)
}
