package netconf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/anyip/anyip/internal/textfile"
)

// Rule is one [RoutingPolicyRule] of our files.
type Rule struct {
	From, To netip.Prefix // invalid when not given
	Table    int
	Priority int
	// SuppressPrefixLength is -1 when not given.
	SuppressPrefixLength int
}

// Written is what one of our .network files says, read back for check:
// which NIC, which addresses or DHCP, which gateways in which table, which
// rules.
type Written struct {
	Name     string // the NIC's name ([Match] Name=)
	Address  []netip.Prefix
	DHCP     bool
	Gateway  netip.Addr // the main table's (management)
	Table    int        // the network's table; 0 for the main one
	TableGW  netip.Addr // the default route's gateway in Table, when static
	Rules    []Rule
	Backends []netip.Prefix // the To= of the rules
}

// Parse reads a file Render wrote. It knows only the keys Render writes;
// others are ignored, and a value that does not parse is an error naming
// its line.
func Parse(path string, data []byte) (*Written, error) {
	w := &Written{}
	section := ""
	var rule *Rule
	var route struct {
		gw    netip.Addr
		table int
	}
	flushRoute := func() {
		if route.gw.IsValid() && route.table != 0 {
			w.Table, w.TableGW = route.table, route.gw
		}
		route.gw, route.table = netip.Addr{}, 0
	}
	for n, raw := range textfile.Lines(data) {
		line := strings.TrimSpace(string(raw))
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			if section == "Route" {
				flushRoute()
			}
			section = line[1 : len(line)-1]
			rule = nil
			if section == "RoutingPolicyRule" {
				w.Rules = append(w.Rules, Rule{SuppressPrefixLength: -1})
				rule = &w.Rules[len(w.Rules)-1]
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q is not key=value", path, n, line)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		var err error
		switch section + "." + key {
		case "Match.Name":
			w.Name = value
		case "Network.Address":
			var p netip.Prefix
			if p, err = netip.ParsePrefix(value); err == nil {
				w.Address = append(w.Address, p)
			}
		case "Network.DHCP":
			w.DHCP = value == "ipv4" || value == "yes" || value == "true"
		case "Network.Gateway":
			w.Gateway, err = netip.ParseAddr(value)
		case "DHCPv4.RouteTable":
			w.Table, err = strconv.Atoi(value)
		case "Route.Gateway":
			route.gw, err = netip.ParseAddr(value)
		case "Route.Table":
			route.table, err = strconv.Atoi(value)
		case "RoutingPolicyRule.From":
			rule.From, err = netip.ParsePrefix(value)
		case "RoutingPolicyRule.To":
			if rule.To, err = netip.ParsePrefix(value); err == nil {
				w.Backends = append(w.Backends, rule.To)
			}
		case "RoutingPolicyRule.Table":
			rule.Table, err = strconv.Atoi(value)
		case "RoutingPolicyRule.Priority":
			rule.Priority, err = strconv.Atoi(value)
		case "RoutingPolicyRule.SuppressPrefixLength":
			rule.SuppressPrefixLength, err = strconv.Atoi(value)
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s=%s: %v", path, n, key, value, err)
		}
	}
	if section == "Route" {
		flushRoute()
	}
	if w.Name == "" {
		return nil, fmt.Errorf("%s: no [Match] Name=", path)
	}
	return w, nil
}

// Facing returns the table the rules of ws send traffic from a to, and the
// name of the NIC of that table; "" and 0 when no rule does (the main
// table).
func Facing(ws []*Written, a netip.Addr) (nic string, table int) {
	best := -1
	for _, w := range ws {
		for _, r := range w.Rules {
			if r.From.IsValid() && r.From.Contains(a) && r.SuppressPrefixLength < 0 && (best < 0 || r.Priority < best) {
				best, nic, table = r.Priority, w.Name, r.Table
			}
		}
	}
	return nic, table
}
