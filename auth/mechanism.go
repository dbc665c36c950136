package auth

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
