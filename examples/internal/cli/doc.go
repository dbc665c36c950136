// Package cli is the plumbing the example programs share: flags that can
// also be given as environment variables (one variable per flag,
// MAILOAUTH_ and the flag's name: see EnvName), the client credential of
// -secret-file, -secret-expires and -cert-file, the certificate
// authorities of -ca-file, the grant folder of -store and -grant, server
// and cloud overrides, the logger (with Once, so that a failure is
// reported once), a plain-text message, and the exit status with
// provider.Diagnose's advice, in the program's own terms: its flags and
// variables, never the library's Go field names. It holds nothing about
// OAuth or mail that the examples are there to show: that stays in each
// program.
//
// A program built on it reads:
//
//	func main() { cli.Main("notify", run) }
//
//	func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
//		fs := cli.NewFlags("notify", getenv, stderr)
//		mailbox := fs.EnvString("mailbox", "", "")   // -mailbox, or $MAILOAUTH_MAILBOX
//		credential := fs.Credential(true)            // -secret-file, -secret-expires, -cert-file
//		cloud := fs.Cloud()
//		smtp := fs.Server("smtp", "default: the cloud's, port 587 with starttls")
//		ca := fs.CAFile()
//		if err := fs.Parse(args); err != nil {
//			return err // cli.Main: status 0 after -h, 2 for a usage mistake
//		}
//		if err := fs.Required("mailbox"); err != nil {
//			return err
//		}
//		logger, debug, reported := cli.OneShot(stderr, false)
//		defer func() { reported(err) }()
//		cfg := entra.Config{ /* ... */ Cloud: cloud.Cloud(), HTTPClient: ca.HTTPClient(), Logger: logger}
//		credential.Credential().Entra(&cfg)
//		if err := cli.CheckCredentials(ctx, cfg); err != nil {
//			return err // a wrong secret, named as such
//		}
//		mb, err := entra.ClientCredentials(ctx, cfg)
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
