package tokenstore

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const (
	procDirEnv = "TOKENSTORE_TEST_REFRESH_DIR"
	procLogEnv = "TOKENSTORE_TEST_REFRESH_LOG"
	processes  = 3
	// procRefreshTime is how long the child's token endpoint takes: long
	// enough that the other processes reach the store meanwhile.
	procRefreshTime = 100 * time.Millisecond
)

// TestRefresherProcessesShareOneRefresh starts several processes on one File
// folder holding an expired grant, releases them at once, and counts the
// refreshes through a file each appends to: one between them, and all hand
// out the token it saved.
func TestRefresherProcessesShareOneRefresh(t *testing.T) {
	if dir := os.Getenv(procDirEnv); dir != "" {
		refreshingProcess(t, dir, os.Getenv(procLogEnv))
		return
	}
	dir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "refreshes.log")
	f := mustNewFile(t, dir)
	expired := &Record{
		Token:     &oauth2.Token{AccessToken: "access-old", RefreshToken: "refresh-old", Expiry: time.Now().Add(-time.Minute)},
		UpdatedAt: time.Now().Add(-2 * time.Hour),
	}
	if err := f.Save(t.Context(), "grant", expired); err != nil {
		t.Fatal(err)
	}

	type child struct {
		stdin io.WriteCloser
		out   *bufio.Scanner
		wait  func() error
	}
	var children []child
	for range processes {
		cmd := childCommand(t, "TestRefresherProcessesShareOneRefresh", procDirEnv+"="+dir, procLogEnv+"="+logPath)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children = append(children, child{stdin, bufio.NewScanner(stdout), cmd.Wait})
	}
	// Wait until every child is ready, then release them together.
	for i, c := range children {
		if line := nextLine(c.out, "ready"); line == "" {
			t.Fatalf("child %d never got ready", i)
		}
	}
	for _, c := range children {
		c.stdin.Close()
	}
	var tokens []string
	for i, c := range children {
		var out []string
		token := ""
		for c.out.Scan() {
			out = append(out, c.out.Text())
			if tok, ok := strings.CutPrefix(c.out.Text(), "token "); ok {
				token = tok
			}
		}
		if err := c.wait(); err != nil || token == "" {
			t.Fatalf("child %d: %v\n%s", i, err, strings.Join(out, "\n"))
		}
		tokens = append(tokens, token)
	}

	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	refreshes := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(refreshes) != 1 {
		t.Fatalf("%d processes refreshed %d times, want 1:\n%s", processes, len(refreshes), data)
	}
	stored, err := f.Load(t.Context(), "grant")
	if err != nil {
		t.Fatal(err)
	}
	for i, tok := range tokens {
		if tok != stored.Token.AccessToken || tok == "access-old" {
			t.Fatalf("child %d handed out %q, the store holds %q", i, tok, stored.Token.AccessToken)
		}
	}
	if stored.Token.RefreshToken == "refresh-old" || stored.Version != 2 {
		t.Fatalf("stored grant: rotated %v, version %d", stored.Token.RefreshToken != "refresh-old", stored.Version)
	}
}

// nextLine returns the next output line starting with prefix, or "".
func nextLine(s *bufio.Scanner, prefix string) string {
	for s.Scan() {
		if strings.HasPrefix(s.Text(), prefix) {
			return s.Text()
		}
	}
	return ""
}

// refreshingProcess is a child's part: once released (stdin closed), get a
// token from a Refresher whose refresh appends a line to logPath.
func refreshingProcess(t *testing.T, dir, logPath string) {
	f := mustNewFile(t, dir)
	pid := os.Getpid()
	r := NewRefresher(f, "grant", func(ctx context.Context, rec *Record) (*oauth2.Token, error) {
		lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(lf, "refresh by process %d\n", pid)
		if err := lf.Close(); err != nil {
			return nil, err
		}
		time.Sleep(procRefreshTime)
		return &oauth2.Token{
			AccessToken:  fmt.Sprintf("access-%d", pid),
			RefreshToken: fmt.Sprintf("refresh-%d", pid),
			Expiry:       time.Now().Add(time.Hour),
		}, nil
	}, nil)
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	tok, err := r.Refresh(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("token " + tok.AccessToken)
}
