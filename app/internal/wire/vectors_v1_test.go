package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/kem"
)

// vectorsV1 holds the version-1 known answers (app/session/testdata,
// README.md there), made by scripts/vectors with pyca/cryptography.
const vectorsV1 = "../../session/testdata/session-v1.json"

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

type vectorV1 struct {
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

func loadVectorsV1(t testing.TB) []vectorV1 {
	t.Helper()
	b, err := os.ReadFile(vectorsV1)
	require.NoError(t, err)
	var f struct {
		Vectors []vectorV1 `json:"vectors"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	require.NoError(t, dec.Decode(&f))
	require.Len(t, f.Vectors, 3, "one vector per ML-KEM parameter set")
	return f.Vectors
}

func TestVectorsV1(t *testing.T) {
	for _, v := range loadVectorsV1(t) {
		t.Run(v.Alg, func(t *testing.T) {
			p, err := kem.ParamsFor(v.Alg)
			require.NoError(t, err)
			require.Equal(t, p.ID, v.KEMID)
			require.Len(t, v.SSS, SharedKeySize)
			require.Len(t, v.SSE, SharedKeySize)

			// Hellos: structure only (their keys are stand-in bytes).
			require.Len(t, v.ServerHello, ServerHelloSize(Version1, p))
			sh, err := ParseServerHello(v.ServerHello)
			require.NoError(t, err)
			assert.Equal(t, byte(Version1), sh.Version)
			assert.Equal(t, p.ID, sh.KEMID)
			assert.Zero(t, sh.Flags)
			n := p.EncapsulationKeySize
			assert.Equal(t, []byte(v.ServerHello[HelloHeaderSize:HelloHeaderSize+n]), sh.StaticKey)
			assert.Equal(t, []byte(v.ServerHello[HelloHeaderSize+n:]), sh.EphemeralKey)
			b, err := sh.Append(nil)
			require.NoError(t, err)
			assert.Equal(t, []byte(v.ServerHello), b)

			require.Len(t, v.ClientHello, ClientHelloSize(p))
			ch, err := ParseClientHello(v.ClientHello)
			require.NoError(t, err)
			assert.Equal(t, byte(Version1), ch.Version)
			assert.Equal(t, p.ID, ch.KEMID)
			n = p.CiphertextSize
			assert.Equal(t, []byte(v.ClientHello[HelloHeaderSize:HelloHeaderSize+n]), ch.StaticCiphertext)
			assert.Equal(t, []byte(v.ClientHello[HelloHeaderSize+n:]), ch.EphemeralCiphertext)
			b, err = ch.Append(nil)
			require.NoError(t, err)
			assert.Equal(t, []byte(v.ClientHello), b)

			// Key schedule, step by step.
			th := TranscriptHash(v.ServerHello, v.ClientHello)
			assert.Equal(t, []byte(v.TranscriptHash), th[:], "transcript hash")
			prk, err := Extract(th[:], v.SSE, v.SSS)
			require.NoError(t, err)
			assert.Equal(t, []byte(v.PRK), prk, "prk")
			kc, err := Expand(prk, LabelV1ClientToServer, KeySize)
			require.NoError(t, err)
			assert.Equal(t, []byte(v.KeyC2S), kc, "key_c2s")
			ks, err := Expand(prk, LabelV1ServerToClient, KeySize)
			require.NoError(t, err)
			assert.Equal(t, []byte(v.KeyS2C), ks, "key_s2c")

			// Records: sealed byte for byte, opened to the right type and
			// body, each direction counting its own seq and blocks.
			sealers := map[string]*Sealer{}
			openers := map[string]*Opener{}
			blocks := map[string]uint64{}
			for dir, key := range map[string][]byte{"c2s": v.KeyC2S, "s2c": v.KeyS2C} {
				sealers[dir], openers[dir] = new(Sealer), new(Opener)
				require.NoError(t, sealers[dir].SetKey(key))
				require.NoError(t, openers[dir].SetKey(key))
			}
			seen := map[byte]bool{}
			for i, r := range v.Records {
				require.Contains(t, sealers, r.Direction, "record %d", i)
				seen[r.Type] = true
				s, o := sealers[r.Direction], openers[r.Direction]
				require.Equal(t, r.Seq, s.Seq, "record %d: seq", i)
				require.Len(t, r.Record, len(r.Body)+RecordOverhead, "record %d", i)
				prefix := []byte("prefix")
				sealed := s.Seal(bytes.Clone(prefix), r.Type, r.Body)
				assert.Equal(t, prefix, sealed[:len(prefix)], "record %d: Seal appends", i)
				assert.Equal(t, []byte(r.Record), sealed[len(prefix):], "record %d (%s seq %d)", i, r.Direction, r.Seq)
				blocks[r.Direction] += directBlocks(len(r.Body))
				assert.Equal(t, r.Seq+1, s.Seq)
				assert.Equal(t, blocks[r.Direction], s.Blocks)

				require.Equal(t, r.Seq, o.Seq)
				// The other direction's key does not open it at its seq.
				otherKey := map[string][]byte{"c2s": v.KeyS2C, "s2c": v.KeyC2S}[r.Direction]
				other := new(Opener)
				require.NoError(t, other.SetKey(otherKey))
				other.Seq = r.Seq
				_, _, err := other.Open(bytes.Clone(r.Record))
				require.ErrorIs(t, err, ErrAuth, "record %d in the other direction", i)

				typ, body, err := o.Open(bytes.Clone(r.Record))
				require.NoError(t, err, "record %d", i)
				assert.Equal(t, r.Type, typ, "record %d: type", i)
				assert.Equal(t, []byte(r.Body), append([]byte{}, body...), "record %d: body", i)
				assert.Equal(t, r.Seq+1, o.Seq)
				assert.Equal(t, blocks[r.Direction], o.Blocks)
			}
			assert.Equal(t, map[byte]bool{RecordFinished: true, RecordData: true, RecordClose: true}, seen, "the vectors cover FINISHED, DATA and CLOSE")
		})
	}
}
