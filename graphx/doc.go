// Package graphx sends and receives mail through the Microsoft Graph API
// with OAuth2 bearer tokens, for Microsoft 365 tenants that keep SMTP AUTH
// or IMAP off. It speaks plain net/http to a handful of endpoints; it
// needs no Graph SDK.
//
// A Sender is a provider.Sender, like smtpx.Sender, so one call sends over
// either transport:
//
//	sender := graphx.NewSender(mailbox, nil)
//	defer sender.Close()
//	err := sender.Send(ctx, provider.Envelope{To: []string{"ops@example.net"}}, msg)
//
// Graph sends to the recipients the message's header names, not to an
// envelope: see Sender for how the two are kept equal. A nil error means
// Graph accepted the message (202), not that it was delivered.
//
// For receiving, a Client offers what a mail gate needs for one folder:
// Delta lists new messages page by page through the folder's delta query
// (the caller keeps the links, so that a restart resumes, and a link Graph
// forgot gives ErrResync), Open streams a message's MIME, and MarkRead,
// Move and Delete act on it. FolderID turns a folder's name into its id
// once. Every request asks for immutable ids.
//
// Tokens come from the Mailbox's TokenSource; they must be Graph tokens
// (audience https://graph.microsoft.com, scope .default with the Mail.Send
// and Mail.ReadWrite application permissions, or the delegated Mail.Send,
// Mail.ReadWrite and offline_access): a token for Exchange's IMAP or SMTP
// is refused. A token Graph refuses is invalidated and replaced once. The
// requests of one mailbox, sending and receiving, keep within Graph's
// limits (4 in flight, 10,000 per 10 minutes) and wait out its throttling.
// Errors are *Error values that carry Graph's status and code; no token or
// upload URL appears in an error or a log line.
//
// graphx/graphxtest is a local Graph server for tests.
package graphx
