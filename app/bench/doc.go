// Package bench measures kemtcp against what its users would pick instead,
// in one run on one machine, and is the logic behind the kem-bench command.
// Every session figure goes through the net.Conn API a user has
// (session.Listen, session.Dial, Read, Write, io.Copy), and each server is
// the same goroutine-per-connection code over TCP, crypto/tls and session.
//
// Sections (each figure is the median of Config.Runs runs, with its spread):
//
//	kem        KEM operations per backend and algorithm (ML-KEM-512/768/1024,
//	           X-Wing): keygen (a fresh key pair, destroyed after), encaps
//	           (parse and check the peer's key, then encapsulate) and decaps;
//	           for liboqs's ML-KEM also the same operations timed inside C
//	           (timeInC), so the cost of cgo and of the Go side is a ratio.
//	handshake  full session handshakes per second over loopback TCP
//	           (session.Dial to FINISHED, then Close), one client after
//	           another and N clients at once, per backend and KEM, next to
//	           crypto/tls TLS 1.3 full handshakes with X25519MLKEM768 and an
//	           ECDSA P-256 certificate, and to a plain-TCP baseline that makes
//	           the same connection and the same writes with no cryptography
//	           (tcpbaseline.go); what X-Wing costs over ML-KEM-768.
//	bulk       one connection Writing BulkBytes in 64 KiB Writes, session
//	           (default limits) vs crypto/tls, with allocations per Write.
//	echo       64-byte round trips, session vs crypto/tls and plain TCP,
//	           with allocations per round trip.
//	legacy     the original demo's per-message encapsulation design
//	           (package legacy): messages/s and bytes on the wire per
//	           message, next to session.
//	scale      server memory and goroutines with 1, 100 and 1000 idle session
//	           connections (the server runs in a child process, so the
//	           clients' memory stays out of the figure), and throughput from
//	           64 B to 1 MiB Writes.
//	tunnel     kemtcp's tunnel (kem-server -forward and kem-client -listen
//	           processes) next to direct TCP, stunnel4, spiped and ssh -L:
//	           bulk (iperf3, or kem-bench's own client), connections/s one at
//	           a time and N at once, 64-byte round trips, and the tunnel
//	           processes' CPU seconds per GB (/proc); a tool that is not
//	           installed gets a row that says so.
//
// Run measures, Report.WriteTable prints, Report.WriteJSON, WriteChart and
// WriteBenchfmt save; Main is the kem-bench command line.
package bench
