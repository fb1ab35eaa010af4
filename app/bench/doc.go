// Package bench measures kemtcp against what its users would pick instead,
// in one run on one machine, and is the logic behind the kem-bench command.
//
// Sections (each figure is the median of Config.Runs runs, with its spread):
//
//	kem        KEM operations per backend and parameter set: keygen (a fresh
//	           key pair, destroyed after), encaps (parse and check the peer's
//	           key, then encapsulate) and decaps; for liboqs also the same
//	           operations timed inside C (timeInC), so the cost of cgo and
//	           of the Go side is a ratio.
//	handshake  full session handshakes per second over loopback TCP (dial to
//	           FINISHED), one client after another and N clients at once, per
//	           backend and KEM, next to crypto/tls TLS 1.3 full handshakes with
//	           X25519MLKEM768 and an ECDSA P-256 certificate.
//	bulk       one connection sending BulkBytes in 64 KiB messages, session
//	           vs crypto/tls.
//	echo       64-byte round trips through the kem-server echo logic
//	           (package server), vs a crypto/tls echo server and plain TCP.
//	seed       the original demo's per-message encapsulation design (package
//	           seed): messages/s and bytes on the wire per message, next to
//	           session.
//	scale      server memory and goroutines with 1, 100 and 1000 idle session
//	           connections (the server runs in a child process, so the
//	           clients' memory stays out of the figure), handshake rate from
//	           ML-KEM-512 to -1024, and throughput from 64 B to 1 MiB
//	           messages.
//
// Run measures, Report.WriteTable prints, Report.WriteJSON and WriteChart
// save; Main is the kem-bench command line.
package bench
