package cli

import (
	"io"
	"log/slog"
)

// Logger returns a program's logger on stderr and the writer for the mail
// dialogue (smtpx.Options.Debug): with verbose (-v) debug-level logs and
// the dialogue, tokens redacted, on stderr; else info-level logs and no
// dialogue (nil).
func Logger(stderr io.Writer, verbose bool) (*slog.Logger, io.Writer) {
	level := slog.LevelInfo
	var debug io.Writer
	if verbose {
		level, debug = slog.LevelDebug, stderr
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})), debug
}
