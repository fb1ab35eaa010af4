package session

import "bytes"

// lookalikes are the openings of other protocols that a peer may send where
// a hello belongs: a wrong port, a load balancer's PROXY header to a server
// that takes none from it. Read as a frame length, each is far too large,
// so the hello fails at once; these name what the bytes were.
var lookalikes = []struct {
	prefix, what string
}{
	{"PROX", "a PROXY protocol v1 header"},
	{"\r\n\r\n", "a PROXY protocol v2 header"},
	{"SSH-", "an SSH banner"},
	{"HTTP", "an HTTP response"},
	{"GET ", "an HTTP request"},
	{"POST", "an HTTP request"},
	{"\x16\x03", "a TLS handshake"},
}

// lookalike names the protocol whose opening the first bytes of the
// unconsumed input look like, or returns "".
func (r *recordReader) lookalike() string {
	head := r.buf[r.pos:r.end]
	for _, l := range lookalikes {
		if bytes.HasPrefix(head, []byte(l.prefix)) {
			return l.what
		}
	}
	return ""
}
