package main

import (
	"os"
	"strings"
	"testing"

	"github.com/mailoauth/mailoauth/provider"
)

// TestReadmeIsInStep fails when README.md's troubleshooting table is not the
// one the catalogue generates: run `go run ./internal/docgen`.
func TestReadmeIsInStep(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Splice(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Fatal("README.md's troubleshooting table is out of step with provider.Catalogue: run `go run ./internal/docgen`")
	}
}

func TestTableHasEveryEntry(t *testing.T) {
	table := Table()
	for _, e := range provider.Catalogue() {
		if !strings.Contains(table, "`"+cell(e.Code)+"`") || !strings.Contains(table, cell(e.Fix)) {
			t.Errorf("entry %s %s missing from the table", e.Provider, e.Code)
		}
	}
}

func TestSpliceNeedsMarkers(t *testing.T) {
	if _, err := Splice("# no markers\n"); err == nil {
		t.Fatal("Splice accepted a README without markers")
	}
}
