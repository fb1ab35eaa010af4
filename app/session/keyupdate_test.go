package session

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/kem"
)

// TestKeyUpdateManyRecords: with the limits lowered, one connection
// carries 10,000 records each way at once, across more than 100 key
// updates in each direction, and every byte arrives in order.
func TestKeyUpdateManyRecords(t *testing.T) {
	forEachBackend(t, kem.MLKEM768, func(t *testing.T, s kem.Scheme) {
		sc, cc := configs(t, s)
		sc.limits, cc.limits = lowLimits(64, 96), lowLimits(64, 96)
		srv, cli := handshake(t, sc, cc)
		const records = 10000
		var wg sync.WaitGroup
		for _, pair := range [][2]*Conn{{cli, srv}, {srv, cli}} {
			w, r := pair[0], pair[1]
			wg.Go(func() {
				for i := range records {
					if _, err := fmt.Fprintf(w, "%08d", i); err != nil {
						t.Error(err)
						return
					}
				}
				if err := w.CloseWrite(); err != nil {
					t.Error(err)
				}
			})
			wg.Go(func() {
				got, err := io.ReadAll(r)
				if !assert.NoError(t, err) {
					return
				}
				if !assert.Len(t, got, 8*records) {
					return
				}
				for i := range records {
					if string(got[8*i:8*i+8]) != fmt.Sprintf("%08d", i) {
						t.Errorf("record %d is %q", i, got[8*i:8*i+8])
						return
					}
				}
			})
		}
		wg.Wait()
		for _, c := range []*Conn{cli, srv} {
			cs := c.ConnectionState()
			assert.Greater(t, cs.KeyUpdatesSent, uint64(100))
			assert.Greater(t, cs.KeyUpdatesReceived, uint64(100))
		}
	})
}

// TestKeyUpdateByBlocks: the block limit alone (large records, few of
// them) triggers updates too.
func TestKeyUpdateByBlocks(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	lim := &wire.Limits{MaxRecords: 1 << 20, UpdateAtRecords: 1 << 19, MaxBlocks: 3000, UpdateAtBlocks: 2000}
	sc.limits, cc.limits = lim, lim
	srv, cli := handshake(t, sc, cc)
	data := randomBytes(1 << 20) // 65,537+ blocks in 16 KiB writes
	go func() {
		for off := 0; off < len(data); off += 16 << 10 {
			cli.Write(data[off : off+16<<10])
		}
		cli.CloseWrite()
	}()
	got, err := io.ReadAll(srv)
	require.NoError(t, err)
	require.Equal(t, data, got)
	assert.GreaterOrEqual(t, srv.ConnectionState().KeyUpdatesReceived, uint64(32))
}

// rawRecords seals records by hand on the client's sending key and writes
// them to the server, bypassing the Conn's own limits and checks.
func rawRecords(t *testing.T, cli *Conn, recs ...func(s *wire.Sealer) (byte, []byte)) {
	t.Helper()
	cli.out.mu.Lock()
	defer cli.out.mu.Unlock()
	var buf []byte
	for _, r := range recs {
		typ, body := r(&cli.out.sealer)
		buf = appendRecord(buf, &cli.out.sealer, typ, body)
	}
	_, err := cli.NetConn().Write(buf)
	require.NoError(t, err)
}

func data(b string) func(*wire.Sealer) (byte, []byte) {
	return func(*wire.Sealer) (byte, []byte) { return wire.RecordData, []byte(b) }
}

// TestPeerNeverUpdates: a peer that goes past the record limit without a
// key update is refused, after the records within the limit.
func TestPeerNeverUpdates(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	sc.limits = lowLimits(8, 16)
	srv, cli := handshake(t, sc, cc)
	var recs []func(*wire.Sealer) (byte, []byte)
	for range 20 {
		recs = append(recs, data("x"))
	}
	go rawRecords(t, cli, recs...)
	got, err := io.ReadAll(srv)
	require.ErrorIs(t, err, ErrRecordLimit)
	// The client's FINISHED was record 0 under this key.
	assert.Equal(t, 15, len(got), "the records within the limit are delivered")
}

// TestKeyUpdateWithBody: a KEY_UPDATE must be empty.
func TestKeyUpdateWithBody(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli := handshake(t, sc, cc)
	go rawRecords(t, cli, data("before"), func(*wire.Sealer) (byte, []byte) { return wire.RecordKeyUpdate, []byte{1} })
	got, err := io.ReadAll(srv)
	assert.Equal(t, "before", string(got))
	require.ErrorIs(t, err, ErrUnexpectedRecord)
	assert.Contains(t, err.Error(), "KEY_UPDATE has a 1-byte body")
}

// TestKeyUpdateWrongKey: records after a KEY_UPDATE must be sealed under
// the next key: a peer that keeps the old one fails to authenticate.
func TestKeyUpdateWrongKey(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	srv, cli := handshake(t, sc, cc)
	go rawRecords(t, cli, func(*wire.Sealer) (byte, []byte) { return wire.RecordKeyUpdate, nil }, data("old key"))
	_, err := io.ReadAll(srv)
	require.ErrorIs(t, err, ErrAuth)
}

// v1Client returns configs whose client speaks version 1, as kemtcp's
// clients did before version 2 (a test hook: a current client always asks
// for version 2).
func v1Client(cc *ClientConfig) {
	cc.mutateClientHello = func(ch *wire.ClientHello) { ch.Version = wire.Version1 }
}

// TestVersion1Limits: a version-1 session (a client of before) is served;
// it has no key update (KEY_UPDATE is an unknown type there), and a sender
// at the record limit sends CLOSE with its last DATA, then refuses to write.
func TestVersion1Limits(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	v1Client(cc)
	sc.limits, cc.limits = lowLimits(8, 10), lowLimits(8, 10)
	srv, cli := handshake(t, sc, cc)
	assert.Equal(t, 1, srv.ConnectionState().Version)
	assert.Equal(t, 1, cli.ConnectionState().Version)
	// The client has sent no record; 9 DATA fit, the 9th brings CLOSE.
	go func() {
		for i := range 9 {
			fmt.Fprintf(cli, "%d", i)
		}
	}()
	got, err := io.ReadAll(srv)
	require.NoError(t, err, "CLOSE came with the last DATA")
	assert.Equal(t, "012345678", string(got))
	_, err = cli.Write([]byte("more"))
	require.ErrorIs(t, err, ErrClosed)

	srv2, cli2 := handshake(t, sc, cc)
	go rawRecords(t, cli2, func(*wire.Sealer) (byte, []byte) { return wire.RecordKeyUpdate, nil })
	_, err = io.ReadAll(srv2)
	require.ErrorIs(t, err, ErrUnknownRecordType)
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c chunkReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// TestKeyUpdateReadFrom: ReadFrom, which seals in place, updates keys too
// (the KEY_UPDATE goes in front of the body already in the buffer), and
// io.Copy through it carries every byte.
func TestKeyUpdateReadFrom(t *testing.T) {
	sc, cc := defaultConfigs(t, kem.MLKEM768)
	sc.limits, cc.limits = lowLimits(16, 24), lowLimits(16, 24)
	srv, cli := handshake(t, sc, cc)
	data := randomBytes(50 << 10)
	go func() {
		n, err := io.Copy(cli, chunkReader{bytes.NewReader(data), 60})
		assert.NoError(t, err)
		assert.Equal(t, int64(len(data)), n)
		cli.CloseWrite()
	}()
	var got bytes.Buffer
	_, err := io.Copy(&got, srv) // WriteTo
	require.NoError(t, err)
	require.Equal(t, data, got.Bytes())
	assert.Greater(t, srv.ConnectionState().KeyUpdatesReceived, uint64(40))
	assert.Equal(t, uint64(len(data)), srv.ConnectionState().BytesRead)
	assert.Equal(t, uint64(len(data)), cli.ConnectionState().BytesWritten)
}
