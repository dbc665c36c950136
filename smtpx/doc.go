// Package smtpx sends mail over SMTP submission with OAuth2 bearer tokens
// (XOAUTH2 or OAUTHBEARER), on top of github.com/emersion/go-smtp.
//
// Dial gives one authenticated connection; a Sender pools connections for
// a notification service and is safe for concurrent use:
//
//	sender := smtpx.NewSender(mailbox, nil)
//	defer sender.Close()
//	err := sender.Send(ctx, smtpx.Envelope{To: []string{"ops@example.net"}}, bytes.NewReader(msg))
//
// A token only travels over TLS 1.2 or later with the server's name
// verified (Plaintext is allowed to loopback addresses only). A token the
// server refuses is invalidated and replaced once. Errors are *Error
// values (or *RecipientsError) that say which phase failed and carry the
// server's reply; provider.Diagnose explains them. No token ever appears
// in an error, a log line or an Options.Debug transcript.
package smtpx
