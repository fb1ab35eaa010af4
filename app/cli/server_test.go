package cli

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestListenAddr: the address printed for a wildcard listener is the one
// asked for (0.0.0.0 stays 0.0.0.0, where Go reports the dual-stack [::]).
func TestListenAddr(t *testing.T) {
	for asked, want := range map[string]string{
		"0.0.0.0:5000": "0.0.0.0:5000",
		":5000":        ":5000",
		"[::]:5000":    "[::]:5000",
	} {
		got := listenAddr(asked, &net.TCPAddr{IP: net.IPv6unspecified, Port: 5000})
		assert.Equal(t, want, got, asked)
	}
	assert.Equal(t, "127.0.0.1:41000", listenAddr("127.0.0.1:0", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41000}))
}
