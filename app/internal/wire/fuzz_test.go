package wire

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
)

// helloSeeds adds the vectors' hellos of one kind, valid random ones of
// every parameter set and version, and some near misses.
func helloSeeds(f *testing.F, server bool) {
	for _, v := range loadVectorsV1(f) {
		if server {
			f.Add([]byte(v.ServerHello))
		} else {
			f.Add([]byte(v.ClientHello))
		}
	}
	for _, p := range allParams(f) {
		var hs [][]byte
		if server {
			hs = [][]byte{
				handHello(Version1, p.ID, nil, p.EncapsulationKeySize),
				handHello(Version2, p.ID, []byte{0}, p.EncapsulationKeySize),
				handHello(Version2, p.ID, []byte{FlagClientKey}, p.EncapsulationKeySize),
			}
		} else {
			hs = [][]byte{
				handHello(Version1, p.ID, nil, p.CiphertextSize),
				handHello(Version2, p.ID, nil, p.CiphertextSize),
			}
		}
		for _, h := range hs {
			f.Add(h)
			f.Add(h[:len(h)-1])
			f.Add(h[:HelloHeaderSize])
		}
	}
	f.Add([]byte{})
	f.Add([]byte("KEMTCP"))
	f.Add([]byte{0x80, 0x04, 0x95, 0, 0})
	f.Add([]byte("KEMTCP\x02\x02\x01"))
	f.Add([]byte("KEMTCP\x02\x02\x01\x02"))
	f.Add(AppendRefusal(nil, RefusedFull))
	f.Add([]byte("KEMTCP\xff\x01\x00"))
}

// checkHelloErr: a refused hello gets one of the documented errors.
func checkHelloErr(t *testing.T, err error, documented ...error) {
	t.Helper()
	for _, want := range documented {
		if errors.Is(err, want) {
			return
		}
	}
	t.Fatalf("undocumented error: %v", err)
}

func FuzzParseServerHello(f *testing.F) {
	helloSeeds(f, true)
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		h, err := ParseServerHello(b)
		if !bytes.Equal(in, b) {
			t.Fatalf("ParseServerHello changed its input")
		}
		if err != nil {
			checkHelloErr(t, err, ErrBadMagic, ErrLegacyPeer, ErrRefused, ErrVersion, ErrFlags, ErrUnknownKEM, ErrLength)
			if h != nil {
				t.Fatalf("a hello and an error")
			}
			return
		}
		out, err := h.Append(nil)
		if err != nil {
			t.Fatalf("accepted hello does not Append: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-appended hello differs")
		}
		if out, err := h.Append([]byte("x")); err != nil || out[0] != 'x' || !bytes.Equal(out[1:], b) {
			t.Fatalf("Append to a prefix differs: %v", err)
		}
	})
}

func FuzzParseClientHello(f *testing.F) {
	helloSeeds(f, false)
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		h, err := ParseClientHello(b)
		if !bytes.Equal(in, b) {
			t.Fatalf("ParseClientHello changed its input")
		}
		if err != nil {
			checkHelloErr(t, err, ErrBadMagic, ErrVersion, ErrUnknownKEM, ErrLength)
			if h != nil {
				t.Fatalf("a hello and an error")
			}
			return
		}
		out, err := h.Append(nil)
		if err != nil {
			t.Fatalf("accepted hello does not Append: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-appended hello differs")
		}
		if out, err := h.Append([]byte("x")); err != nil || out[0] != 'x' || !bytes.Equal(out[1:], b) {
			t.Fatalf("Append to a prefix differs: %v", err)
		}
	})
}

// FuzzOpen: arbitrary records never panic and never open under a random
// key, at any seq; records sealed under the fuzzer's key open to what was
// sealed, and the same record with a bit flipped, at another seq or under
// another key does not. Failures leave the counters alone.
func FuzzOpen(f *testing.F) {
	for _, v := range loadVectorsV1(f) {
		for _, r := range v.Records {
			key := v.KeyC2S
			if r.Direction == "s2c" {
				key = v.KeyS2C
			}
			f.Add([]byte(key), r.Seq, r.Type, []byte(r.Body), []byte(r.Record), uint(r.Seq))
		}
	}
	f.Add([]byte("k"), uint64(MaxRecords-1), byte(RecordClose), []byte{}, []byte{}, uint(0))
	f.Add([]byte{}, uint64(0), byte(0x42), bytes.Repeat([]byte{1}, 300), make([]byte, 17), uint(1000))
	f.Add(make([]byte, KeySize), ^uint64(0), byte(0), []byte("x"), make([]byte, 16), uint(7))
	f.Fuzz(func(t *testing.T, keyIn []byte, seq uint64, typ byte, body, record []byte, flip uint) {
		key := keyIn
		if len(key) != KeySize {
			k := sha256.Sum256(keyIn)
			key = k[:]
		}
		at := func(key []byte, seq uint64) (*Sealer, *Opener) {
			s, o := new(Sealer), new(Opener)
			if err := s.SetKey(key); err != nil {
				t.Fatal(err)
			}
			if err := o.SetKey(key); err != nil {
				t.Fatal(err)
			}
			s.Seq, o.Seq = seq, seq
			return s, o
		}
		// mustFail opens r with o, in place and with OpenTo, and checks that
		// it fails with ErrAuth and leaves the counters alone.
		mustFail := func(what string, o *Opener, r []byte) {
			t.Helper()
			seq, blocks := o.Seq, o.Blocks
			if _, _, err := o.OpenTo(make([]byte, 0, len(r)), r); !errors.Is(err, ErrAuth) {
				t.Fatalf("%s: OpenTo: %v, want ErrAuth", what, err)
			}
			if _, _, err := o.Open(bytes.Clone(r)); !errors.Is(err, ErrAuth) {
				t.Fatalf("%s: Open: %v, want ErrAuth", what, err)
			}
			if o.Seq != seq || o.Blocks != blocks {
				t.Fatalf("%s: counters moved", what)
			}
		}

		// Arbitrary bytes under a key the fuzzer cannot know.
		secret := make([]byte, KeySize)
		rand.Read(secret)
		_, rnd := at(secret, seq)
		mustFail("arbitrary record", rnd, record)

		// A genuine record round-trips.
		s, o := at(key, seq)
		r := s.Seal(nil, typ, body)
		if len(r) != len(body)+RecordOverhead {
			t.Fatalf("record is %d bytes for a %d-byte body", len(r), len(body))
		}
		if s.Seq != seq+1 || s.Blocks != Blocks(len(body)) {
			t.Fatalf("sealer counters %d, %d", s.Seq, s.Blocks)
		}
		gotTyp, gotBody, err := o.OpenTo(nil, r)
		if err != nil || gotTyp != typ || !bytes.Equal(gotBody, body) {
			t.Fatalf("round trip: %v", err)
		}
		if o.Seq != seq+1 || o.Blocks != Blocks(len(body)) {
			t.Fatalf("opener counters %d, %d", o.Seq, o.Blocks)
		}
		s2, _ := at(key, seq)
		if again := s2.Seal(nil, gotTyp, gotBody); !bytes.Equal(again, r) {
			t.Fatalf("Seal(Open(record)) differs")
		}

		// A flipped bit, another seq, another key: none opens.
		bad := bytes.Clone(r)
		bad[flip%uint(len(bad))] ^= 1 << (flip / uint(len(bad)) % 8)
		_, o = at(key, seq)
		mustFail("flipped bit", o, bad)
		_, o = at(key, seq+1)
		mustFail("next seq", o, r)
		_, o = at(key, seq-1)
		mustFail("previous seq", o, r)
		other := bytes.Clone(key)
		other[flip%KeySize] ^= 1 << (flip % 8)
		_, o = at(other, seq)
		mustFail("another key", o, r)

		// The fuzzer's record under the fuzzer's key: if it opens, it is a
		// genuine record, which re-seals to itself.
		_, o = at(key, seq)
		if gt, gb, err := o.Open(bytes.Clone(record)); err == nil {
			s4, _ := at(key, seq)
			if !bytes.Equal(s4.Seal(nil, gt, gb), record) {
				t.Fatalf("forged record opened")
			}
		} else if !errors.Is(err, ErrAuth) {
			t.Fatalf("undocumented error: %v", err)
		}
	})
}
