package legacy

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
)

// hexBytes is a JSON string of hex.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

type frames struct {
	Pickle3 hexBytes `json:"pickle3"`
	Pickle4 hexBytes `json:"pickle4"`
	Pickle5 hexBytes `json:"pickle5"`
}

func (f frames) byProtocol() map[int][]byte {
	return map[int][]byte{3: f.Pickle3, 4: f.Pickle4, 5: f.Pickle5}
}

type vectorMessage struct {
	Plaintext     string   `json:"plaintext"`
	AAD           hexBytes `json:"aad"`
	EncapsSeed    hexBytes `json:"encaps_seed"`
	KEMCiphertext hexBytes `json:"kem_ciphertext"`
	SharedSecret  hexBytes `json:"shared_secret"`
	AESKey        hexBytes `json:"aes_key"`
	Nonce         hexBytes `json:"nonce"`
	Ciphertext    hexBytes `json:"ciphertext"`
	Frames        frames   `json:"frames"`
}

type vector struct {
	Alg             string          `json:"alg"`
	KeypairSeed     hexBytes        `json:"keypair_seed"`
	EK              hexBytes        `json:"ek"`
	DK              hexBytes        `json:"dk"`
	PublicKeyFrames frames          `json:"public_key_frames"`
	Messages        []vectorMessage `json:"messages"`
}

var loadVectors = sync.OnceValues(func() ([]vector, error) {
	b, err := os.ReadFile("testdata/legacy-compat.json")
	if err != nil {
		return nil, err
	}
	var f struct {
		Liboqs  string   `json:"liboqs"`
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	if len(f.Vectors) != 3 {
		return nil, fmt.Errorf("want 3 vectors, got %d", len(f.Vectors))
	}
	return f.Vectors, nil
})

func vectors(t testing.TB) []vector {
	t.Helper()
	v, err := loadVectors()
	require.NoError(t, err)
	return v
}

// schemes returns the Scheme of alg on every compiled-in backend that
// implements it.
func schemes(t testing.TB, alg string) []kem.Scheme {
	t.Helper()
	var out []kem.Scheme
	for _, b := range kem.Backends() {
		s, err := kem.Lookup(alg, b)
		if errors.Is(err, kem.ErrUnsupported) {
			continue
		}
		require.NoError(t, err)
		out = append(out, s)
	}
	require.NotEmpty(t, out)
	return out
}

// payloadOf checks a frame's length prefix and returns its payload.
func payloadOf(t testing.TB, f []byte) []byte {
	t.Helper()
	require.Greater(t, len(f), frame.HeaderSize)
	require.Equal(t, uint32(len(f)-frame.HeaderSize), binary.BigEndian.Uint32(f), "length prefix")
	p, err := frame.NewReader(bytes.NewReader(f), 0).Next()
	require.NoError(t, err)
	return p
}

// stream is an io.ReadWriter that reads from r and records what is written.
type stream struct {
	r io.Reader
	w bytes.Buffer
}

func (s *stream) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s *stream) Write(p []byte) (int, error) { return s.w.Write(p) }

func TestVectorsPublicKey(t *testing.T) {
	for _, v := range vectors(t) {
		t.Run(v.Alg, func(t *testing.T) {
			for proto, f := range v.PublicKeyFrames.byProtocol() {
				ek, err := DecodePublicKey(payloadOf(t, f))
				require.NoError(t, err, "protocol %d", proto)
				require.Equal(t, []byte(v.EK), ek, "protocol %d", proto)
				require.True(t, LooksLikePickle(payloadOf(t, f)))
				for _, s := range schemes(t, v.Alg) {
					c, err := Connect(&stream{r: bytes.NewReader(f)}, s, 0)
					require.NoError(t, err, "%s protocol %d", s.Backend(), proto)
					require.Equal(t, []byte(v.EK), c.ServerKey())
				}
			}
			require.Equal(t, []byte(v.PublicKeyFrames.Pickle4), frame.Append(nil, EncodePublicKey(v.EK)),
				"EncodePublicKey must match CPython's protocol 4 byte for byte")
			for _, s := range schemes(t, v.Alg) {
				dk, err := s.NewDecapsulationKey(v.KeypairSeed)
				require.NoError(t, err)
				require.Equal(t, []byte(v.EK), dk.EncapsulationKey().Bytes())
				st := &stream{r: bytes.NewReader(nil)}
				c, err := Accept(st, dk, 0)
				require.NoError(t, err)
				require.Equal(t, v.Alg, c.Algorithm())
				require.Equal(t, []byte(v.PublicKeyFrames.Pickle4), st.w.Bytes(), "%s: Accept's key frame", s.Backend())
			}
		})
	}
}

func TestVectorsMessages(t *testing.T) {
	for _, v := range vectors(t) {
		for _, s := range schemes(t, v.Alg) {
			t.Run(v.Alg+"/"+s.Backend(), func(t *testing.T) {
				dk, err := s.NewDecapsulationKey(v.KeypairSeed)
				require.NoError(t, err)
				ek, err := s.NewEncapsulationKey(v.EK)
				require.NoError(t, err)
				for i, m := range v.Messages {
					want := &Bundle{KEMCiphertext: m.KEMCiphertext, Nonce: m.Nonce, Ciphertext: m.Ciphertext, AAD: m.AAD}

					// CPython's frames, every protocol: parse and open.
					for proto, f := range m.Frames.byProtocol() {
						b, err := ParseBundle(payloadOf(t, f))
						require.NoError(t, err, "message %d protocol %d", i, proto)
						require.Equal(t, want, b, "message %d protocol %d", i, proto)
						pt, err := Open(dk, b)
						require.NoError(t, err, "message %d protocol %d", i, proto)
						require.Equal(t, m.Plaintext, string(pt))
					}

					// Our encoder: CPython's protocol-4 frame byte for byte.
					require.Equal(t, []byte(m.Frames.Pickle4), frame.Append(nil, want.Marshal()), "message %d", i)

					// Sealing with the vector's randomness reproduces it.
					ss, ct, err := ek.EncapsulateDerand(m.EncapsSeed)
					require.NoError(t, err)
					require.Equal(t, []byte(m.KEMCiphertext), ct)
					require.Equal(t, []byte(m.SharedSecret), ss)
					key, err := DeriveKey(ss)
					require.NoError(t, err)
					require.Equal(t, []byte(m.AESKey), key)
					derand := func() ([]byte, []byte, error) { return ek.EncapsulateDerand(m.EncapsSeed) }
					got, err := seal(derand, bytes.Clone(m.Nonce), []byte(m.Plaintext), m.AAD)
					require.NoError(t, err)
					require.Equal(t, want, got)
					require.Equal(t, []byte(m.Frames.Pickle4), frame.Append(nil, got.Marshal()))
				}
			})
		}
	}
}

// TestVectorsServerConn feeds a ServerConn the key-less half of a
// conversation: every message frame of a vector, protocols 3, 4 and 5 in
// turn, then EOF.
func TestVectorsServerConn(t *testing.T) {
	for _, v := range vectors(t) {
		for _, s := range schemes(t, v.Alg) {
			t.Run(v.Alg+"/"+s.Backend(), func(t *testing.T) {
				var in bytes.Buffer
				var want []string
				for _, proto := range []int{3, 4, 5} {
					for _, m := range v.Messages {
						in.Write(m.Frames.byProtocol()[proto])
						want = append(want, m.Plaintext)
					}
				}
				dk, err := s.NewDecapsulationKey(v.KeypairSeed)
				require.NoError(t, err)
				st := &stream{r: &in}
				c, err := Accept(st, dk, 0)
				require.NoError(t, err)
				var got []string
				for {
					pt, err := c.Recv()
					if err == io.EOF {
						break
					}
					require.NoError(t, err)
					got = append(got, string(pt))
				}
				require.Equal(t, want, got)
				_, err = c.Recv()
				require.Equal(t, io.EOF, err, "EOF again")
			})
		}
	}
}
