package smtpx

import (
	"crypto/tls"
	"testing"
)

// The guard after the handshake refuses a connection without TLS, with an
// unfinished handshake, or below TLS 1.2, whatever go-smtp reported.
func TestCheckTLSRefusesLessThanACompleteTLS12Handshake(t *testing.T) {
	done := func(v uint16) tls.ConnectionState { return tls.ConnectionState{Version: v, HandshakeComplete: true} }
	if checkTLS(tls.ConnectionState{}, false) == nil {
		t.Error("accepted a connection without TLS")
	}
	if checkTLS(tls.ConnectionState{Version: tls.VersionTLS13}, true) == nil {
		t.Error("accepted an unfinished handshake")
	}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		if checkTLS(done(v), true) == nil {
			t.Errorf("accepted %s", tls.VersionName(v))
		}
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		if err := checkTLS(done(v), true); err != nil {
			t.Errorf("refused %s: %v", tls.VersionName(v), err)
		}
	}
}
