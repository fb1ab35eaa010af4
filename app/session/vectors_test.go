package session

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
)

// hexBytes is a hex string in JSON.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("hex %q: %w", s, err)
	}
	*h = d
	return nil
}

type vectorRecord struct {
	Direction string   `json:"direction"`
	Seq       uint64   `json:"seq"`
	Type      byte     `json:"type"`
	Body      hexBytes `json:"body"`
	Record    hexBytes `json:"record"`
}

type vector struct {
	Alg            string         `json:"alg"`
	KEMID          uint16         `json:"kem_id"`
	ServerHello    hexBytes       `json:"server_hello"`
	ClientHello    hexBytes       `json:"client_hello"`
	SSS            hexBytes       `json:"ss_s"`
	SSE            hexBytes       `json:"ss_e"`
	TranscriptHash hexBytes       `json:"transcript_hash"`
	PRK            hexBytes       `json:"prk"`
	KeyC2S         hexBytes       `json:"key_c2s"`
	KeyS2C         hexBytes       `json:"key_s2c"`
	Records        []vectorRecord `json:"records"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/session-v1.json")
	require.NoError(t, err)
	var f struct {
		Vectors []vector `json:"vectors"`
	}
	require.NoError(t, json.Unmarshal(b, &f))
	require.Len(t, f.Vectors, 3, "one vector per ML-KEM parameter set")
	return f.Vectors
}

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Alg, func(t *testing.T) {
			p, err := kem.ParamsFor(v.Alg)
			require.NoError(t, err)
			require.Equal(t, p.ID, v.KEMID)

			// Hellos: structure only (their keys are stand-in bytes).
			sh, err := ParseServerHello(v.ServerHello)
			require.NoError(t, err)
			assert.Equal(t, p.ID, sh.KEMID)
			assert.Equal(t, []byte(v.ServerHello[HelloHeaderSize:HelloHeaderSize+p.EncapsulationKeySize]), sh.StaticKey)
			assert.Equal(t, []byte(v.ServerHello[HelloHeaderSize+p.EncapsulationKeySize:]), sh.EphemeralKey)
			b, err := sh.Marshal()
			require.NoError(t, err)
			assert.Equal(t, []byte(v.ServerHello), b)

			ch, err := ParseClientHello(v.ClientHello)
			require.NoError(t, err)
			assert.Equal(t, p.ID, ch.KEMID)
			assert.Equal(t, []byte(v.ClientHello[HelloHeaderSize:HelloHeaderSize+p.CiphertextSize]), ch.StaticCiphertext)
			assert.Equal(t, []byte(v.ClientHello[HelloHeaderSize+p.CiphertextSize:]), ch.EphemeralCiphertext)
			b, err = ch.Marshal()
			require.NoError(t, err)
			assert.Equal(t, []byte(v.ClientHello), b)

			// Key schedule, step by step and as a whole.
			th := TranscriptHash(v.ServerHello, v.ClientHello)
			assert.Equal(t, []byte(v.TranscriptHash), th[:], "transcript hash")
			prk, err := ExtractPRK(th[:], v.SSE, v.SSS)
			require.NoError(t, err)
			assert.Equal(t, []byte(v.PRK), prk, "prk")
			kc, ks, err := ExpandKeys(prk)
			require.NoError(t, err)
			assert.Equal(t, []byte(v.KeyC2S), kc, "key_c2s")
			assert.Equal(t, []byte(v.KeyS2C), ks, "key_s2c")

			ssE, ssS := bytes.Clone(v.SSE), bytes.Clone(v.SSS)
			kc2, ks2, err := deriveKeys(v.ServerHello, v.ClientHello, ssE, ssS)
			require.NoError(t, err)
			assert.Equal(t, []byte(v.KeyC2S), kc2)
			assert.Equal(t, []byte(v.KeyS2C), ks2)
			assert.Equal(t, make([]byte, SharedKeySize), ssE, "ss_e wiped")
			assert.Equal(t, make([]byte, SharedKeySize), ssS, "ss_s wiped")

			// Records: sealed byte for byte, opened to the right type and
			// body, each direction counting its own seq.
			sealers := map[string]*RecordSealer{}
			openers := map[string]*RecordOpener{}
			for dir, key := range map[string][]byte{"c2s": v.KeyC2S, "s2c": v.KeyS2C} {
				sealers[dir], err = NewRecordSealer(key)
				require.NoError(t, err)
				openers[dir], err = NewRecordOpener(key)
				require.NoError(t, err)
			}
			for i, r := range v.Records {
				require.Contains(t, sealers, r.Direction, "record %d", i)
				s, o := sealers[r.Direction], openers[r.Direction]
				require.Equal(t, r.Seq, s.Seq(), "record %d: seq", i)
				prefix := []byte("prefix")
				sealed := s.Seal(bytes.Clone(prefix), r.Type, r.Body)
				assert.Equal(t, prefix, sealed[:len(prefix)], "record %d: Seal appends", i)
				assert.Equal(t, []byte(r.Record), sealed[len(prefix):], "record %d (%s seq %d)", i, r.Direction, r.Seq)

				require.Equal(t, r.Seq, o.Seq())
				typ, body, err := o.Open(bytes.Clone(r.Record))
				require.NoError(t, err, "record %d", i)
				assert.Equal(t, r.Type, typ, "record %d: type", i)
				assert.Equal(t, []byte(r.Body), append([]byte{}, body...), "record %d: body", i)
			}

			// The Conns write exactly these frames, and read them back.
			testVectorConns(t, v)
		})
	}
}

// testVectorConns replays a vector's records through a client and a server
// Conn made from its keys.
func testVectorConns(t *testing.T, v vector) {
	var c2sWant, s2cWant []byte
	for _, r := range v.Records {
		if r.Direction == "c2s" {
			c2sWant = frame.Append(c2sWant, r.Record)
		} else {
			s2cWant = frame.Append(s2cWant, r.Record)
		}
	}
	s := lookup(t, v.Alg, "")
	c2s, s2c := new(bytes.Buffer), new(bytes.Buffer)
	cli, err := newConn(duplex{bytes.NewReader(s2cWant), c2s}, s, true, bytes.Clone(v.KeyC2S), bytes.Clone(v.KeyS2C), frame.DefaultMaxSize)
	require.NoError(t, err)
	srv, err := newConn(duplex{bytes.NewReader(c2sWant), s2c}, s, false, bytes.Clone(v.KeyC2S), bytes.Clone(v.KeyS2C), frame.DefaultMaxSize)
	require.NoError(t, err)

	require.NoError(t, cli.readFinished())
	for _, r := range v.Records {
		switch {
		case r.Direction == "s2c" && r.Type == RecordFinished:
			require.NoError(t, srv.sendRecord(RecordFinished, nil))
		case r.Direction == "s2c" && r.Type == RecordData:
			require.NoError(t, srv.Send(r.Body))
			got, err := cli.Recv()
			require.NoError(t, err)
			assert.Equal(t, []byte(r.Body), append([]byte{}, got...))
		case r.Direction == "c2s" && r.Type == RecordData:
			require.NoError(t, cli.Send(r.Body))
			got, err := srv.Recv()
			require.NoError(t, err)
			assert.Equal(t, []byte(r.Body), append([]byte{}, got...))
		case r.Direction == "c2s" && r.Type == RecordClose:
			require.NoError(t, cli.CloseWrite())
			_, err := srv.Recv()
			require.Equal(t, io.EOF, err)
		default:
			t.Fatalf("vector record %+v not replayed", r)
		}
	}
	assert.Equal(t, c2sWant, c2s.Bytes(), "client's frames")
	assert.Equal(t, s2cWant, s2c.Bytes(), "server's frames")
}
