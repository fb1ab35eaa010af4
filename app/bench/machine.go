package bench

import (
	"bufio"
	"os"
	"runtime"
	"strings"

	"github.com/kemtcp/kemtcp/app/kem"
	"github.com/kemtcp/kemtcp/oqs"
)

// Machine describes where the figures were measured; it heads the output.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`      // runtime.NumCPU
	GOMAXPROCS int    `json:"gomaxprocs"` // runtime.GOMAXPROCS(0)
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	Go         string `json:"go"`
	// Liboqs is the linked liboqs's version, or "not compiled in".
	Liboqs   string   `json:"liboqs"`
	Backends []string `json:"backends"` // compiled in, the default first
	// LoadAvg is /proc/loadavg's first three fields at the start of the run
	// ("" where there is none): other work on the machine skews figures.
	LoadAvg string `json:"loadavg"`
}

// NotCompiledIn is what the output says for liboqs figures in a binary
// built without the liboqs build tag.
const NotCompiledIn = "not compiled in (build with -tags liboqs)"

// DescribeMachine returns the machine's description.
func DescribeMachine() Machine {
	m := Machine{
		CPU:        cpuModel(),
		Cores:      runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		Go:         runtime.Version(),
		Liboqs:     NotCompiledIn,
		Backends:   kem.Backends(),
		LoadAvg:    loadAvg(),
	}
	if oqs.Compiled {
		m.Liboqs = oqs.LiboqsVersion()
	}
	return m
}

// cpuModel reads the model name from /proc/cpuinfo (Linux), or returns the
// architecture.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
