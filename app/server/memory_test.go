package server_test

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/app/server"
	"github.com/kemtcp/kemtcp/app/session"
)

// TestIdleTunnelMemory: an idle tunnel is cheap. 200 tunnels that carried
// one byte each way and sit idle hold, each, at most 64 KiB of heap and
// goroutine stacks, for its three parts in this process together: the
// server's side (session, two relay goroutines, the target connection),
// the test's client session and the target's goroutine. (About 22 KiB of
// heap and 21 KiB of stacks when written; the server's share is about
// half.)
func TestIdleTunnelMemory(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("memory accounting is skewed by the race detector: make test runs this without -race too")
	}
	tg := startTarget(t, "", func(c net.Conn) { io.Copy(c, c) })
	ts := startServer(t, server.Config{Handler: &server.Forward{Target: tg.addr}})
	const n = 200
	clients := make([]*session.Conn, 0, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	for range n {
		c := ts.dial()
		c.SetDeadline(time.Now().Add(waitLong))
		sc := session.Client(c, ts.clientConfig())
		_, err := sc.Write([]byte("x"))
		require.NoError(t, err)
		_, err = io.ReadFull(sc, make([]byte, 1))
		require.NoError(t, err)
		clients = append(clients, sc)
	}
	eventually(t, waitLong, "the tunnels' goroutines", func() bool { return runtime.NumGoroutine() >= goroutines+4*n })
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	stack := (int64(after.StackInuse) - int64(before.StackInuse)) / n
	t.Logf("per idle tunnel (server side, client session, target): heap %d B, stacks %d B", heap, stack)
	assert.Less(t, heap+stack, int64(64<<10))
	for _, sc := range clients {
		sc.Close()
	}
	eventually(t, waitLong, "no connections", func() bool { return ts.srv.Active() == 0 })
}
