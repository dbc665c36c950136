// Package secretcheck is the test suites' check that no secret leaks: a
// suite registers every token it hands out and records every log, debug
// transcript and error text its tests see, and Leaks reports the texts
// that hold a secret, as it is or in base64 at any alignment.
package secretcheck

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"github.com/mailoauth/mailoauth/internal/redact"
)

// Suite collects secrets and texts; the zero value is ready. It is safe
// for concurrent use.
type Suite struct {
	mu      sync.Mutex // guards the fields below
	secrets []string
	texts   []string
	outputs []*Buffer
}

// Secret registers s.
func (s *Suite) Secret(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets = append(s.secrets, secret)
}

// Text records a text, such as an error's.
func (s *Suite) Text(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.texts = append(s.texts, text)
}

// Output returns a new buffer whose content is checked too: give it to a
// logger or a debug writer.
func (s *Suite) Output() *Buffer {
	b := &Buffer{}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outputs = append(s.outputs, b)
	return b
}

// Leaks describes each text that holds a registered secret; the secret is
// not in the description.
func (s *Suite) Leaks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	texts := append([]string(nil), s.texts...)
	for _, o := range s.outputs {
		texts = append(texts, o.String())
	}
	var leaks []string
	for _, sec := range s.secrets {
		for _, form := range redact.Forms(sec) {
			for i, t := range texts {
				if strings.Contains(t, form) {
					leaks = append(leaks, fmt.Sprintf("text %d of %d holds a form of a secret (%d chars)", i+1, len(texts), len(sec)))
				}
			}
		}
	}
	return leaks
}

// Counts returns how many secrets and texts (outputs included) the suite
// holds.
func (s *Suite) Counts() (secrets, texts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.secrets), len(s.texts) + len(s.outputs)
}

// Buffer is a bytes.Buffer safe for concurrent writers.
type Buffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
