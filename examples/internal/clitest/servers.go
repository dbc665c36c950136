package clitest

import (
	"testing"

	"github.com/mailoauth/mailoauth/imapx/imapxtest"
	"github.com/mailoauth/mailoauth/provider"
	"github.com/mailoauth/mailoauth/provider/providertest"
	"github.com/mailoauth/mailoauth/smtpx/smtpxtest"
	"github.com/mailoauth/mailoauth/tokenstore"
)

// IdentityProvider starts a providertest server, closed when the test
// ends.
func IdentityProvider(t testing.TB) *providertest.Server {
	idp := providertest.New()
	t.Cleanup(idp.Close)
	return idp
}

// SMTPServer starts an smtpxtest server that checks every token with idp,
// with opts after that, closed when the test ends.
func SMTPServer(t testing.TB, idp *providertest.Server, opts *smtpxtest.Options) *smtpxtest.Server {
	o := smtpxtest.Options{}
	if opts != nil {
		o = *opts
	}
	o.Verify = idp.VerifySASL
	srv := smtpxtest.New(&o)
	t.Cleanup(srv.Close)
	return srv
}

// IMAPServer starts an imapxtest server that checks every token with idp,
// with opts after that, closed when the test ends.
func IMAPServer(t testing.TB, idp *providertest.Server, opts *imapxtest.Options) *imapxtest.Server {
	o := imapxtest.Options{Security: provider.ImplicitTLS}
	if opts != nil {
		o = *opts
	}
	o.Verify = idp.VerifySASL
	srv := imapxtest.New(&o)
	t.Cleanup(srv.Close)
	return srv
}

// Received checks that srv received n messages, the last one sent from
// mailbox, logged in as mailbox, to the one recipient to, and returns it.
func Received(t testing.TB, srv *smtpxtest.Server, n int, mailbox, to string) smtpxtest.Message {
	t.Helper()
	msgs := srv.Messages()
	if len(msgs) != n {
		t.Fatalf("the server received %d messages, want %d", len(msgs), n)
	}
	m := msgs[n-1]
	if m.From != mailbox || len(m.To) != 1 || m.To[0] != to || m.User != mailbox {
		t.Errorf("envelope from %q to %q, login %q; want from and login %q, to %q", m.From, m.To, m.User, mailbox, to)
	}
	return m
}

// EncryptedStore opens the grant folder dir as the examples keep it, a
// tokenstore.File encrypted with key, made directly with tokenstore so that
// a test can seed or read it independently of the program.
func EncryptedStore(t testing.TB, dir string, key []byte) tokenstore.Store {
	t.Helper()
	file, err := tokenstore.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	store, err := tokenstore.NewEncrypted(file, key)
	if err != nil {
		t.Fatal(err)
	}
	return store
}
