package fetch

import (
	"net/netip"
	"strings"
)

// Address classes that Fetch refuses, as named in error messages.
const (
	classLoopback    = "a loopback address"
	classPrivate     = "a private address"
	classLinkLocal   = "a link-local address"
	classUnspecified = "an unspecified address"
	classMulticast   = "a multicast address"
	classShared      = "a shared (carrier-grade NAT) address"
	classReserved    = "a reserved address"
)

// refusedPrefixes are the IPv4 and IPv6 ranges that are not public unicast
// destinations, beyond what netip's predicates cover.
var refusedPrefixes = []struct {
	p     netip.Prefix
	class string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), classUnspecified},    // "this network"; 0.0.0.0 reaches the host itself
	{netip.MustParsePrefix("100.64.0.0/10"), classShared},     // CGNAT (RFC 6598)
	{netip.MustParsePrefix("192.0.0.0/24"), classReserved},    // IETF protocol assignments
	{netip.MustParsePrefix("192.0.2.0/24"), classReserved},    // TEST-NET-1
	{netip.MustParsePrefix("198.18.0.0/15"), classReserved},   // benchmarking
	{netip.MustParsePrefix("198.51.100.0/24"), classReserved}, // TEST-NET-2
	{netip.MustParsePrefix("203.0.113.0/24"), classReserved},  // TEST-NET-3
	{netip.MustParsePrefix("240.0.0.0/4"), classReserved},     // reserved, incl. 255.255.255.255
	{netip.MustParsePrefix("fec0::/10"), classPrivate},        // deprecated site-local
	{netip.MustParsePrefix("100::/64"), classReserved},        // discard-only
	{netip.MustParsePrefix("2001:db8::/32"), classReserved},   // documentation
	{netip.MustParsePrefix("2001::/23"), classReserved},       // IETF protocol assignments (Teredo etc.)
	{netip.MustParsePrefix("::/8"), classReserved},            // reserved (after the embedded-IPv4 checks below)
}

// embedded4 are IPv6 ranges that carry an IPv4 address which a gateway on
// the path may connect to: the IPv4-compatible form (::a.b.c.d), NAT64
// (64:ff9b::/96) and 6to4 (2002::/16). IPv4-mapped addresses are unmapped
// before anything else.
var (
	compat4 = netip.MustParsePrefix("::/96")
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
	nat64l  = netip.MustParsePrefix("64:ff9b:1::/48")
	sixTo4  = netip.MustParsePrefix("2002::/16")
)

// Classify returns why addr is not an acceptable destination for a
// client-given URL ("a loopback address", "a private address", ...), or ""
// when it is a public unicast address. IPv4-mapped and IPv4-embedding IPv6
// forms are judged by the IPv4 address they carry.
func Classify(addr netip.Addr) string {
	if !addr.IsValid() {
		return classUnspecified
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() && !addr.IsLoopback() && !addr.IsUnspecified() {
		b := addr.As16()
		switch {
		case nat64l.Contains(addr):
			// RFC 8215 local-use NAT64: the mapping is operator-defined.
			return classPrivate
		case nat64.Contains(addr):
			return classify4or6(netip.AddrFrom4([4]byte(b[12:16])))
		case sixTo4.Contains(addr):
			return classify4or6(netip.AddrFrom4([4]byte(b[2:6])))
		case compat4.Contains(addr):
			// ::a.b.c.d is deprecated and never routed publicly.
			if c := classify4or6(netip.AddrFrom4([4]byte(b[12:16]))); c != "" {
				return c
			}
			return classReserved
		}
	}
	return classify4or6(addr)
}

func classify4or6(addr netip.Addr) string {
	switch {
	case addr.IsUnspecified():
		return classUnspecified
	case addr.IsLoopback():
		return classLoopback
	case addr.IsPrivate():
		return classPrivate
	case addr.IsLinkLocalUnicast():
		return classLinkLocal
	case addr.IsMulticast(), addr.IsLinkLocalMulticast(), addr.IsInterfaceLocalMulticast():
		return classMulticast
	}
	for _, r := range refusedPrefixes {
		if r.p.Contains(addr) {
			return r.class
		}
	}
	return ""
}

// refusedNames are host names refused before any resolution: local names
// and the cloud metadata services that also answer on non-link-local
// addresses in some setups. Everything else is judged by the addresses the
// name resolves to.
var refusedNames = map[string]bool{
	"localhost":                true,
	"metadata":                 true,
	"metadata.google.internal": true,
	"metadata.goog":            true,
	"instance-data":            true,
	"kubernetes.default":       true,
}

// refusedSuffixes are name suffixes reserved for local use.
var refusedSuffixes = []string{".localhost", ".internal", ".local", ".localdomain", ".home.arpa", ".svc", ".cluster.local"}

// nameRefused reports whether host (lower case, no trailing dot) is a name
// that never designates a public server.
func nameRefused(host string) bool {
	if refusedNames[host] {
		return true
	}
	for _, s := range refusedSuffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}
