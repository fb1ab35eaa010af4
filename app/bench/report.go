package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Report is everything one Run measured. Its JSON form (WriteJSON) is what
// `kem-bench -json` writes; figures that were not measured are null.
type Report struct {
	Machine  Machine   `json:"machine"`
	Settings Settings  `json:"settings"`
	Started  time.Time `json:"started"`
	// ElapsedSeconds is how long the whole run took.
	ElapsedSeconds float64 `json:"elapsed_seconds"`

	KEM        []KEMResult        `json:"kem_operations"`
	Handshakes []HandshakeResult  `json:"handshakes"`
	Bulk       []ThroughputResult `json:"bulk"`
	Echo       []EchoResult       `json:"echo"`
	Legacy     []LegacyResult     `json:"legacy"`
	Idle       []IdleResult       `json:"idle_connections"`
	Sweep      []ThroughputResult `json:"message_size_sweep"`
	Tunnel     *TunnelReport      `json:"tunnel"`

	Summary Summary `json:"summary"`
}

// Settings records the Config of the run.
type Settings struct {
	Quick           bool     `json:"quick"`
	Runs            int      `json:"runs"`
	DurationSeconds float64  `json:"duration_seconds"`
	Sections        []string `json:"sections"`
	Clients         int      `json:"clients"`
	BulkBytes       int64    `json:"bulk_bytes"`
	BulkMessage     int      `json:"bulk_message_bytes"`
	EchoMessage     int      `json:"echo_message_bytes"`
	// LoadAvgEnd is /proc/loadavg at the end of the run.
	LoadAvgEnd string `json:"loadavg_end"`
}

// Status values of a row.
const (
	StatusOK          = "ok"
	StatusUnsupported = "not supported by this backend"
	// StatusNotCompiled is the status of the liboqs rows in a binary built
	// without the liboqs build tag.
	StatusNotCompiled = "not compiled in"
)

// Operation names of the kem section.
const (
	OpKeygen = "keygen"
	OpEncaps = "encaps"
	OpDecaps = "decaps"
)

// KEMResult is one operation of one backend and parameter set.
type KEMResult struct {
	Backend   string `json:"backend"`
	Algorithm string `json:"algorithm"`
	// Op is keygen (GenerateKey, then Destroy), encaps
	// (NewEncapsulationKey of the received bytes, then Encapsulate) or
	// decaps (Decapsulate).
	Op     string `json:"op"`
	Status string `json:"status"` // StatusOK, StatusNotCompiled or StatusUnsupported
	// NsPerOp and OpsPerSec are timed through package kem.
	NsPerOp   *Stat `json:"ns_per_op"`
	OpsPerSec *Stat `json:"ops_per_sec"`
	// CNsPerOp (liboqs only) is the same operation timed inside C
	// (timeInC); GoOverC is, run by run, the time through package kem
	// divided by the time in C: the cost of cgo and of the Go side.
	CNsPerOp *Stat `json:"c_ns_per_op"`
	GoOverC  *Stat `json:"go_over_c"`
	// GoOverCBasis says what GoOverC divides: "thread CPU time" (the CPU
	// time of the thread that ran each batch: the wall time of an idle
	// machine, which other processes do not inflate), or "wall time" where
	// that is not available.
	GoOverCBasis string `json:"go_over_c_basis,omitempty"`
}

// HandshakeResult is one handshake rate.
type HandshakeResult struct {
	Protocol string `json:"protocol"` // "session", "tls" or "tcp" (the plain-TCP baseline)
	// Backend is the KEM backend (session), "crypto/tls" or "plain TCP".
	Backend string `json:"backend"`
	// Algorithm is the KEM (session; tcp: the KEM whose handshake's writes
	// it makes) or the TLS key exchange group.
	Algorithm string `json:"algorithm"`
	Clients   int    `json:"clients"` // clients at once
	Status    string `json:"status"`
	// Detail says what was negotiated (tls), how the client trusted the
	// server (session) or what was sent (tcp).
	Detail string `json:"detail,omitempty"`
	// WireBytes is what a connection writes, both ways, from connect to
	// close (session and tcp).
	WireBytes int   `json:"wire_bytes,omitempty"`
	PerSec    *Stat `json:"handshakes_per_sec"`
	// VsTLS is PerSec over the TLS rate with the same number of clients.
	VsTLS *float64 `json:"vs_tls"`
	// VsTCP is PerSec over the plain-TCP baseline with the same writes and
	// clients (measured for each KEM's first backend).
	VsTCP *float64 `json:"vs_tcp,omitempty"`
}

// ThroughputResult is one one-way transfer rate.
type ThroughputResult struct {
	Protocol    string `json:"protocol"` // "session" or "tls"
	Detail      string `json:"detail,omitempty"`
	MessageSize int    `json:"message_bytes"`
	MBPerSec    *Stat  `json:"mb_per_sec"` // 10^6 bytes of application data per second
	// AllocsPerWrite is the heap objects the process (client and server)
	// allocated per Write, over the whole transfer.
	AllocsPerWrite *Stat `json:"allocs_per_write"`
	// KeyUpdates (session) is how many key updates the client sent over
	// all runs: with the default limits (PROTOCOL.md, "Key update"), one
	// per 2^35 blocks or 2^23 records, none in a run of the bench.
	KeyUpdates *uint64  `json:"key_updates,omitempty"`
	VsTLS      *float64 `json:"vs_tls"`
}

// EchoResult is one round-trip rate.
type EchoResult struct {
	Protocol         string `json:"protocol"` // "session", "tls" or "tcp"
	Detail           string `json:"detail,omitempty"`
	MessageSize      int    `json:"message_bytes"`
	RoundTripsPerSec *Stat  `json:"round_trips_per_sec"`
	// AllocsPerRoundTrip is the heap objects the process (client and
	// server) allocated per round trip: two Writes and two Reads.
	AllocsPerRoundTrip *Stat    `json:"allocs_per_round_trip"`
	VsTLS              *float64 `json:"vs_tls"`
}

// LegacyResult is the one-way message rate of one protocol and its bytes on
// the wire.
type LegacyResult struct {
	Protocol       string `json:"protocol"` // "legacy" or "session"
	Backend        string `json:"backend"`
	Algorithm      string `json:"algorithm"`
	MessageSize    int    `json:"message_bytes"`
	MessagesPerSec *Stat  `json:"messages_per_sec"`
	// WireBytesPerMessage is what the client writes per message (frames
	// included), measured on the connection.
	WireBytesPerMessage float64 `json:"wire_bytes_per_message"`
	// SetupBytes is what crosses the connection, both ways, before the
	// first message: the key exchange.
	SetupBytes int64 `json:"setup_bytes"`
}

// IdleResult is the server's memory with Conns idle session connections.
type IdleResult struct {
	Conns int `json:"conns"`
	// RSSBytes is the server process's resident memory (VmRSS) after a
	// garbage collection that returns free memory to the OS; RSSRawBytes
	// is the same before it.
	RSSBytes    *Stat `json:"rss_bytes"`
	RSSRawBytes *Stat `json:"rss_raw_bytes"`
	// GoBytes is all memory the Go runtime has mapped and not released
	// (runtime/metrics /memory/classes/total - /memory/classes/heap/released).
	GoBytes    *Stat `json:"go_bytes"`
	Goroutines *Stat `json:"goroutines"`
	// PerConnBytes is (RSSBytes - the RSS with no connection) / Conns.
	PerConnBytes *Stat `json:"rss_per_conn_bytes"`
}

// Summary holds the figures that the targets are about, for tools. A
// field is null when its figure was not measured; NullReasons says why.
type Summary struct {
	// CgoOverheadMax is the largest GoOverC median over the operations and
	// parameter sets of the liboqs backend.
	CgoOverheadMax *float64 `json:"cgo_overhead_max"`
	// HandshakeVsTLS is session handshakes/s (liboqs, ML-KEM-768, one
	// client after another) over TLS 1.3 X25519MLKEM768 handshakes/s.
	HandshakeVsTLS *float64 `json:"handshake_vs_tls"`
	// HandshakeVsTLSConcurrent is the same with Clients clients at once.
	HandshakeVsTLSConcurrent *float64 `json:"handshake_vs_tls_concurrent"`
	// HandshakeVsTCP is session handshakes/s (liboqs, ML-KEM-768, one
	// client after another) over the plain-TCP baseline that makes the same
	// writes; HandshakeVsTCPConcurrent the same with Clients at once.
	HandshakeVsTCP           *float64 `json:"handshake_vs_tcp"`
	HandshakeVsTCPConcurrent *float64 `json:"handshake_vs_tcp_concurrent"`
	// XWingVsTLS is session handshakes/s with X-Wing (liboqs's ML-KEM-768
	// inside, one client after another) over TLS X25519MLKEM768's.
	XWingVsTLS *float64 `json:"xwing_vs_tls"`
	// XWingCost is what X-Wing costs over ML-KEM-768.
	XWingCost *HybridCost `json:"xwing_cost"`
	// BulkVsTLS is session MB/s over crypto/tls MB/s (bulk section).
	BulkVsTLS *float64 `json:"bulk_vs_tls"`
	// EchoVsTLS is session round trips/s over crypto/tls round trips/s.
	EchoVsTLS *float64 `json:"echo_vs_tls"`
	// EchoAllocs is the heap objects the process allocated per session
	// round trip (two Writes and two Reads, client and server).
	EchoAllocs *float64 `json:"echo_allocs_per_round_trip"`
	// IdleConnBytes is the server's memory per idle session connection at
	// the largest number of idle connections measured.
	IdleConnBytes *float64 `json:"idle_conn_bytes"`
	// IdleConnCount is that number of connections.
	IdleConnCount int `json:"idle_conn_count"`
	// Tunnel is the tunnel section's ratios.
	Tunnel      *TunnelSummary    `json:"tunnel"`
	NullReasons map[string]string `json:"null_reasons,omitempty"`
	Targets     []Target          `json:"targets"`
}

// HybridCost is what the X-Wing hybrid (ML-KEM-768 and X25519) costs over
// ML-KEM-768 alone on one backend: time per KEM operation and per
// handshake (from the one-client handshake rates), and bytes.
type HybridCost struct {
	Backend         string   `json:"backend"`
	KeygenMicros    *float64 `json:"keygen_us"`
	EncapsMicros    *float64 `json:"encaps_us"`
	DecapsMicros    *float64 `json:"decaps_us"`
	HandshakeMicros *float64 `json:"handshake_us"`
	// HandshakeBytes is the extra bytes a connection writes, both ways
	// (two keys in the ServerHello, two ciphertexts in the ClientHello).
	HandshakeBytes        int `json:"handshake_bytes"`
	EncapsulationKeyBytes int `json:"encapsulation_key_bytes"`
	CiphertextBytes       int `json:"ciphertext_bytes"`
}

// TunnelSummary is the tunnel section's ratios, kemtcp's tunnel over the
// others, each the median of the ratios of runs made right after each
// other. A ratio is null where a tool was not installed, failed or was not
// measured; NullReasons says why.
type TunnelSummary struct {
	// BulkVsBestTool is kemtcp's bulk over the better of stunnel4 and
	// ssh -L; BulkVsDirect over direct TCP.
	BulkVsBestTool *float64 `json:"bulk_vs_best_tool"`
	BulkVsDirect   *float64 `json:"bulk_vs_direct"`
	// The connection ratios are the lesser of the one-at-a-time ratio and
	// the Workers-at-once ratio.
	ConnsVsStunnel *float64 `json:"conns_vs_stunnel"`
	ConnsVsSSH     *float64 `json:"conns_vs_ssh"`
	ConnsVsDirect  *float64 `json:"conns_vs_direct"`
	// RTVsBestTool is kemtcp's round trips/s over the best of stunnel4,
	// spiped and ssh -L.
	RTVsBestTool *float64 `json:"rt_vs_best_tool"`
	// CPUPerGBVsStunnel is kemtcp's CPU seconds per GB over stunnel4's
	// (lower is better).
	CPUPerGBVsStunnel *float64          `json:"cpu_per_gb_vs_stunnel"`
	NullReasons       map[string]string `json:"null_reasons,omitempty"`
}

// Target is one performance target and whether this run met it.
type Target struct {
	Name  string   `json:"name"`
	Goal  string   `json:"goal"`
	Value *float64 `json:"value"`
	// Met is null when the figure was not measured, and in a quick run,
	// which cannot judge targets; Why then says which.
	Met *bool  `json:"met"`
	Why string `json:"why,omitempty"`
}

// WriteJSON writes the report, indented, to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the report: %w", err)
	}
	r := new(Report)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("reading the report %s: %w", path, err)
	}
	return r, nil
}
