package tokenstore

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// childCommand returns a command that runs this test binary again with only
// the named test, which sees env and plays the child's part.
func childCommand(t *testing.T, test string, env ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

func testRecord(tag string) *Record {
	return &Record{
		Token: &oauth2.Token{
			AccessToken:  "access-" + tag,
			RefreshToken: "refresh-" + tag,
			Expiry:       time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		},
		Account: tag + "@example.com",
	}
}

func mustNewFile(t *testing.T, dir string) *File {
	t.Helper()
	f, err := NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
