package server

import (
	"sync"

	"github.com/kemtcp/kemtcp/app/session"
)

// limits counts open connections, in all and per source address, and
// reserves a place atomically: a check and a count in one step, so that
// several listeners cannot together go past a limit.
type limits struct {
	max, perSource int

	mu       sync.Mutex
	open     int
	bySource map[string]int
}

func (l *limits) init(max, perSource int) {
	l.max, l.perSource = max, perSource
	l.bySource = make(map[string]int)
}

// reserve takes a place for a connection from source, or says which limit
// is reached.
func (l *limits) reserve(source string) (session.RefusalReason, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.max {
		return session.RefusedFull, false
	}
	if l.perSource > 0 && l.bySource[source] >= l.perSource {
		return session.RefusedPerSource, false
	}
	l.open++
	l.bySource[source]++
	return 0, true
}

// release gives back a place taken by reserve.
func (l *limits) release(source string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.bySource[source]--; l.bySource[source] <= 0 {
		delete(l.bySource, source)
	}
}

// active returns the number of open connections.
func (l *limits) active() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}
