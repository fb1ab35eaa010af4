package display

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"Hello from client using ML-KEM!": "Hello from client using ML-KEM!",
		"":                                "",
		"tab\there":                       "tab\there",
		"ünïcødé 🌙":                       "ünïcødé 🌙",
		"\x1b[2J clear":                   `\x1b[2J clear`,
		"bell\a":                          `bell\x07`,
		"cr\rlf\n":                        `cr\x0dlf\x0a`,
		"bad \xff utf8":                   `bad \xff utf8`,
		`back\slash`:                      `back\\slash`,
		"del\x7f":                         `del\x7f`,
		"rtl\u202eoverride":               `rtl\u202eoverride`,
	} {
		assert.Equal(t, want, Text([]byte(in)), "input %q", in)
	}
}
