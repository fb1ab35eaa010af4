// Package display prints for kem-server and kem-client: peer-supplied text
// made safe for a terminal, and whole lines from many goroutines.
package display

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Text returns b as printable text: valid UTF-8 stays as it is, except that
// control characters and other non-printable runes (which could move the
// cursor or change a terminal's state) are shown as \xNN or \uNNNN escapes,
// and bytes that are not UTF-8 are shown as \xNN.
func Text(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&sb, `\x%02x`, b[0])
		case r == '\\':
			sb.WriteString(`\\`)
		case r == '\t' || r == ' ' || unicode.IsPrint(r):
			sb.WriteRune(r)
		case r < 0x80:
			fmt.Fprintf(&sb, `\x%02x`, r)
		default:
			fmt.Fprintf(&sb, `\u%04x`, r)
		}
		b = b[size:]
	}
	return sb.String()
}

// Lines writes whole lines to one writer from many goroutines without
// interleaving them.
type Lines struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLines returns a Lines writing to w.
func NewLines(w io.Writer) *Lines { return &Lines{w: w} }

// LinesOf returns w if it is a *Lines already, else NewLines(w): writers
// that share one *Lines never interleave their lines.
func LinesOf(w io.Writer) *Lines {
	if l, ok := w.(*Lines); ok {
		return l
	}
	return NewLines(w)
}

// Write writes p whole, between other lines.
func (l *Lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Printf writes one line: format and args as fmt.Sprintf, then "\n".
func (l *Lines) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}

// Prompt writes p without a newline (a prompt for input).
func (l *Lines) Prompt(p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(l.w, p)
}
