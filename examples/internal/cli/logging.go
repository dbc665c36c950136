package cli

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// Logger returns a program's logger on stderr and the writer for the mail
// dialogue (smtpx.Options.Debug): with verbose (-verbose) debug-level logs
// and the dialogue, tokens redacted, on stderr; else info-level logs and
// no dialogue (nil). See TextLogger.
func Logger(stderr io.Writer, verbose bool) (*slog.Logger, io.Writer) {
	level := slog.LevelInfo
	var debug io.Writer
	if verbose {
		level, debug = slog.LevelDebug, stderr
	}
	return TextLogger(stderr, level), debug
}

// TextLogger returns a logger writing text at level and above to w, which
// puts what the library says in the program's terms (Words): its messages
// and the text of the errors and strings it logs name the program's flags
// and variables, not the library's Go fields.
func TextLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(wordsHandler{slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})})
}

// wordsHandler applies Words to a record's message and to its string and
// error attributes.
type wordsHandler struct{ inner slog.Handler }

func (h wordsHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h wordsHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Words(r.Message, nil), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(wordsAttr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h wordsHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	for i, a := range attrs {
		attrs[i] = wordsAttr(a)
	}
	return wordsHandler{h.inner.WithAttrs(attrs)}
}

func (h wordsHandler) WithGroup(name string) slog.Handler {
	return wordsHandler{h.inner.WithGroup(name)}
}

// wordsAttr is a with Words applied to its text, when it is a string or
// an error; the error's text replaces the error.
func wordsAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Words(v.String(), nil))
	case slog.KindAny:
		if err, ok := v.Any().(error); ok && err != nil {
			return slog.String(a.Key, ErrorText(err))
		}
	}
	return a
}

// OneShot returns the logger of a program that does one thing and stops,
// and reports its failure itself (cli.Main explains run's error): Logger's
// logger and dialogue writer, with Once holding back what only repeats the
// failure. Call reported with the error run returns.
func OneShot(stderr io.Writer, verbose bool) (logger *slog.Logger, debug io.Writer, reported func(error)) {
	base, debug := Logger(stderr, verbose)
	logger, reported = Once(base)
	return logger, debug, reported
}

// maxHeld bounds the records Once holds back; past it they are written at
// once.
const maxHeld = 100

// Once returns a logger for work whose failure the caller reports itself,
// such as a one-shot program's whole run (cli.Explain prints its error) or
// one click of a button: so that each failure is reported once. Records of
// level warning and above that carry an error (an attribute holding an
// error value, or named "error" or "err") are held back; every other record
// goes to base at once. done, called with the failure the caller reports
// (nil for none), writes the held records whose error that failure does
// not already contain, in their order and with their own times, and makes
// the logger write everything through from then on. done may be called
// more than once; only the first call counts.
func Once(base *slog.Logger) (logger *slog.Logger, done func(reported error)) {
	h := &holdHandler{inner: base.Handler(), state: &heldRecords{}}
	return slog.New(h), h.state.release
}

// heldRecords is the state a holdHandler and the handlers derived from it
// share.
type heldRecords struct {
	mu       sync.Mutex // guards the fields below
	held     []heldRecord
	released bool
}

// heldRecord is a record and the handler to write it with.
type heldRecord struct {
	ctx     context.Context
	inner   slog.Handler
	rec     slog.Record
	errText string // the text of the error it carries
}

func (s *heldRecords) release(reported error) {
	s.mu.Lock()
	held := s.held
	s.held, s.released = nil, true
	s.mu.Unlock()
	text := ""
	if reported != nil {
		text = reported.Error()
	}
	for _, r := range held {
		if reported != nil && strings.Contains(text, r.errText) {
			continue // the reported failure says it already
		}
		_ = r.inner.Handle(r.ctx, r.rec)
	}
}

// holdHandler is Once's handler.
type holdHandler struct {
	inner slog.Handler
	state *heldRecords
	attrs []slog.Attr // added by WithAttrs, to look for an error in
}

func (h *holdHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *holdHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.inner.Handle(ctx, r)
	}
	errText, ok := errorIn(h.attrs)
	if !ok {
		r.Attrs(func(a slog.Attr) bool {
			errText, ok = errorIn([]slog.Attr{a})
			return !ok
		})
	}
	if !ok {
		return h.inner.Handle(ctx, r)
	}
	h.state.mu.Lock()
	if h.state.released || len(h.state.held) >= maxHeld {
		h.state.mu.Unlock()
		return h.inner.Handle(ctx, r)
	}
	h.state.held = append(h.state.held, heldRecord{ctx: context.WithoutCancel(ctx), inner: h.inner, rec: r.Clone(), errText: errText})
	h.state.mu.Unlock()
	return nil
}

func (h *holdHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &holdHandler{inner: h.inner.WithAttrs(attrs), state: h.state, attrs: append(h.attrs[:len(h.attrs):len(h.attrs)], attrs...)}
}

func (h *holdHandler) WithGroup(name string) slog.Handler {
	return &holdHandler{inner: h.inner.WithGroup(name), state: h.state, attrs: h.attrs}
}

// errorIn returns the text of the first error among attrs (in groups
// too): a value that is an error, or one named "error" or "err".
func errorIn(attrs []slog.Attr) (string, bool) {
	for _, a := range attrs {
		v := a.Value.Resolve()
		switch v.Kind() {
		case slog.KindGroup:
			if text, ok := errorIn(v.Group()); ok {
				return text, true
			}
			continue
		case slog.KindAny:
			if e, ok := v.Any().(error); ok && e != nil {
				return e.Error(), true
			}
		}
		if a.Key == "error" || a.Key == "err" {
			return v.String(), true
		}
	}
	return "", false
}
