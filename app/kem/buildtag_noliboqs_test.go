//go:build !liboqs

package kem_test

// builtWithLiboqs tells the tests whether this binary was built with the
// liboqs build tag (and so must have the liboqs backend compiled in).
const builtWithLiboqs = false
