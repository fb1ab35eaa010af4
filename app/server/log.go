package server

import (
	"context"
	"io"
	"log/slog"

	"github.com/kemtcp/kemtcp/app/internal/display"
)

// prefixKey is the attribute that carries a line's "[peer] " prefix: the
// text format prints it before the message, the JSON format drops it (it
// has the peer as an attribute of its own).
const prefixKey = "prefix"

// NewTextLogger returns a logger that prints each event as one line of
// text, as kem-server always has: the message, after its "[peer] " prefix
// while several clients are connected. Attributes are for the JSON format
// and are not printed.
// Pass the same *display.Lines as the program's output, so that lines
// never interleave.
func NewTextLogger(w io.Writer) *slog.Logger {
	return slog.New(&lineHandler{out: display.LinesOf(w)})
}

// NewJSONLogger returns a logger that writes each event as one JSON object
// per line (slog's JSON format), with the connection's id, peer and client
// key as attributes.
func NewJSONLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == prefixKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// lineHandler is the text format.
type lineHandler struct {
	out   *display.Lines
	attrs []slog.Attr
}

func (h *lineHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	prefix := ""
	find := func(a slog.Attr) bool {
		if a.Key == prefixKey {
			prefix = a.Value.String()
			return false
		}
		return true
	}
	for _, a := range h.attrs {
		find(a)
	}
	r.Attrs(find)
	h.out.Printf("%s%s", prefix, r.Message)
	return nil
}

func (h *lineHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &lineHandler{out: h.out, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h }
