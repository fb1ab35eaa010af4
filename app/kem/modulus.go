package kem

import (
	"encoding/binary"
	"fmt"
)

// mlkemQ is the ML-KEM modulus q (FIPS 203, Section 2.4).
const mlkemQ = 3329

// checkModulus is the encapsulation key check of FIPS 203, Section 7.2
// (the "modulus check"): ek = ByteEncode12(t) || rho, and re-encoding the
// decoded t must give back the same 384k bytes. ByteDecode12 reduces each
// 12-bit value modulo q, so that holds exactly when every 12-bit value is
// below q. The backends that parse keys themselves (circl, crypto/mlkem) do
// this inside; the liboqs backend calls it because liboqs has no public key
// check of its own.
func checkModulus(p Params, ek []byte) error {
	if err := checkLen(ek, p.EncapsulationKeySize, ErrEncapsKeySize, p.Name); err != nil {
		return err
	}
	if !coefficientsBelowQ(ek[:p.EncapsulationKeySize-32]) {
		return fmt.Errorf("%s: %w", p.Name, ErrEncapsKey)
	}
	return nil
}

// coefficientsBelowQ reports whether every 12-bit value packed in b (two
// per three bytes, little-endian as ByteEncode12 packs them) is below q.
// len(b) must be a multiple of 3. b is public, so it need not run in
// constant time, but it does.
func coefficientsBelowQ(b []byte) bool {
	// Six bytes hold four values, in bits 0, 12, 24 and 36 of a
	// little-endian uint64. Masking keeps every other value with a 12-bit
	// gap above it; adding 4096-q to each sets the gap's low bit exactly when
	// the value is q or more, and never carries further (4095+767 < 8192).
	// The flags are ORed together, into four accumulators so that the ORs do
	// not wait for each other, and tested once at the end.
	const (
		every2nd = 0x000fff_000fff // values in bits 0-11 and 24-35
		add      = (4096 - mlkemQ) | (4096-mlkemQ)<<24
		flags    = 1<<12 | 1<<36
	)
	// Loaded from variables, the masks stay in registers; as constants the
	// compiler rebuilds each 64-bit immediate at every use.
	m, a := lanes[0], lanes[1]
	var acc, acc1, acc2, acc3 uint64
	for len(b) >= 14 { // two 8-byte loads, twelve bytes used
		x := binary.LittleEndian.Uint64(b)
		y := binary.LittleEndian.Uint64(b[6:])
		acc |= (x & m) + a
		acc1 |= (x>>12)&m + a
		acc2 |= (y & m) + a
		acc3 |= (y>>12)&m + a
		b = b[12:]
	}
	acc |= acc1 | acc2 | acc3
	for len(b) >= 3 {
		x := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16
		acc |= (x & every2nd) + add
		acc |= (x>>12)&every2nd + add
		b = b[3:]
	}
	return acc&flags == 0
}

// lanes holds coefficientsBelowQ's mask and addend (see there).
var lanes = [2]uint64{0x000fff_000fff, (4096 - mlkemQ) | (4096-mlkemQ)<<24}
