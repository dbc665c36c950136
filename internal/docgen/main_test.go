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

// TestTableTellsFreshTokenRows checks that the row for a fresh token
// refused too is told from the row of the first refusal of the same reply.
func TestTableTellsFreshTokenRows(t *testing.T) {
	table := Table()
	n := 0
	for _, e := range provider.Catalogue() {
		if !e.Retried {
			continue
		}
		n++
		row := "| " + string(e.Layer) + " | `" + cell(e.Code) + "` | " + when(e) + " | " + e.Kind.String() + " | " + cell(e.Summary) + " |"
		if !strings.Contains(when(e), freshTokenRow) || !strings.Contains(table, row) {
			t.Errorf("no row %q", row)
		}
	}
	if n == 0 {
		t.Fatal("the catalogue has no entry for a fresh token refused too")
	}
}

func TestSpliceNeedsMarkers(t *testing.T) {
	if _, err := Splice("# no markers\n"); err == nil {
		t.Fatal("Splice accepted a README without markers")
	}
}
