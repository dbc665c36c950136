package provider

import "errors"

// Diagnose explains err: it looks through every wrapped layer (token
// endpoint, SMTP, IMAP, SASL challenge) for a code it knows. It returns nil
// when nothing is known about err.
func Diagnose(err error) *Diagnosis {
	var d *Diagnosis
	if errors.As(err, &d) {
		return d
	}
	return nil
}
