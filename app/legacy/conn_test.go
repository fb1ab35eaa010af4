package legacy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/app/pickle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// served is what a test server saw: the plaintexts, the errors Recv gave
// on the way, and the error that ended it.
type served struct {
	msgs     []string
	errs     []error
	final    error
	acceptOK bool
}

// serve runs Accept and Recv on conn until a stream error, then closes it.
func serve(conn net.Conn, dk kem.DecapsulationKey, maxFrame int, timeout time.Duration) <-chan served {
	done := make(chan served, 1)
	go func() {
		defer conn.Close()
		var r served
		c, err := Accept(conn, dk, maxFrame)
		if err != nil {
			r.final = err
			done <- r
			return
		}
		r.acceptOK = true
		c.SetFrameTimeout(timeout)
		for {
			pt, err := c.Recv()
			switch {
			case err == nil:
				r.msgs = append(r.msgs, string(pt))
				continue
			case errors.Is(err, ErrMalformed), errors.Is(err, ErrDecrypt), errors.Is(err, ErrKEMMismatch), errors.Is(err, ErrSessionPeer):
				r.errs = append(r.errs, err)
				continue
			}
			r.final = err
			done <- r
			return
		}
	}()
	return done
}

var testMessages = []string{"Hello from client using ML-KEM!", "", "h\u00e9llo \u20ac \U0001d11e", strings.Repeat("x", 70000), "exit"}

func TestRoundTripEveryBackendPair(t *testing.T) {
	for _, alg := range kem.Algorithms() {
		for _, ss := range schemes(t, alg) {
			for _, cs := range schemes(t, alg) {
				t.Run(alg+"/"+ss.Backend()+"-"+cs.Backend(), func(t *testing.T) {
					dk, err := ss.GenerateKey()
					require.NoError(t, err)
					defer dk.Destroy()
					sc, cc := net.Pipe()
					done := serve(sc, dk, 0, 0)

					c, err := Connect(cc, cs, 0)
					require.NoError(t, err)
					require.Equal(t, dk.EncapsulationKey().Bytes(), c.ServerKey())
					for _, m := range testMessages {
						require.NoError(t, c.Send([]byte(m)))
					}
					require.NoError(t, cc.Close())

					r := <-done
					require.True(t, r.acceptOK)
					require.Equal(t, io.EOF, r.final)
					require.Empty(t, r.errs)
					require.Equal(t, testMessages, r.msgs)
				})
			}
		}
	}
}

func TestRoundTripTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	s, err := kem.Lookup(kem.MLKEM768, "")
	require.NoError(t, err)
	dk, err := s.GenerateKey()
	require.NoError(t, err)

	results := make(chan (<-chan served), 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			close(results)
			return
		}
		results <- serve(conn, dk, 0, 5*time.Second)
	}()

	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	c, err := Connect(conn, s, 0)
	require.NoError(t, err)
	for _, m := range testMessages {
		require.NoError(t, c.Send([]byte(m)))
	}
	require.NoError(t, conn.Close())
	r := <-<-results
	require.Equal(t, io.EOF, r.final)
	require.Equal(t, testMessages, r.msgs)
}

// TestFrameTimeout: a client that starts a frame and stalls is cut off.
func TestFrameTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	s, err := kem.Lookup(kem.MLKEM768, "")
	require.NoError(t, err)
	dk, err := s.GenerateKey()
	require.NoError(t, err)
	results := make(chan (<-chan served), 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			close(results)
			return
		}
		results <- serve(conn, dk, 0, 100*time.Millisecond)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	c, err := Connect(conn, s, 0)
	require.NoError(t, err)
	require.NoError(t, c.Send([]byte("first")))
	_, err = conn.Write([]byte{0, 0}) // half a header, then nothing
	require.NoError(t, err)
	r := <-<-results
	require.Equal(t, []string{"first"}, r.msgs)
	require.ErrorIs(t, r.final, frame.ErrSlow)
}

func TestWrongKEM(t *testing.T) {
	for _, tc := range []struct{ server, client, msg string }{
		{kem.MLKEM1024, kem.MLKEM768, "server key is 1568 bytes: the server uses ML-KEM-1024, not ML-KEM-768"},
		{kem.MLKEM512, kem.MLKEM768, "server key is 800 bytes: the server uses ML-KEM-512, not ML-KEM-768"},
		{kem.MLKEM768, kem.MLKEM512, "server key is 1184 bytes: the server uses ML-KEM-768, not ML-KEM-512"},
	} {
		t.Run(tc.server+"-"+tc.client, func(t *testing.T) {
			ss, err := kem.Lookup(tc.server, kem.BackendCircl)
			require.NoError(t, err)
			cs, err := kem.Lookup(tc.client, kem.BackendCircl)
			require.NoError(t, err)
			dk, err := ss.GenerateKey()
			require.NoError(t, err)
			sc, cc := net.Pipe()
			done := serve(sc, dk, 0, 0)
			c, err := Connect(cc, cs, 0)
			require.Nil(t, c)
			require.ErrorIs(t, err, ErrKEMMismatch)
			require.EqualError(t, err, tc.msg)
			cc.Close()
			r := <-done
			require.Equal(t, io.EOF, r.final)
		})
	}
}

// TestServerSurvivesBadMessages: messages that do not parse, are for
// another KEM or do not decrypt are reported and the stream stays in step.
func TestServerSurvivesBadMessages(t *testing.T) {
	s, err := kem.Lookup(kem.MLKEM768, kem.BackendCircl)
	require.NoError(t, err)
	dk, err := s.GenerateKey()
	require.NoError(t, err)
	s1024, err := kem.Lookup(kem.MLKEM1024, kem.BackendCircl)
	require.NoError(t, err)
	dk1024, err := s1024.GenerateKey()
	require.NoError(t, err)

	good := func(text string) []byte {
		b, err := Seal(dk.EncapsulationKey(), []byte(text), nil)
		require.NoError(t, err)
		return frame.Append(nil, b.Marshal())
	}
	tampered, err := Seal(dk.EncapsulationKey(), []byte("x"), nil)
	require.NoError(t, err)
	tampered.Ciphertext[0] ^= 1
	other, err := Seal(dk1024.EncapsulationKey(), []byte("x"), nil)
	require.NoError(t, err)

	var in bytes.Buffer
	in.Write(good("one"))
	in.Write(frame.Append(nil, []byte("not a pickle")))
	in.Write(frame.Append(nil, []byte("\x80\x04cos\nsystem\n(S'echo pwned'\ntR.")))
	in.Write(good("two"))
	in.Write(frame.Append(nil, tampered.Marshal()))
	in.Write(frame.Append(nil, other.Marshal()))
	in.Write(frame.Append(nil, []byte("KEMTCP\x01\x02\x01")))
	in.Write(frame.Append(nil, good("three")[frame.HeaderSize:40]))
	in.Write(good("four"))

	c, err := Accept(&stream{r: &in}, dk, 0)
	require.NoError(t, err)
	var got []string
	var errs []error
	for {
		pt, err := c.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, string(pt))
	}
	require.Equal(t, []string{"one", "two", "four"}, got)
	require.Len(t, errs, 6)
	require.ErrorIs(t, errs[0], ErrMalformed)
	require.ErrorIs(t, errs[1], pickle.ErrNotAllowed)
	require.EqualError(t, errs[1], "message is not a valid pickle: pickle: opcode GLOBAL ('c', 0x63) is not allowed (offset 2)")
	require.ErrorIs(t, errs[2], ErrDecrypt)
	require.ErrorIs(t, errs[3], ErrKEMMismatch)
	require.EqualError(t, errs[3], "kem_ciphertext is 1568 bytes: the client uses ML-KEM-1024, not ML-KEM-768")
	require.ErrorIs(t, errs[4], ErrSessionPeer)
	require.ErrorIs(t, errs[5], pickle.ErrTruncated)
}

func TestSessionServer(t *testing.T) {
	s, err := kem.Lookup(kem.MLKEM768, "")
	require.NoError(t, err)
	hello := append([]byte("KEMTCP\x01\x02\x01"), make([]byte, 2*1184)...)
	c, err := Connect(&stream{r: bytes.NewReader(frame.Append(nil, hello))}, s, 0)
	require.Nil(t, c)
	require.ErrorIs(t, err, ErrSessionPeer)
	require.EqualError(t, err, "the server speaks kemtcp's session protocol, not the legacy one")
}

func TestConnectErrors(t *testing.T) {
	s, err := kem.Lookup(kem.MLKEM768, "")
	require.NoError(t, err)
	keyFrame := func(ek []byte) []byte { return frame.Append(nil, EncodePublicKey(ek)) }
	bad := make([]byte, 1184)
	for i := range bad {
		bad[i] = 0xff // coefficients of 4095 fail the FIPS 203 modulus check
	}
	for _, tc := range []struct {
		name string
		in   []byte
		err  error
		msg  string
	}{
		{"nothing", nil, io.ErrUnexpectedEOF, "server closed the connection before sending its public key: unexpected EOF"},
		{"half header", []byte{0, 0}, frame.ErrTruncated, "reading the server's public key: connection closed in the middle of a frame (got 2 of 4 header bytes)"},
		{"truncated key", keyFrame(make([]byte, 1184))[:600], frame.ErrTruncated, "(got 596 of 1202 payload bytes)"},
		{"empty frame", []byte{0, 0, 0, 0}, frame.ErrEmpty, "reading the server's public key: zero-length frame"},
		{"huge frame", []byte{0xff, 0xff, 0xff, 0xff}, frame.ErrTooLarge, "frame too large: 4294967295 bytes, limit 1048576"},
		{"odd size", keyFrame(make([]byte, 17)), ErrMalformed, "server key is 17 bytes, want 1184 for ML-KEM-768 (no ML-KEM parameter set has keys of 17 bytes)"},
		{"modulus", keyFrame(bad), kem.ErrEncapsKey, "server key is not a valid ML-KEM-768 key: "},
		{"dict", frame.Append(nil, (&Bundle{}).Marshal()), ErrMalformed, "server's key frame holds a dict, not bytes"},
		{"GLOBAL", frame.Append(nil, []byte("\x80\x03cos\nsystem\n.")), pickle.ErrNotAllowed, "opcode GLOBAL ('c', 0x63) is not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Connect(&stream{r: bytes.NewReader(tc.in)}, s, 0)
			require.Nil(t, c)
			require.ErrorIs(t, err, tc.err)
			require.ErrorContains(t, err, tc.msg)
		})
	}
	_, err = Connect(&stream{r: bytes.NewReader(nil)}, nil, 0)
	require.Error(t, err)
	_, err = Accept(&stream{r: bytes.NewReader(nil)}, nil, 0)
	require.Error(t, err)
}

func TestRecvFramingErrors(t *testing.T) {
	s, err := kem.Lookup(kem.MLKEM768, "")
	require.NoError(t, err)
	dk, err := s.GenerateKey()
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		in   []byte
		err  error
		msg  string
	}{
		{"half header", []byte{0, 0, 1}, frame.ErrTruncated, "reading a message: connection closed in the middle of a frame (got 3 of 4 header bytes)"},
		{"half payload", append([]byte{0, 0, 0, 100}, make([]byte, 50)...), frame.ErrTruncated, "(got 50 of 100 payload bytes)"},
		{"empty frame", []byte{0, 0, 0, 0}, frame.ErrEmpty, "reading a message: zero-length frame"},
		{"over max", []byte{0, 0x10, 0, 1}, frame.ErrTooLarge, "frame too large: 1048577 bytes, limit 1048576"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Accept(&stream{r: bytes.NewReader(tc.in)}, dk, 0)
			require.NoError(t, err)
			_, err = c.Recv()
			require.ErrorIs(t, err, tc.err)
			require.ErrorContains(t, err, tc.msg)
			_, err2 := c.Recv()
			require.Equal(t, err, err2, "a stream error is final")
		})
	}
}

// countingReader is an endless stream of one header claiming a 4 GiB - 1
// frame, then zeros; it counts what is read from it.
type countingReader struct{ n int }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		if r.n+i < frame.HeaderSize {
			p[i] = 0xff
		} else {
			p[i] = 0
		}
	}
	r.n += len(p)
	return len(p), nil
}

func (r *countingReader) Write(p []byte) (int, error) { return len(p), nil }

// TestOversizeRefusedBeforeAllocation: a frame over the limit is refused
// from its header alone: nothing more is read, nothing large allocated.
func TestOversizeRefusedBeforeAllocation(t *testing.T) {
	s, err := kem.Lookup(kem.MLKEM768, "")
	require.NoError(t, err)
	dk, err := s.GenerateKey()
	require.NoError(t, err)
	for _, max := range []int{0, 4096, 1 << 20, 1<<32 - 2} {
		r := &countingReader{}
		c, err := Accept(r, dk, max)
		require.NoError(t, err)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err = c.Recv()
		runtime.ReadMemStats(&after)
		require.ErrorIs(t, err, frame.ErrTooLarge)
		require.Equal(t, frame.HeaderSize, r.n, "only the header was read")
		require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10))

		r = &countingReader{}
		_, err = Connect(r, s, max)
		require.ErrorIs(t, err, frame.ErrTooLarge)
		require.Equal(t, frame.HeaderSize, r.n)
	}
}

// TestMaxFrameExact: a message exactly maxFrame long is accepted, one byte
// more refused; MaxPlaintext gives a plaintext that fits.
func TestMaxFrameExact(t *testing.T) {
	for _, alg := range kem.Algorithms() {
		s, err := kem.Lookup(alg, kem.BackendCircl)
		require.NoError(t, err)
		dk, err := s.GenerateKey()
		require.NoError(t, err)
		for _, maxFrame := range []int{s.Params().CiphertextSize + 200, 4096, 70000, 200000, 1 << 20} {
			n := MaxPlaintext(s, maxFrame)
			require.Positive(t, n)
			b, err := Seal(dk.EncapsulationKey(), make([]byte, n), nil)
			require.NoError(t, err)
			size := len(b.Marshal())
			require.LessOrEqual(t, size, maxFrame, "%s maxFrame %d: MaxPlaintext %d does not fit", alg, maxFrame, n)
			b2, err := Seal(dk.EncapsulationKey(), make([]byte, n+24), nil)
			require.NoError(t, err)
			require.Greater(t, len(b2.Marshal()), maxFrame, "MaxPlaintext is within 24 bytes of exact")

			for _, limit := range []int{size, size - 1} {
				c, err := Accept(&stream{r: bytes.NewReader(frame.Append(nil, b.Marshal()))}, dk, limit)
				require.NoError(t, err)
				pt, err := c.Recv()
				if limit == size {
					require.NoError(t, err)
					require.Len(t, pt, n)
				} else {
					require.ErrorIs(t, err, frame.ErrTooLarge)
				}
			}
		}
		require.Zero(t, MaxPlaintext(s, 100))
		require.Equal(t, MaxPlaintext(s, frame.DefaultMaxSize), MaxPlaintext(s, 0))
	}
}

func TestSendErrors(t *testing.T) {
	s, err := kem.Lookup(kem.MLKEM768, "")
	require.NoError(t, err)
	dk, err := s.GenerateKey()
	require.NoError(t, err)
	sc, cc := net.Pipe()
	done := serve(sc, dk, 0, 0)
	c, err := Connect(cc, s, 0)
	require.NoError(t, err)
	require.NoError(t, c.Send([]byte("one")))
	cc.Close()
	err = c.Send([]byte("two"))
	require.ErrorIs(t, err, io.ErrClosedPipe)
	require.ErrorContains(t, err, "sending a message: ")
	r := <-done
	require.Equal(t, []string{"one"}, r.msgs)
}

// TestKeyFrameLength checks the length prefix of Accept's key frame.
func TestKeyFrameLength(t *testing.T) {
	for _, alg := range kem.Algorithms() {
		s, err := kem.Lookup(alg, kem.BackendCircl)
		require.NoError(t, err)
		dk, err := s.GenerateKey()
		require.NoError(t, err)
		st := &stream{r: bytes.NewReader(nil)}
		_, err = Accept(st, dk, 0)
		require.NoError(t, err)
		out := st.w.Bytes()
		require.Equal(t, uint32(len(out)-frame.HeaderSize), binary.BigEndian.Uint32(out))
		// PROTO 4, FRAME, BINBYTES ek, MEMOIZE, STOP: 2 + 9 + 5 + ek + 2.
		require.Len(t, out, frame.HeaderSize+18+s.Params().EncapsulationKeySize)
	}
}
