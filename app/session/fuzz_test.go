package session

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/kemtcp/kemtcp/app/frame"
	"github.com/kemtcp/kemtcp/app/kem"
)

// helloSeeds adds the vectors' hellos of one kind, valid random ones of
// every parameter set, and some near misses.
func helloSeeds(f *testing.F, server bool) {
	for _, v := range loadVectors(f) {
		if server {
			f.Add([]byte(v.ServerHello))
		} else {
			f.Add([]byte(v.ClientHello))
		}
	}
	for _, p := range allParams(f) {
		field := p.CiphertextSize
		if server {
			field = p.EncapsulationKeySize
		}
		h := randomHello(p.ID, field)
		f.Add(h)
		f.Add(h[:len(h)-1])
		f.Add(h[:HelloHeaderSize])
	}
	f.Add([]byte{})
	f.Add([]byte("KEMTCP"))
	f.Add([]byte{0x80, 0x04, 0x95, 0, 0})
	f.Add([]byte("KEMTCP\x02\x02\x01"))
}

// checkHelloErr: a refused hello gets one of the documented errors.
func checkHelloErr(t *testing.T, err error) {
	for _, want := range []error{ErrBadMagic, ErrLegacyPeer, ErrVersion, ErrUnknownKEM, ErrLength} {
		if errors.Is(err, want) {
			return
		}
	}
	t.Fatalf("undocumented error: %v", err)
}

func FuzzParseServerHello(f *testing.F) {
	helloSeeds(f, true)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseServerHello(b)
		if err != nil {
			checkHelloErr(t, err)
			return
		}
		out, err := h.Marshal()
		if err != nil {
			t.Fatalf("accepted hello does not marshal: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-marshalled hello differs")
		}
		if out, _ := h.Append([]byte("x")); !bytes.Equal(out[1:], b) || out[0] != 'x' {
			t.Fatalf("Append differs")
		}
	})
}

func FuzzParseClientHello(f *testing.F) {
	helloSeeds(f, false)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseClientHello(b)
		if err != nil {
			checkHelloErr(t, err)
			return
		}
		out, err := h.Marshal()
		if err != nil {
			t.Fatalf("accepted hello does not marshal: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-marshalled hello differs")
		}
	})
}

// FuzzOpenRecord: records sealed with the key open to what was sealed and
// re-seal to the same bytes; nothing else opens (a forged record that
// opened would have to re-seal to itself).
func FuzzOpenRecord(f *testing.F) {
	for _, v := range loadVectors(f) {
		for _, r := range v.Records {
			f.Add([]byte(v.KeyC2S), r.Seq, r.Type, []byte(r.Body), []byte(r.Record), uint(r.Seq))
		}
	}
	f.Add([]byte("k"), uint64(MaxRecords-1), byte(RecordClose), []byte{}, []byte{}, uint(0))
	f.Add([]byte{}, uint64(0), byte(0x42), bytes.Repeat([]byte{1}, 300), make([]byte, 17), uint(1000))
	f.Fuzz(func(t *testing.T, keyIn []byte, seq uint64, typ byte, body, garbage []byte, flip uint) {
		key := keyIn
		if len(key) != KeySize {
			k := sha256.Sum256(keyIn)
			key = k[:]
		}
		at := func(seq uint64) (*RecordSealer, *RecordOpener) {
			s, err := NewRecordSealer(key)
			if err != nil {
				t.Fatal(err)
			}
			o, err := NewRecordOpener(key)
			if err != nil {
				t.Fatal(err)
			}
			s.seq, o.seq = seq, seq
			return s, o
		}
		s, o := at(seq)
		record := s.Seal(nil, typ, body)
		if len(record) != len(body)+RecordOverhead {
			t.Fatalf("record is %d bytes for a %d-byte body", len(record), len(body))
		}
		gotTyp, gotBody, err := o.Open(bytes.Clone(record))
		if err != nil || gotTyp != typ || !bytes.Equal(gotBody, body) {
			t.Fatalf("round trip: %v", err)
		}
		if o.Seq() != seq+1 || s.Seq() != seq+1 {
			t.Fatalf("seq did not advance by one")
		}
		s2, _ := at(seq)
		if again := s2.Seal(nil, gotTyp, gotBody); !bytes.Equal(again, record) {
			t.Fatalf("seal(open(record)) differs")
		}
		// A flipped bit, another seq, another key: none opens.
		bad := bytes.Clone(record)
		bad[flip%uint(len(bad))] ^= 1 << (flip / uint(len(bad)) % 8)
		if _, o := at(seq); true {
			if _, _, err := o.Open(bad); !errors.Is(err, ErrAuth) || o.Seq() != seq {
				t.Fatalf("flipped record: %v", err)
			}
		}
		if _, o := at(seq + 1); true {
			if _, _, err := o.Open(bytes.Clone(record)); !errors.Is(err, ErrAuth) {
				t.Fatalf("record opened at another seq")
			}
		}
		other := bytes.Clone(key)
		other[0] ^= 1
		o3, _ := NewRecordOpener(other)
		o3.seq = seq
		if _, _, err := o3.Open(bytes.Clone(record)); !errors.Is(err, ErrAuth) {
			t.Fatalf("record opened under another key")
		}
		// Arbitrary bytes: if they open, they are a genuine record.
		_, o4 := at(seq)
		if gt, gb, err := o4.Open(bytes.Clone(garbage)); err == nil {
			s4, _ := at(seq)
			if !bytes.Equal(s4.Seal(nil, gt, gb), garbage) {
				t.Fatalf("forged record opened")
			}
		} else if !errors.Is(err, ErrAuth) {
			t.Fatalf("undocumented error: %v", err)
		}
	})
}

// fuzzStatic is the fuzzed server's static key, fixed so that failures
// reproduce as far as the KEM's randomness allows.
func fuzzStatic(t testing.TB) (kem.Scheme, kem.DecapsulationKey) {
	s, err := kem.Lookup(kem.MLKEM768, "")
	if err != nil {
		t.Fatal(err)
	}
	dk, err := s.NewDecapsulationKey(bytes.Repeat([]byte{0x5e}, kem.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	return s, dk
}

// Script operations of FuzzServer's scripted mode: each is op (1 byte),
// len (u16), arg (len bytes).
const (
	opRecord  = 0 // a sealed record: arg = type || body
	opFrame   = 1 // a frame of arbitrary payload
	opRaw     = 2 // raw bytes on the stream
	opCorrupt = 3 // a sealed record with one byte changed
)

// FuzzServer runs the server side of a whole session against arbitrary
// client bytes over a net.Pipe. With an even first byte, the rest is what
// the client sends from the start; with an odd one, a real client does the
// handshake and the rest is a script of records, frames and raw bytes. The
// server must never panic or hang, must deliver exactly the DATA records
// sealed before the first bad input, in order, and must end with the right
// error.
func FuzzServer(f *testing.F) {
	script := func(ops ...[]byte) []byte {
		b := []byte{1}
		for _, op := range ops {
			b = append(b, op[0])
			b = binary.BigEndian.AppendUint16(b, uint16(len(op)-1))
			b = append(b, op[1:]...)
		}
		return b
	}
	f.Add(script([]byte{opRecord, RecordData, 'h', 'i'}, []byte{opRecord, RecordClose}))
	f.Add(script([]byte{opRecord, RecordData, 'a'}, []byte{opCorrupt, RecordData, 'b'}))
	f.Add(script([]byte{opRecord, RecordData}, []byte{opRecord, RecordClose}, []byte{opRecord, RecordData, 'x'}))
	f.Add(script([]byte{opRecord, RecordFinished}))
	f.Add(script([]byte{opRecord, 0x09, 'x'}))
	f.Add(script([]byte{opFrame, 1, 2, 3}))
	f.Add(script([]byte{opRaw, 0, 0}))
	f.Add(script([]byte{opRecord, RecordData, 'x'}))
	f.Add(script())
	s, dk := fuzzStatic(f)
	p := s.Params()
	f.Add(append([]byte{0}, frame.Append(nil, randomHello(p.ID, p.CiphertextSize))...))
	f.Add(append([]byte{0}, frame.Append(nil, []byte("KEMTCP\x01\x02\x01"))...))
	f.Add([]byte{0, 0, 0, 0, 0})
	f.Add([]byte{2, 0xff, 0xff, 0xff, 0xff})

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		srvRaw, cliRaw := net.Pipe()
		defer cliRaw.Close()
		defer srvRaw.Close()
		deadline := time.Now().Add(10 * time.Second)
		srvRaw.SetDeadline(deadline)
		cliRaw.SetDeadline(deadline)

		type result struct {
			hsErr    error
			got      [][]byte
			sawClose bool
			final    error
		}
		done := make(chan result, 1)
		go func() {
			var r result
			defer func() { srvRaw.Close(); done <- r }()
			c, err := Server(srvRaw, &ServerConfig{Scheme: s, Static: dk})
			if err != nil {
				r.hsErr = err
				return
			}
			for {
				b, err := c.Recv()
				if err == io.EOF {
					r.sawClose = true
					_, r.final = c.Recv()
					c.CloseWrite()
					return
				}
				if err != nil {
					r.final = err
					return
				}
				r.got = append(r.got, bytes.Clone(b))
				c.Send(b) // fails once the client hangs up; Recv says why

			}
		}()
		drain := func() { io.Copy(io.Discard, cliRaw) }

		if data[0]%2 == 0 {
			go drain()
			cliRaw.Write(data[1:])
			cliRaw.Close()
			r := <-done
			for _, err := range []error{r.hsErr, r.final} {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("server hung: %v", err)
				}
			}
			if r.hsErr == nil && len(r.got) > 0 {
				t.Fatalf("DATA from a client that cannot have the keys")
			}
			return
		}

		cli, err := Client(cliRaw, &ClientConfig{Scheme: s})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		go drain()
		const (
			open = iota
			closed
			closedThenMore
			broken
		)
		state := open
		var want [][]byte
		ops := data[1:]
		for len(ops) >= 3 && state != broken {
			op := ops[0] % 4
			n := int(binary.BigEndian.Uint16(ops[1:]))
			arg := ops[3:min(len(ops), 3+n)]
			ops = ops[min(len(ops), 3+n):]
			var writeErr error
			wrote := true
			switch op {
			case opRecord, opCorrupt:
				typ, body := byte(RecordData), []byte(nil)
				if len(arg) > 0 {
					typ, body = arg[0], arg[1:]
				}
				if op == opCorrupt {
					rec := cli.sealer.Seal(nil, typ, body)
					rec[len(body)%len(rec)] ^= 0x80
					_, writeErr = cliRaw.Write(frame.Append(nil, rec))
				} else {
					writeErr = cli.sendRecord(typ, body)
				}
				switch {
				case state != open:
				case op == opRecord && typ == RecordData:
					want = append(want, body)
				case op == opRecord && typ == RecordClose && len(body) == 0:
					state = closed
					wrote = false
				default:
					state = broken
				}
			case opFrame:
				_, writeErr = cliRaw.Write(frame.Append(nil, arg))
				if state == open {
					state = broken
				}
			case opRaw:
				if len(arg) == 0 {
					wrote = false
					break
				}
				_, writeErr = cliRaw.Write(arg)
				if state == open {
					state = broken
				}
			}
			if state == closed && wrote {
				state = closedThenMore
			}
			if writeErr != nil {
				break // the server has hung up
			}
		}
		cliRaw.Close()
		r := <-done
		if r.hsErr != nil {
			t.Fatalf("server handshake: %v", r.hsErr)
		}
		if errors.Is(r.final, os.ErrDeadlineExceeded) {
			t.Fatalf("server hung: %v", r.final)
		}
		if len(r.got) != len(want) {
			t.Fatalf("server got %d DATA records, want %d (state %d, final %v)", len(r.got), len(want), state, r.final)
		}
		for i := range want {
			if !bytes.Equal(r.got[i], want[i]) {
				t.Fatalf("DATA record %d differs", i)
			}
		}
		switch state {
		case open:
			if r.sawClose || !errors.Is(r.final, ErrTruncated) {
				t.Fatalf("no CLOSE: want a truncation error, got close=%v %v", r.sawClose, r.final)
			}
		case closed:
			if !r.sawClose || r.final != io.EOF {
				t.Fatalf("CLOSE then nothing: got close=%v %v", r.sawClose, r.final)
			}
		case closedThenMore:
			if !r.sawClose || r.final == nil || r.final == io.EOF {
				t.Fatalf("bytes after CLOSE: got close=%v %v", r.sawClose, r.final)
			}
		case broken:
			if r.sawClose || r.final == nil || r.final == io.EOF {
				t.Fatalf("bad input: got close=%v %v", r.sawClose, r.final)
			}
		}
	})
}
