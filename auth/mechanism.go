package auth

import "strings"

// Mechanism names a SASL mechanism that carries a bearer token.
type Mechanism string

// The mechanisms this package speaks.
const (
	// XOAUTH2 is Google's and Microsoft's mechanism; the only one Exchange
	// Online accepts.
	XOAUTH2 Mechanism = "XOAUTH2"
	// OAUTHBEARER is the standard mechanism of RFC 7628.
	OAUTHBEARER Mechanism = "OAUTHBEARER"
)

// Pick returns the mechanism to use with a server that offers the
// mechanisms offered (as the server names them, in any case): want when
// offered, else the other bearer mechanism when offered. ok is false when
// the server offers neither XOAUTH2 nor OAUTHBEARER.
func Pick(want Mechanism, offered []string) (m Mechanism, ok bool) {
	has := func(m Mechanism) bool {
		for _, o := range offered {
			if strings.EqualFold(o, string(m)) {
				return true
			}
		}
		return false
	}
	other := OAUTHBEARER
	if want == OAUTHBEARER {
		other = XOAUTH2
	}
	switch {
	case has(want):
		return want, true
	case has(other):
		return other, true
	}
	return "", false
}
