// Package display makes peer-supplied text safe to print on a terminal.
package display

import (
	"fmt"
	"strings"
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
