// Package interop runs mailoauth against mail servers we did not write:
// Debian's Dovecot (IMAP, submission, LMTP) and Postfix (submission with
// Dovecot SASL), with bearer tokens checked through the RFC 7662
// introspection endpoint of providertest.
//
// The tests carry the build tag interop and start private server instances
// on free loopback ports from configuration they write into a temporary
// folder; they stop every process they started. Install the servers with
// .ci/install-peers, then:
//
//	MAILOAUTH_INTEROP=required go test -tags interop ./internal/interop/...
//
// Without MAILOAUTH_INTEROP=required, a missing server skips the tests.
package interop
