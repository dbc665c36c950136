// Package cli is the plumbing the example programs share: flags that can
// also be given as environment variables, secrets read from the
// environment or a file, the certificate authorities of -ca-file, the
// encrypted grant folder, server and cloud overrides, a plain-text
// message, and the exit status with provider.Diagnose's advice. It holds
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
//		caFile := fs.EnvString("ca-file", "MAILOAUTH_CA_FILE", "", "PEM file of extra certificate authorities")
//		if err := fs.Parse(args); err != nil {
//			return err // cli.Main explains it: status 0 after -h, 2 for a usage mistake
//		}
//		if err := fs.Required("mailbox"); err != nil {
//			return err
//		}
//		secret, err := cli.EnvSecret(getenv, cli.EnvClientSecret)
//		...
//	}
//
// The package is internal to the examples. An example copied out of this
// repository needs it alongside (change its import path), or just the few
// functions the example calls: each file here is one concept and stands
// almost alone.
package cli
