// Package deps holds no code: its test keeps the module's import graph as
// designed, so that a package's dependency list shows only what its users
// need (a notification service that only sends compiles no IMAP library and
// no HTML template engine).
package deps
