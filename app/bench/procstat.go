package bench

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// What the tunnel section reads from Linux's /proc (proc(5)): the CPU time
// of the tunnels' processes, and whether a port is listening yet.

// procRoot is where /proc is; tests point it elsewhere.
var procRoot = "/proc"

// procTimes are one process's CPU times from /proc/PID/stat, in clock
// ticks: utime and stime (its own threads), cutime and cstime (its
// children that have ended and been waited for), and its parent.
type procTimes struct {
	ppid                         int
	utime, stime, cutime, cstime uint64
}

// parseProcStat parses the contents of /proc/PID/stat (proc(5)): the
// fields after the command name, which is in parentheses and may hold
// spaces and parentheses itself.
func parseProcStat(b []byte) (procTimes, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procTimes{}, errors.New("no ')' after the command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 15 {
		return procTimes{}, fmt.Errorf("%d fields after the command name, want at least 15", len(f))
	}
	var t procTimes
	var err error
	if t.ppid, err = strconv.Atoi(f[4-3]); err != nil {
		return procTimes{}, fmt.Errorf("ppid: %w", err)
	}
	for k, dst := range map[int]*uint64{14: &t.utime, 15: &t.stime, 16: &t.cutime, 17: &t.cstime} {
		// cutime and cstime are signed in proc(5); they are never negative.
		v, err := strconv.ParseInt(f[k-3], 10, 64)
		if err != nil || v < 0 {
			return procTimes{}, fmt.Errorf("field %d %q: not a tick count", k, f[k-3])
		}
		*dst = uint64(v)
	}
	return t, nil
}

// allProcs reads every process's times, by PID. Processes that end while
// it reads are left out.
func allProcs() (map[int]procTimes, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	out := map[int]procTimes{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue // it ended
		}
		t, err := parseProcStat(b)
		if err != nil {
			return nil, fmt.Errorf("%s/%d/stat: %w", procRoot, pid, err)
		}
		out[pid] = t
	}
	return out, nil
}

// treeTicks is the CPU time, in clock ticks, of the processes roots and
// all their descendants: utime+stime of each, plus cutime+cstime (the
// children that ended, so that a child that ends between two readings
// still counts). Only the difference of two readings means anything.
func treeTicks(procs map[int]procTimes, roots []int) uint64 {
	children := map[int][]int{}
	for pid, t := range procs {
		children[t.ppid] = append(children[t.ppid], pid)
	}
	seen := map[int]bool{}
	var total uint64
	var walk func(int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		t, ok := procs[pid]
		if !ok {
			return
		}
		total += t.utime + t.stime + t.cutime + t.cstime
		for _, c := range children[pid] {
			walk(c)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return total
}

// cpuOf returns the CPU time of roots' process trees so far.
func cpuOf(roots []int) (time.Duration, error) {
	procs, err := allProcs()
	if err != nil {
		return 0, err
	}
	return time.Duration(treeTicks(procs, roots)) * time.Second / time.Duration(clockTicks()), nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's times:
// AT_CLKTCK of this process's auxiliary vector, or 100 (its value on every
// Linux architecture Go supports) if that cannot be read.
func clockTicks() uint64 {
	const atClkTck = 17
	b, err := os.ReadFile(filepath.Join(procRoot, "self", "auxv"))
	if err == nil {
		for len(b) >= 16 {
			k, v := binary.NativeEndian.Uint64(b), binary.NativeEndian.Uint64(b[8:])
			if k == atClkTck && v > 0 {
				return v
			}
			if k == 0 {
				break
			}
			b = b[16:]
		}
	}
	return 100
}

// listening reports whether a TCP socket listens on 127.0.0.1:port or on
// every address (/proc/net/tcp, state 0A), and whether /proc/net/tcp could
// be read at all.
func listening(port int) (bool, bool) {
	b, err := os.ReadFile(filepath.Join(procRoot, "net", "tcp"))
	if err != nil {
		return false, false
	}
	return listensIn(b, port), true
}

// listensIn looks for a listening socket on port in the contents of
// /proc/net/tcp: "sl local_address rem_address st ...", addresses as
// hexadecimal IP:PORT (the IPv4 address as a 32-bit number in host byte
// order: 127.0.0.1 is 0100007F on a little-endian machine).
func listensIn(table []byte, port int) bool {
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(table), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "0A" || !strings.HasSuffix(f[1], want) {
			continue
		}
		if ip := strings.TrimSuffix(f[1], want); ip == "0100007F" || ip == "7F000001" || ip == "00000000" {
			return true
		}
	}
	return false
}
