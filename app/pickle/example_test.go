package pickle_test

import (
	"fmt"

	"github.com/kemtcp/kemtcp/app/pickle"
)

func ExampleDecode() {
	// pickle.dumps({"nonce": b"0123456789ab"}) in CPython 3.11.
	p := []byte("\x80\x04\x95\x1b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x05nonce\x94C\x0c0123456789ab\x94s.")
	v, err := pickle.Decode(p)
	if err != nil {
		panic(err)
	}
	nonce, _ := v.(*pickle.Dict).Get(pickle.String("nonce"))
	fmt.Printf("%s %s\n", pickle.TypeName(v), pickle.Repr(nonce))

	// What pickle.loads would turn into os.system("echo pwned").
	_, err = pickle.Decode([]byte("\x80\x04cos\nsystem\n(S'echo pwned'\ntR."))
	fmt.Println(err)
	// Output:
	// dict b'0123456789ab'
	// pickle: opcode GLOBAL ('c', 0x63) is not allowed (offset 2)
}

func ExampleEncode() {
	// The same bytes as pickle.dumps({"aad": b""}) in CPython 3.11.
	d, _ := pickle.NewDict(pickle.Item{Key: pickle.String("aad"), Value: pickle.Bytes("")})
	p, _ := pickle.Encode(d)
	fmt.Printf("%q\n", p)
	// Output:
	// "\x80\x04\x95\r\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x03aad\x94C\x00\x94s."
}
