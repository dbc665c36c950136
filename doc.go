// Package mailoauth lets Go programs send mail over SMTP and read it over
// IMAP with OAuth2 bearer tokens (SASL XOAUTH2 and OAUTHBEARER), against
// Microsoft Exchange Online (Entra ID), Google Gmail and any
// standards-following mail server.
//
// The packages, from the bottom up:
//
//   - auth: the SASL mechanisms and the token cache every transport uses.
//   - tokenstore: refresh-token persistence (memory, file, encrypted, SQL).
//   - provider: the Mailbox type, the shared authorization flows, Diagnose.
//   - provider/entra, provider/google: each identity provider's flows.
//   - smtpx, imapx: the transports: dial, authenticate, pool, mailgate.
//
// The test doubles sit beside what they imitate: provider/providertest,
// smtpx/smtpxtest and imapx/imapxtest.
package mailoauth
