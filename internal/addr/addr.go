// Package addr turns bound listener addresses into the URLs that ricochet's
// programs announce on their first line of output.
package addr

import (
	"net"
	"strconv"
)

// URL returns "http://HOST:PORT" for a bound address, with HOST "localhost"
// when the listener is bound to a wildcard address.
func URL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	host := "localhost"
	if tcp.IP != nil && !tcp.IP.IsUnspecified() {
		host = tcp.IP.String()
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}
