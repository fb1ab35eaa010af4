//go:build liboqs

package oqs_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kemtcp/kemtcp/oqs"
)

// mlkemNames are the three ML-KEM parameter sets, as liboqs names them.
var mlkemNames = []string{"ML-KEM-512", "ML-KEM-768", "ML-KEM-1024"}

// forEachMLKEM runs f in a subtest for each ML-KEM parameter set.
func forEachMLKEM[T interface {
	testing.TB
	Run(string, func(T)) bool
}](t T, f func(t T, name string)) {
	for _, name := range mlkemNames {
		t.Run(name, func(t T) { f(t, name) })
	}
}

// newKEM returns a KeyEncapsulation closed at the end of the test.
func newKEM(t testing.TB, name string) *oqs.KeyEncapsulation {
	t.Helper()
	k, err := oqs.NewKEM(name)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, k.Close()) })
	return k
}

// liveSecretKeys returns oqs.LiveSecretKeys once the KeyEncapsulations that
// earlier tests dropped without Close have been collected, so that counts
// taken by a test change only through what the test itself does.
func liveSecretKeys(t testing.TB) int {
	t.Helper()
	last, same := -1, 0
	for range 1000 {
		runtime.GC()
		time.Sleep(time.Millisecond)
		n := oqs.LiveSecretKeys()
		if n == last {
			if same++; same == 3 {
				return n
			}
		} else {
			last, same = n, 0
		}
	}
	t.Fatalf("oqs.LiveSecretKeys never settled (last %d)", last)
	return 0
}
