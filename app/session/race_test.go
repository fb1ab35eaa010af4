//go:build race

package session

// raceEnabled: under the race detector, sync.Pool drops a random share of
// what is put in it, so pooled buffers are sometimes allocated anew.
const raceEnabled = true
