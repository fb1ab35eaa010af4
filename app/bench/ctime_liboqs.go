//go:build liboqs

package bench

/*
#cgo pkg-config: liboqs
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <oqs/oqs.h>

enum { KEMTCP_OP_KEYPAIR = 0, KEMTCP_OP_ENCAPS = 1, KEMTCP_OP_DECAPS = 2 };

enum {
	KEMTCP_TIME_OK = 0,
	KEMTCP_TIME_NOMEM = 1,   // an OQS_MEM_malloc returned NULL
	KEMTCP_TIME_SETUP = 2,   // the key pair or ciphertext to work on could not be made
	KEMTCP_TIME_OP = 3,      // the timed operation failed
	KEMTCP_TIME_CLOCK = 4,   // clock_gettime failed
	KEMTCP_TIME_BADOP = 5,   // unknown operation
};

// kemtcp_load64 reads 8 bytes little-endian (one load on common CPUs).
static inline uint64_t kemtcp_load64(const uint8_t *p) {
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
	       (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

// kemtcp_mlkem_modulus_ok is the FIPS 203 modulus check (Section 7.2) of an
// ML-KEM encapsulation key: every 12-bit value of ByteEncode12(t), the key
// but its last 32 bytes, is below q = 3329. It is the same algorithm, step
// for step, as the Go check (coefficientsBelowQ in app/kem/modulus.go) that
// package kem's NewEncapsulationKey runs before encapsulating with liboqs, so
// that timing it here measures what Go and cgo add, not two algorithms.
static int kemtcp_mlkem_modulus_ok(const uint8_t *b, size_t len) {
	const uint64_t every2nd = 0x000fff000fffULL, add = 767 | (uint64_t)767 << 24, flags = 1ULL << 12 | 1ULL << 36;
	uint64_t acc = 0, acc1 = 0, acc2 = 0, acc3 = 0;
	len -= 32;
	for (; len >= 14; b += 12, len -= 12) {
		uint64_t x = kemtcp_load64(b), y = kemtcp_load64(b + 6);
		acc |= (x & every2nd) + add;
		acc1 |= ((x >> 12) & every2nd) + add;
		acc2 |= (y & every2nd) + add;
		acc3 |= ((y >> 12) & every2nd) + add;
	}
	for (; len >= 3; b += 3, len -= 3) {
		uint64_t x = (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16;
		acc |= (x & every2nd) + add;
		acc |= ((x >> 12) & every2nd) + add;
	}
	return ((acc | acc1 | acc2 | acc3) & flags) == 0;
}

// kemtcp_time_op runs one KEM operation n times and stores the elapsed
// CLOCK_MONOTONIC time in *elapsed_ns. Every buffer is allocated once, before
// the clock starts, and the secret ones are wiped when done.
//
// OpEncaps does what a peer that receives a public key does, the same work
// as package kem's NewEncapsulationKey and Encapsulate: copy the key out of
// the received bytes, check it (for ML-KEM, the FIPS 203 modulus check), then
// OQS_KEM_encaps (which for ML-KEM checks it again inside).
static int kemtcp_time_op(const OQS_KEM *kem, int op, long n, int64_t *elapsed_ns) {
	int ret = KEMTCP_TIME_NOMEM;
	uint8_t *received = OQS_MEM_malloc(kem->length_public_key);
	uint8_t *pk = OQS_MEM_malloc(kem->length_public_key);
	uint8_t *sk = OQS_MEM_malloc(kem->length_secret_key);
	uint8_t *ct = OQS_MEM_malloc(kem->length_ciphertext);
	uint8_t *ss = OQS_MEM_malloc(kem->length_shared_secret);
	struct timespec t0, t1;
	long i;
	int mlkem = strncmp(kem->method_name, "ML-KEM-", 7) == 0 && kem->length_public_key > 32;

	if (received == NULL || pk == NULL || sk == NULL || ct == NULL || ss == NULL) {
		goto out;
	}
	ret = KEMTCP_TIME_SETUP;
	if (OQS_KEM_keypair(kem, received, sk) != OQS_SUCCESS ||
	    OQS_KEM_encaps(kem, ct, ss, received) != OQS_SUCCESS) {
		goto out;
	}
	if (clock_gettime(CLOCK_MONOTONIC, &t0) != 0) {
		ret = KEMTCP_TIME_CLOCK;
		goto out;
	}
	ret = KEMTCP_TIME_OP;
	switch (op) {
	case KEMTCP_OP_KEYPAIR:
		for (i = 0; i < n; i++) {
			if (OQS_KEM_keypair(kem, pk, sk) != OQS_SUCCESS) {
				goto out;
			}
		}
		break;
	case KEMTCP_OP_ENCAPS:
		for (i = 0; i < n; i++) {
			memcpy(pk, received, kem->length_public_key);
			if (mlkem && !kemtcp_mlkem_modulus_ok(pk, kem->length_public_key)) {
				goto out;
			}
			if (OQS_KEM_encaps(kem, ct, ss, pk) != OQS_SUCCESS) {
				goto out;
			}
		}
		break;
	case KEMTCP_OP_DECAPS:
		for (i = 0; i < n; i++) {
			if (OQS_KEM_decaps(kem, ss, ct, sk) != OQS_SUCCESS) {
				goto out;
			}
		}
		break;
	default:
		ret = KEMTCP_TIME_BADOP;
		goto out;
	}
	if (clock_gettime(CLOCK_MONOTONIC, &t1) != 0) {
		ret = KEMTCP_TIME_CLOCK;
		goto out;
	}
	*elapsed_ns = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (int64_t)(t1.tv_nsec - t0.tv_nsec);
	ret = KEMTCP_TIME_OK;
out:
	OQS_MEM_insecure_free(received);
	OQS_MEM_insecure_free(pk);
	OQS_MEM_insecure_free(ct);
	OQS_MEM_secure_free(sk, kem->length_secret_key);
	OQS_MEM_secure_free(ss, kem->length_shared_secret);
	return ret;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/kemtcp/kemtcp/oqs"
)

// cOp is one KEM operation that timeInC times.
type cOp int

const (
	// cKeypair is OQS_KEM_keypair: a key pair from fresh randomness.
	cKeypair cOp = C.KEMTCP_OP_KEYPAIR
	// cEncaps is what a peer does with a public key it received: copy it
	// out of the received bytes, check it (for ML-KEM, the FIPS 203
	// modulus check, as package kem's NewEncapsulationKey does) and
	// OQS_KEM_encaps.
	cEncaps cOp = C.KEMTCP_OP_ENCAPS
	// cDecaps is OQS_KEM_decaps of a valid ciphertext.
	cDecaps cOp = C.KEMTCP_OP_DECAPS
)

// haveCTiming reports whether timeInC can run: liboqs is compiled in.
const haveCTiming = true

// timeInC runs op iterations times on the named KEM inside one C function
// and returns the time they took by the C monotonic clock. Compared with the
// same operations timed from Go, it measures the cost of cgo and of the Go
// side (allocations, checks, copies). Every buffer is allocated once in C,
// before the clock starts; cEncaps and cDecaps work on a key pair and a
// ciphertext made beforehand.
func timeInC(name string, op cOp, iterations int) (time.Duration, error) {
	if err := oqs.Init(); err != nil {
		return 0, err
	}
	switch op {
	case cKeypair, cEncaps, cDecaps:
	default:
		return 0, fmt.Errorf("timeInC: unknown operation %d", op)
	}
	if iterations <= 0 || int64(iterations) > int64(maxCLong) {
		return 0, fmt.Errorf("timeInC: iterations %d, want 1 to %d", iterations, maxCLong)
	}
	if !oqs.IsKEMEnabled(name) {
		return 0, fmt.Errorf("timeInC: %q is not enabled in liboqs", name)
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	kem := C.OQS_KEM_new(cname)
	if kem == nil {
		return 0, fmt.Errorf("timeInC: OQS_KEM_new(%q) returned NULL", name)
	}
	defer C.OQS_KEM_free(kem)
	var ns C.int64_t
	switch rc := C.kemtcp_time_op(kem, C.int(op), C.long(iterations), &ns); rc {
	case C.KEMTCP_TIME_OK:
		return time.Duration(ns), nil
	case C.KEMTCP_TIME_NOMEM:
		return 0, fmt.Errorf("timeInC: %s: OQS_MEM_malloc returned NULL", name)
	case C.KEMTCP_TIME_SETUP:
		return 0, fmt.Errorf("timeInC: %s: making the key pair and ciphertext to time failed", name)
	case C.KEMTCP_TIME_OP:
		return 0, fmt.Errorf("timeInC: %s: operation %d failed", name, op)
	case C.KEMTCP_TIME_CLOCK:
		return 0, errors.New("timeInC: clock_gettime(CLOCK_MONOTONIC) failed")
	default:
		return 0, fmt.Errorf("timeInC: kemtcp_time_op returned %d", int(rc))
	}
}

// maxCLong is the largest iteration count a C long holds on every platform
// Go supports (long is 32 bits on 64-bit Windows).
const maxCLong = 1<<31 - 1
