package cli_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/mailoauth/mailoauth/examples/internal/cli"
)

func TestLoggerVerbose(t *testing.T) {
	var quiet bytes.Buffer
	logger, debug := cli.Logger(&quiet, false)
	logger.Debug("hidden")
	logger.Info("shown")
	if debug != nil || strings.Contains(quiet.String(), "hidden") || !strings.Contains(quiet.String(), "shown") {
		t.Errorf("not verbose: debug %v, log %q", debug, quiet.String())
	}

	var loud bytes.Buffer
	logger, debug = cli.Logger(&loud, true)
	if debug != &loud || !logger.Enabled(context.Background(), slog.LevelDebug) {
		t.Errorf("verbose: debug %v, debug level %v", debug, logger.Enabled(context.Background(), slog.LevelDebug))
	}
}
