// Package cli is the plumbing the example programs share: flags that can
// also be given as environment variables, secrets read from the
// environment or a file, a certificate credential, the certificate
// authorities of -ca-file, the encrypted grant folder and -grant, server
// and cloud overrides, the logger, a plain-text message, and the exit
// status with provider.Diagnose's advice. It holds
// nothing about OAuth or mail that the examples are there to show: that
// stays in each program.
//
// A program built on it reads:
//
//	func main() { cli.Main("notify", run) }
//
//	func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
//		fs := cli.NewFlags("notify", getenv, stderr)
//		mailbox := fs.EnvString("mailbox", "MAILOAUTH_MAILBOX", "", "mailbox to send from")
//		cloud := fs.Cloud("")
//		smtp := fs.Server("smtp", "SMTP server instead of the cloud's", "SMTP port", "starttls, tls or plaintext")
//		ca := fs.CAFile("PEM file of certificate authorities to trust besides the system's")
//		if err := fs.Parse(args); err != nil {
//			return err // cli.Main: status 0 after -h, 2 for a usage mistake
//		}
//		if err := fs.Required("mailbox"); err != nil {
//			return err
//		}
//		secret, err := cli.EnvSecret(getenv, cli.EnvClientSecret) // or MAILOAUTH_CLIENT_SECRET_FILE
//		if err != nil {
//			return err
//		}
//		mb, err := entra.ClientCredentials(ctx, entra.Config{ /* ... */ Cloud: cloud.Cloud(), HTTPClient: ca.HTTPClient()})
//		...
//		mb.SMTP = smtp.Apply(mb.SMTP)
//		...
//	}
//
// The package is internal to the examples. An example copied out of this
// repository needs it alongside (change its import path), or just the few
// functions the example calls: each file here is one concept and stands
// almost alone.
package cli
