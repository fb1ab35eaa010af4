package client

import (
	"fmt"
	"strings"
)

// sessionError is an error of an established session, said as what it
// happened to ("session with ADDR", "sending line 3"): the session
// package's own "session: " prefix would say it twice.
type sessionError struct {
	what string
	err  error
}

func (e *sessionError) Error() string {
	return e.what + ": " + strings.TrimPrefix(e.err.Error(), "session: ")
}

func (e *sessionError) Unwrap() error { return e.err }

// inSession wraps err, an error of an established session, as what it
// happened to.
func inSession(err error, format string, a ...any) error {
	return &sessionError{what: fmt.Sprintf(format, a...), err: err}
}
