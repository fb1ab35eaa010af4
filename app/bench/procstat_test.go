package bench

import (
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseProcStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (my (odd) prog) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 75 12 3 20 0 4 0 1000 0 0\n"
	pt, err := parseProcStat([]byte(line))
	require.NoError(t, err)
	assert.Equal(t, procTimes{ppid: 17, utime: 250, stime: 75, cutime: 12, cstime: 3}, pt)

	for name, bad := range map[string]string{
		"no parenthesis": "4242 prog S 17",
		"short":          "4242 (prog) S 17 1 1 0",
		"ppid":           "4242 (prog) S x 4242 4242 0 -1 0 0 0 0 0 1 1 0 0 20 0",
		"utime":          "4242 (prog) S 1 4242 4242 0 -1 0 0 0 0 0 z 1 0 0 20 0",
		"negative":       "4242 (prog) S 1 4242 4242 0 -1 0 0 0 0 0 1 1 -5 0 20 0",
	} {
		_, err := parseProcStat([]byte(bad))
		assert.Error(t, err, name)
	}
}

// fakeProc writes a /proc with the given processes' stat files and an
// auxiliary vector with AT_CLKTCK = hz, and points procRoot at it.
func fakeProc(t *testing.T, stats map[int]string, hz uint64) {
	t.Helper()
	dir := t.TempDir()
	for pid, line := range stats {
		d := filepath.Join(dir, strconv.Itoa(pid))
		require.NoError(t, os.MkdirAll(d, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(d, "stat"), []byte(line), 0o644))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "self"), 0o755))
	var auxv []byte
	for _, kv := range [][2]uint64{{6, 4096}, {17, hz}, {0, 0}} {
		auxv = binary.NativeEndian.AppendUint64(auxv, kv[0])
		auxv = binary.NativeEndian.AppendUint64(auxv, kv[1])
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "self", "auxv"), auxv, 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "net"), 0o755))
	old := procRoot
	procRoot = dir
	t.Cleanup(func() { procRoot = old })
}

func stat(pid, ppid int, utime, stime, cutime, cstime uint64) string {
	return strconv.Itoa(pid) + " (p) S " + strconv.Itoa(ppid) + " 1 1 0 -1 0 0 0 0 0 " +
		strconv.FormatUint(utime, 10) + " " + strconv.FormatUint(stime, 10) + " " +
		strconv.FormatUint(cutime, 10) + " " + strconv.FormatUint(cstime, 10) + " 20 0 1 0\n"
}

// TestTreeCPU: a root's CPU time counts its descendants (and the children
// that ended, through cutime), not its parent or siblings.
func TestTreeCPU(t *testing.T) {
	fakeProc(t, map[int]string{
		1:  stat(1, 0, 1000, 1000, 0, 0), // init: not counted
		10: stat(10, 1, 100, 50, 7, 3),   // the root
		11: stat(11, 10, 20, 10, 0, 0),   // its child
		12: stat(12, 11, 5, 5, 0, 0),     // grandchild
		20: stat(20, 1, 400, 400, 0, 0),  // a sibling: not counted
	}, 250)
	procs, err := allProcs()
	require.NoError(t, err)
	require.Len(t, procs, 5)
	assert.Equal(t, uint64(100+50+7+3+20+10+5+5), treeTicks(procs, []int{10}))
	assert.Equal(t, uint64(200+800), treeTicks(procs, []int{10, 20, 12}), "roots in one another's trees count once")
	assert.Zero(t, treeTicks(procs, []int{99}), "a process that is gone")

	assert.Equal(t, uint64(250), clockTicks(), "USER_HZ from the auxiliary vector")
	d, err := cpuOf([]int{10})
	require.NoError(t, err)
	assert.Equal(t, 200*time.Second/250, d)

	require.NoError(t, os.WriteFile(filepath.Join(procRoot, "11", "stat"), []byte("garbage"), 0o644))
	_, err = cpuOf([]int{10})
	assert.ErrorContains(t, err, "/11/stat")
}

func TestClockTicksFallback(t *testing.T) {
	fakeProc(t, nil, 0)
	require.NoError(t, os.Remove(filepath.Join(procRoot, "self", "auxv")))
	assert.Equal(t, uint64(100), clockTicks())
}

func TestListensIn(t *testing.T) {
	table := []byte(`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1520 1 0 100 0 0 10 0
   1: 0100007F:A933 0100007F:CD40 06 00000000:00000000 03:0000101E 00000000     0        0 0 3 0
   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1521 1 0 100 0 0 10 0
   3: 0200000A:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1522 1 0 100 0 0 10 0
`)
	assert.True(t, listensIn(table, 2024), "every address, 0x07E8")
	assert.True(t, listensIn(table, 8080), "127.0.0.1:8080")
	assert.False(t, listensIn(table, 0xA933), "a connection, not a listener")
	assert.False(t, listensIn(table, 8081), "another address (10.0.0.2)")
	assert.False(t, listensIn(table, 9))
}

// TestListening reads the real /proc/net/tcp.
func TestListening(t *testing.T) {
	if _, readable := listening(1); !readable {
		t.Skip("no /proc/net/tcp")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ok, _ := listening(port)
	assert.True(t, ok)
	ln.Close()
	ok, _ = listening(port)
	assert.False(t, ok)
}
