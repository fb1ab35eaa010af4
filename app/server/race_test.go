//go:build race

package server_test

// raceEnabled: the race detector adds its own memory to every goroutine
// and allocation, so memory bounds are checked without it.
const raceEnabled = true
