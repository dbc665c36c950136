package provider

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// storeErr stands for a tokenstore error: provider does not import
// tokenstore, it knows the error by its DiagnosisCode method alone.
type storeErr struct{ code string }

func (e *storeErr) Error() string         { return "tokenstore: load mailbox@contoso.com: " + e.code }
func (e *storeErr) DiagnosisCode() string { return e.code }

// fromStore wraps a store's error the way a token source and a transport
// wrap it on its way to the caller.
func fromStore(code string) error {
	return fmt.Errorf("smtpx: token: %w", fmt.Errorf("tokenstore: refresh: %w", &storeErr{code: code}))
}

func TestDiagnoseLocalStore(t *testing.T) {
	for _, tc := range []struct {
		code   string
		kind   Kind
		fixHas string
	}{
		{"store: encrypted without key", Misconfigured, "store key the grant was saved with"},
		{"store: wrong key", Misconfigured, "store key the grant was saved with"},
		{"store: unreadable", Reauthorize, "delete the mailbox's record"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			d, e := diagnose(fromStore(tc.code))
			if d == nil || e == nil {
				t.Fatalf("Diagnose(%q) = nil", tc.code)
			}
			if e.Layer != LayerStore || d.Code != tc.code || d.Kind != tc.kind {
				t.Errorf("Diagnose = %v (layer %s), want %v %q from the store layer", d, e.Layer, tc.kind, tc.code)
			}
			if !strings.Contains(strings.ToLower(d.Fix), strings.ToLower(tc.fixHas)) {
				t.Errorf("Fix = %q, want it to name %q", d.Fix, tc.fixHas)
			}
		})
	}
	// A code the catalogue does not know picks nothing.
	if d := Diagnose(fromStore("store: something new")); d != nil {
		t.Errorf("an unknown store code: %v, want nil", d)
	}
	// The store's verdict is the cause, whatever network trouble follows it.
	joined := errors.Join(fromStore("store: wrong key"), fmt.Errorf("smtpx: %w", errNetworkTimeout{}))
	if d := Diagnose(joined); d == nil || d.Code != "store: wrong key" {
		t.Errorf("a store error beside a timeout: %v, want the store's entry", d)
	}
}

type errNetworkTimeout struct{}

func (errNetworkTimeout) Error() string   { return "i/o timeout" }
func (errNetworkTimeout) Timeout() bool   { return true }
func (errNetworkTimeout) Temporary() bool { return true }

func TestDiagnoseConfigError(t *testing.T) {
	ce := &ConfigError{Package: "entra", Field: "TenantID", Reason: "the tenant is empty: give the program the Directory (tenant) ID from the app registration's Overview page"}
	for name, err := range map[string]error{
		"as it is": ce,
		"wrapped":  fmt.Errorf("entra-send: %w", fmt.Errorf("entra: client credentials: %w", ce)),
	} {
		t.Run(name, func(t *testing.T) {
			d, e := diagnose(err)
			if d == nil || e == nil {
				t.Fatalf("Diagnose(%v) = nil", err)
			}
			if d.Kind != Misconfigured || e.Layer != LayerConfig || d.Code != e.Code {
				t.Errorf("Diagnose = %v (layer %s), want Misconfigured from the configuration layer", d, e.Layer)
			}
			want := "The tenant is empty: give the program the Directory (tenant) ID from the app registration's Overview page."
			if d.Summary != want {
				t.Errorf("Summary = %q, want the reason as a sentence %q", d.Summary, want)
			}
			if strings.Contains(d.Summary+d.Fix, ce.Field) {
				t.Errorf("the diagnosis names the Go field %q: %v", ce.Field, d)
			}
			if d.Fix == "" {
				t.Error("no Fix")
			}
		})
	}
	// A reason that ends its own sentence keeps it; no reason leaves the
	// entry's own summary.
	if d := Diagnose(&ConfigError{Package: "google", Field: "keyJSON", Reason: "This is not a service-account key."}); d == nil || d.Summary != "This is not a service-account key." {
		t.Errorf("a reason with its full stop: %v", d)
	}
	if d, e := diagnose(&ConfigError{Package: "google", Field: "keyJSON"}); d == nil || d.Summary != e.Summary {
		t.Errorf("no reason: %v, want the entry's summary", d)
	}
}
