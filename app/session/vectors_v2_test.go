package session

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/internal/wire"
	"github.com/kemtcp/kemtcp/app/kem"
)

// hexBytes is a hex string in JSON.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == nil {
		*h = nil
		return nil
	}
	d, err := hex.DecodeString(*s)
	if err != nil {
		return fmt.Errorf("hex %q: %w", *s, err)
	}
	*h = d
	return nil
}

type v2Record struct {
	Direction string   `json:"direction"`
	Key       any      `json:"key"` // a key index, or "handshake"
	Seq       uint64   `json:"seq"`
	Type      byte     `json:"type"`
	Body      hexBytes `json:"body"`
	Record    hexBytes `json:"record"`
}

type v2Case struct {
	Name                   string     `json:"name"`
	ServerHello            hexBytes   `json:"server_hello"`
	EncapsSeedS            hexBytes   `json:"encaps_seed_s"`
	EncapsSeedE            hexBytes   `json:"encaps_seed_e"`
	EncapsSeedC            hexBytes   `json:"encaps_seed_c"`
	ClientHello            hexBytes   `json:"client_hello"`
	SSS                    hexBytes   `json:"ss_s"`
	SSE                    hexBytes   `json:"ss_e"`
	TH                     hexBytes   `json:"th"`
	PRK                    hexBytes   `json:"prk"`
	EKC                    hexBytes   `json:"ek_c"`
	HSC                    hexBytes   `json:"hs_c"`
	HSS                    hexBytes   `json:"hs_s"`
	CTC                    hexBytes   `json:"ct_c"`
	SSC                    hexBytes   `json:"ss_c"`
	TH2                    hexBytes   `json:"th2"`
	ClientKeyRecord        hexBytes   `json:"client_key_record"`
	ClientCiphertextRecord hexBytes   `json:"client_ciphertext_record"`
	RefusedRecord          hexBytes   `json:"refused_record"`
	Master                 hexBytes   `json:"master"`
	ExporterSecret         hexBytes   `json:"exporter_secret"`
	TSC2S                  []hexBytes `json:"ts_c2s"`
	TSS2C                  []hexBytes `json:"ts_s2c"`
	KeyC2S                 []hexBytes `json:"key_c2s"`
	KeyS2C                 []hexBytes `json:"key_s2c"`
	Records                []v2Record `json:"records"`
	Exports                []struct {
		Label   string   `json:"label"`
		Context hexBytes `json:"context"`
		Length  int      `json:"length"`
		Output  hexBytes `json:"output"`
	} `json:"exports"`
}

type v2Vector struct {
	Alg                 string   `json:"alg"`
	KEMID               uint16   `json:"kem_id"`
	ServerStaticSeed    hexBytes `json:"server_static_seed"`
	ServerEphemeralSeed hexBytes `json:"server_ephemeral_seed"`
	ClientKeySeed       hexBytes `json:"client_key_seed"`
	Cases               []v2Case `json:"cases"`
}

func loadV2Vectors(t *testing.T) []v2Vector {
	t.Helper()
	b, err := os.ReadFile("testdata/session-v2.json")
	require.NoError(t, err)
	var f struct {
		Vectors []v2Vector `json:"vectors"`
	}
	require.NoError(t, json.Unmarshal(b, &f))
	require.Len(t, f.Vectors, 4, "ML-KEM-512, -768, -1024 and X-Wing")
	return f.Vectors
}

// TestVectorsV2 checks version 2 against testdata/session-v2.json, made by
// an independent implementation (scripts/vectors/gen_session_v2.py): the
// key schedule step by step, then a whole conversation between a real
// client and server, derandomized with the vector's seeds, whose every
// byte on the wire must be the vector's, on every backend.
func TestVectorsV2(t *testing.T) {
	for _, v := range loadV2Vectors(t) {
		p, err := kem.ParamsFor(v.Alg)
		if errors.Is(err, kem.ErrUnknownAlgorithm) {
			t.Errorf("%s: this build does not know the algorithm", v.Alg)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, p.ID, v.KEMID)
		for _, c := range v.Cases {
			t.Run(v.Alg+"/"+c.Name, func(t *testing.T) { checkV2Schedule(t, c) })
			for _, b := range kem.Backends() {
				t.Run(v.Alg+"/"+c.Name+"/"+b, func(t *testing.T) {
					checkV2Conversation(t, lookup(t, v.Alg, b), v, c)
				})
			}
		}
	}
}

// checkV2Schedule recomputes the key schedule from the vector's secrets.
func checkV2Schedule(t *testing.T, c v2Case) {
	th := wire.TranscriptHash(c.ServerHello, c.ClientHello)
	assert.Equal(t, []byte(c.TH), th[:], "th")
	prk, err := wire.Extract(th[:], c.SSE, c.SSS)
	require.NoError(t, err)
	assert.Equal(t, []byte(c.PRK), prk, "prk")
	master := prk
	if c.EKC != nil {
		hsC, _ := wire.Expand(prk, wire.LabelClientHandshake, wire.KeySize)
		hsS, _ := wire.Expand(prk, wire.LabelServerHandshake, wire.KeySize)
		assert.Equal(t, []byte(c.HSC), hsC, "hs_c")
		assert.Equal(t, []byte(c.HSS), hsS, "hs_s")
		th2 := wire.TranscriptHash(c.ServerHello, c.ClientHello, c.EKC, c.CTC)
		assert.Equal(t, []byte(c.TH2), th2[:], "th2")
		master, err = wire.Extract(th2[:], prk, c.SSC)
		require.NoError(t, err)
	}
	assert.Equal(t, []byte(c.Master), master, "master")
	exp, _ := wire.Expand(master, wire.LabelExporter, wire.SecretSize)
	assert.Equal(t, []byte(c.ExporterSecret), exp, "exporter_secret")
	for dir, want := range map[string][]hexBytes{wire.LabelClientToServer: c.TSC2S, wire.LabelServerToClient: c.TSS2C} {
		keys := c.KeyC2S
		if dir == wire.LabelServerToClient {
			keys = c.KeyS2C
		}
		ts, _ := wire.Expand(master, dir, wire.SecretSize)
		for i := range want {
			assert.Equal(t, []byte(want[i]), ts, "%s ts[%d]", dir, i)
			key, _ := wire.Expand(ts, wire.LabelKey, wire.KeySize)
			assert.Equal(t, []byte(keys[i]), key, "%s key[%d]", dir, i)
			ts, _ = wire.Expand(ts, wire.LabelKeyUpdate, wire.SecretSize)
		}
	}
	for _, e := range c.Exports {
		out, err := wire.Export(exp, e.Label, e.Context, e.Length)
		require.NoError(t, err)
		assert.Equal(t, []byte(e.Output), out, "export %q %x %d", e.Label, e.Context, e.Length)
	}
}

// checkV2Conversation runs the vector's conversation between a client and
// a server of this build, derandomized with its seeds, and compares every
// frame each side writes with the vector's.
func checkV2Conversation(t *testing.T, s kem.Scheme, v v2Vector, c v2Case) {
	static, err := s.NewDecapsulationKey(v.ServerStaticSeed)
	require.NoError(t, err)
	defer static.Destroy()
	sc := &ServerConfig{Scheme: s, Static: static, ephemeralSeed: v.ServerEphemeralSeed, clientEncapsSeed: c.EncapsSeedC}
	cc := &ClientConfig{Scheme: s, encapsSeeds: [2][]byte{c.EncapsSeedS, c.EncapsSeedE},
		limits: &wire.Limits{MaxRecords: wire.MaxRecords, MaxBlocks: wire.MaxBlocks, UpdateAtRecords: 3, UpdateAtBlocks: wire.UpdateAtBlocks}}
	if c.EKC != nil {
		ck, err := s.NewDecapsulationKey(v.ClientKeySeed)
		require.NoError(t, err)
		defer ck.Destroy()
		cc.ClientKey = ck
		sc.VerifyClientKey = authorize(ck)
	}
	srvRaw, cliRaw := tcpPair(t)
	srvRec, cliRec := &recordingConn{Conn: srvRaw}, &recordingConn{Conn: cliRaw}
	srv, cli, srvErr, cliErr := handshakeOn(srvRec, cliRec, sc, cc)
	require.NoError(t, srvErr)
	require.NoError(t, cliErr)

	require.NoError(t, cli.WriteMessage([]byte("hello")))
	require.NoError(t, cli.WriteMessage(nil))
	require.NoError(t, cli.WriteMessage([]byte("after update")))
	for _, want := range []string{"hello", "", "after update"} {
		got, err := srv.ReadMessage()
		require.NoError(t, err)
		assert.Equal(t, want, string(got))
	}
	require.NoError(t, srv.WriteMessage([]byte("reply")))
	require.NoError(t, srv.closeWrite(CloseShutdown))
	got, err := io.ReadAll(cli)
	require.NoError(t, err)
	assert.Equal(t, "reply", string(got))
	assert.Equal(t, CloseShutdown, cli.ConnectionState().PeerCloseReason)
	require.NoError(t, cli.CloseWrite())
	_, err = io.ReadAll(srv)
	require.NoError(t, err)

	// What each side wrote, frame by frame.
	wrote := func(r *recordingConn) [][]byte {
		return frames(t, bytes.Join(r.written(), nil))
	}
	sFrames, cFrames := wrote(srvRec), wrote(cliRec)
	require.NotEmpty(t, sFrames)
	require.NotEmpty(t, cFrames)
	assert.Equal(t, []byte(c.ServerHello), sFrames[0], "ServerHello")
	assert.Equal(t, []byte(c.ClientHello), cFrames[0], "ClientHello")
	var wantS, wantC [][]byte
	for _, r := range c.Records {
		if r.Direction == "s2c" {
			wantS = append(wantS, r.Record)
		} else {
			wantC = append(wantC, r.Record)
		}
	}
	assert.Equal(t, hexFrames(wantS), hexFrames(sFrames[1:]), "the server's records")
	assert.Equal(t, hexFrames(wantC), hexFrames(cFrames[1:]), "the client's records")

	cs := cli.ConnectionState()
	for _, e := range c.Exports {
		out, err := cs.ExportKeyingMaterial(e.Label, e.Context, e.Length)
		require.NoError(t, err)
		assert.Equal(t, []byte(e.Output), out)
	}

	if c.EKC != nil { // a server that does not authorize the key
		sc.VerifyClientKey = func([]byte) error { return errors.New("no") }
		srvRaw, cliRaw := tcpPair(t)
		srvRec := &recordingConn{Conn: srvRaw}
		_, _, srvErr, cliErr := handshakeOn(srvRec, cliRaw, sc, cc)
		require.ErrorIs(t, srvErr, ErrClientKeyRefused)
		require.ErrorIs(t, cliErr, ErrClientKeyRefused)
		f := frames(t, bytes.Join(srvRec.written(), nil))
		require.Len(t, f, 2, "ServerHello, REFUSED")
		assert.Equal(t, hex.EncodeToString(c.RefusedRecord), hex.EncodeToString(f[1]))
	}
}

func hexFrames(f [][]byte) []string {
	var out []string
	for _, b := range f {
		out = append(out, hex.EncodeToString(b))
	}
	return out
}

var _ = frame.HeaderSize
