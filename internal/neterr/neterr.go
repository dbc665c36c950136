// Package neterr classifies the failures the transports (smtpx, graphx)
// meet alike: a connection that broke, and a token source that failed for
// a reason that may pass.
package neterr

import (
	"errors"
	"io"
	"net"

	"github.com/mailoauth/mailoauth/provider"
)

// IsNetwork reports a failure of the connection itself (refused, reset,
// closed, timed out, cut short), as opposed to a verification or protocol
// error.
func IsNetwork(err error) bool {
	var ne net.Error
	var op *net.OpError
	return errors.As(err, &op) || errors.As(err, &ne) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// TemporaryToken reports whether a token source's failure may pass: the
// identity provider was unreachable, throttled or failing (a Transient
// diagnosis), rather than refusing the grant.
func TemporaryToken(err error) bool {
	if IsNetwork(err) {
		return true
	}
	d := provider.Diagnose(err)
	return d != nil && d.Kind == provider.Transient
}
