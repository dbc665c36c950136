package cli

import (
	"strings"

	"github.com/mailoauth/mailoauth/provider"
)

// maxPort is the highest TCP port number.
const maxPort = 65535

// ServerFlags are the flags -<proto>-host, -<proto>-port and
// -<proto>-security: each one that is
// set replaces its part of the mail server the provider names, so that a
// program can be pointed at a local test server.
type ServerFlags struct {
	proto    string // "smtp" or "imap", the flags' prefix
	host     *string
	port     *int // 0: not set
	security *string
}

// Server defines the override flags of the mail server proto ("smtp" or
// "imap"); provider says what the provider's server is (such as "the
// cloud's: port 587, starttls"), added to the usage of the port and the
// security. Parse refuses a port outside 1 to 65535 and a security other
// than starttls, tls (implicit TLS) or plaintext.
func (f *Flags) Server(proto, provider string) *ServerFlags {
	s := &ServerFlags{
		proto:    proto,
		host:     f.EnvString(proto+"-host", "", ""),
		port:     f.EnvInt(proto+"-port", 0, provider),
		security: f.EnvString(proto+"-security", "", provider),
	}
	f.check(s.check)
	return s
}

func (s *ServerFlags) check() error {
	if *s.port < 0 || *s.port > maxPort {
		return Usagef("-%s-port %d is not a port number", s.proto, *s.port)
	}
	_, err := s.securityValue()
	return err
}

// Security returns the security -<proto>-security sets, and false when it
// is not set. Call it after Flags.Parse.
func (s *ServerFlags) Security() (provider.Security, bool) {
	sec, _ := s.securityValue() // checked by Parse
	return sec, *s.security != ""
}

// securityValue parses -<proto>-security; 0 when it is not set.
func (s *ServerFlags) securityValue() (provider.Security, error) {
	switch strings.ToLower(*s.security) {
	case "":
		return 0, nil
	case "starttls":
		return provider.StartTLS, nil
	case "tls":
		return provider.ImplicitTLS, nil
	case "plaintext":
		return provider.Plaintext, nil
	}
	return 0, Usagef("-%s-security %q: want starttls, tls or plaintext", s.proto, *s.security)
}

// Apply returns srv with the parts that the flags set replaced. Call it
// after Flags.Parse.
func (s *ServerFlags) Apply(srv provider.Server) provider.Server {
	if *s.host != "" {
		srv.Host = *s.host
	}
	if *s.port != 0 {
		srv.Port = *s.port
	}
	if *s.security != "" {
		srv.Security, _ = s.securityValue() // checked by Parse
	}
	return srv
}
