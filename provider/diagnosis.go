package provider

import (
	"errors"
	"strconv"
)

// Kind says what has to happen after a failure.
type Kind int

const (
	// Transient: retry later; nothing is wrong with the configuration.
	Transient Kind = iota + 1
	// StaleToken: the access token was refused; refresh it and retry once.
	StaleToken
	// Reauthorize: the grant is gone; an admin or the user must authorize
	// the mailbox again.
	Reauthorize
	// Misconfigured: the tenant, the app registration or the program's
	// configuration must be fixed.
	Misconfigured
)

// String returns the name of k.
func (k Kind) String() string {
	switch k {
	case Transient:
		return "transient"
	case StaleToken:
		return "stale token"
	case Reauthorize:
		return "reauthorize"
	case Misconfigured:
		return "misconfigured"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Diagnosis explains a failure in words an operator can act on.
type Diagnosis struct {
	Kind    Kind
	Code    string // the code found: an AADSTS number, an OAuth error, an SMTP enhanced code, an IMAP response code
	Summary string // one sentence: what went wrong
	Fix     string // the step that fixes it: a portal page, a cmdlet, a setting, in the operator's words (no Go identifier)
}

// Error makes a Diagnosis an error, so that errors.As finds it in an error
// returned by Annotate.
func (d *Diagnosis) Error() string {
	s := d.Kind.String()
	if d.Code != "" {
		s += " (" + d.Code + ")"
	}
	s += ": " + d.Summary
	if d.Fix != "" {
		s += " Fix: " + d.Fix
	}
	return s
}

// Annotate returns err with its Diagnosis attached, so that a caller can
// errors.As the result into a *Diagnosis; err itself stays in the chain. It
// returns err unchanged when err is nil, already annotated, or unknown to
// Diagnose.
func Annotate(err error) error {
	if err == nil {
		return nil
	}
	var d *Diagnosis
	if errors.As(err, &d) {
		return err
	}
	d = Diagnose(err)
	if d == nil {
		return err
	}
	return &diagnosedError{err: err, diag: d}
}

// diagnosedError keeps the original message and adds the diagnosis to the
// chain without changing Error().
type diagnosedError struct {
	err  error
	diag *Diagnosis
}

func (e *diagnosedError) Error() string   { return e.err.Error() }
func (e *diagnosedError) Unwrap() []error { return []error{e.err, e.diag} }
