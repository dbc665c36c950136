// Package loopback tells the hosts to which a secret or a token may go
// over plain HTTP: this machine's own, never the network's.
package loopback

import (
	"net"
	"strings"
)

// Host reports whether host (a URL's Hostname) is localhost or a loopback
// IP address.
func Host(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
