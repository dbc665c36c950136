package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// output writes tickets to a folder or to stdout.
type output struct {
	mu     sync.Mutex // serialises writes to stdout
	dir    string     // "" for stdout
	stdout io.Writer
}

func newOutput(dest string, stdout io.Writer) (*output, error) {
	if dest == "-" {
		return &output{stdout: stdout}, nil
	}
	if err := os.MkdirAll(dest, 0o750); err != nil {
		return nil, err
	}
	return &output{dir: dest, stdout: stdout}, nil
}

// write stores t. In a folder the ticket is written to a temporary file
// and renamed into place, so that a reader never sees half a ticket.
func (o *output) write(t *Ticket) error {
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dir == "" {
		_, err := fmt.Fprintf(o.stdout, "%s\n", data)
		return err
	}
	name := filepath.Join(o.dir, strconv.FormatUint(uint64(t.UIDValidity), 10)+"-"+strconv.FormatUint(uint64(t.UID), 10)+".json")
	tmp, err := os.CreateTemp(o.dir, ".ticket-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	// The ticket is in place: a reader gone from stdout must not make the
	// message be handled again.
	_, _ = fmt.Fprintln(o.stdout, name)
	return nil
}
