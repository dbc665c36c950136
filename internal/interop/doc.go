// Package interop runs mailoauth against servers we did not write:
// Debian's Dovecot (IMAP, submission, LMTP) and Postfix (submission with
// Dovecot SASL), with bearer tokens checked through the RFC 7662
// introspection endpoint of providertest, or of a certified OpenID
// provider (node oidc-provider, pinned with its lock file in oidcpeer)
// whose every grant and client authentication provider/oidc uses; a
// second Dovecot checks that provider's JWT access tokens itself
// (introspection_mode = local).
//
// The tests carry the build tag interop, run on Linux only, and start private server instances
// on free loopback ports from configuration they write into a temporary
// folder; they stop every process they started. Install the servers with
// .ci/install-peers, then:
//
//	MAILOAUTH_INTEROP=required go test -tags interop ./internal/interop/...
//
// Without MAILOAUTH_INTEROP=required, a missing server skips the tests.
package interop
