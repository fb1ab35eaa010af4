package cli

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestProxyListener: -proxy-protocol's listener takes the header of a
// listed load balancer, and never reads one from anyone else: a direct
// client's first bytes reach the server untouched, and the server can speak
// first at once (with REJECT it would wait the whole header timeout).
func TestProxyListener(t *testing.T) {
	var trusted cidrFlag
	require.NoError(t, trusted.Set("127.0.0.2"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	pl := proxyListener(ln, &trusted, time.Hour)
	defer pl.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := pl.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(from string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Second))
		return c
	}
	server := func() net.Conn {
		select {
		case c := <-accepted:
			t.Cleanup(func() { c.Close() })
			c.SetDeadline(time.Now().Add(20 * time.Second))
			return c
		case <-time.After(20 * time.Second):
			t.Fatal("nothing accepted")
			return nil
		}
	}

	// Direct: the server's first write goes out without waiting for a
	// header, its address is the client's own, and a header is data.
	c := dial("127.0.0.1")
	s := server()
	_, err = s.Write([]byte("hello\n"))
	require.NoError(t, err)
	line, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "hello\n", line)
	require.Equal(t, c.LocalAddr().String(), s.RemoteAddr().String())
	_, err = c.Write([]byte("PROXY TCP4 10.9.9.9 127.0.0.1 4242 5000\r\n"))
	require.NoError(t, err)
	line, err = bufio.NewReader(s).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "PROXY TCP4 10.9.9.9 127.0.0.1 4242 5000\r\n", line)
	require.Equal(t, c.LocalAddr().String(), s.RemoteAddr().String())

	// The load balancer: its header names the client.
	lb := dial("127.0.0.2")
	_, err = lb.Write([]byte("PROXY TCP4 203.0.113.7 127.0.0.1 4000 5000\r\nafter\n"))
	require.NoError(t, err)
	s = server()
	require.Equal(t, "203.0.113.7:4000", s.RemoteAddr().String())
	line, err = bufio.NewReader(s).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "after\n", line)
}
