package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// trustedSet is the parsed trusted_proxies.
type trustedSet []netip.Prefix

// parseTrusted parses CIDRs and bare addresses.
func parseTrusted(list []string) (trustedSet, error) {
	var t trustedSet
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			t = append(t, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an address", s)
		}
		t = append(t, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return t, nil
}

func (t trustedSet) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the client's address: the peer's, unless the peer is a
// trusted proxy, in which case X-Forwarded-For is walked from the right
// and the first address not trusted is the client (nginx real_ip with
// real_ip_recursive on; the leftmost entries are whatever the client
// claimed and are never believed past an untrusted hop). An entry that is
// not an address stops the walk at the last trusted hop seen.
func (t trustedSet) clientAddr(remoteAddr string, xff []string) netip.Addr {
	peer, ok := addrOf(remoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if len(t) == 0 || len(xff) == 0 || !t.contains(peer) {
		return peer
	}
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		v := xff[i]
		for v != "" {
			var f string
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				f, v = v[j+1:], v[:j]
			} else {
				f, v = v, ""
			}
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			a, err := netip.ParseAddr(f)
			if err != nil {
				return client
			}
			client = a.Unmap()
			if !t.contains(client) {
				return client
			}
		}
	}
	return client
}

// addrOf parses the address of a host:port, as http.Request.RemoteAddr
// holds it.
func addrOf(hostport string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap.Addr().Unmap(), true
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
