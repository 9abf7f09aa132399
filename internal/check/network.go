package check

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/anyip/anyip/internal/netconf"
	"github.com/anyip/anyip/internal/textfile"
)

// Names of the network checks, after the others in report order.
const (
	NameNetwork   = "network"
	NameReplyPath = "reply-path"
	NameBackends  = "backends"
)

// Kernel answers what the network checks ask the running system.
type Kernel interface {
	// Link reports whether the named link exists and is up, and its
	// addresses.
	Link(name string) (exists, up bool, addrs []netip.Prefix, err error)
	// Route is the kernel's route to dst for traffic from src (invalid:
	// any): the link it leaves through and its gateway (invalid when on
	// link).
	Route(dst, src netip.Addr) (dev string, gw netip.Addr, err error)
}

// outside are destinations that lie outside every network an appliance is
// attached to, for asking where a reply to "the rest of the world" goes:
// documentation space (RFC 5737, RFC 3849) that no one routes to.
var outside4, outside6 = netip.MustParseAddr("198.51.100.77"), netip.MustParseAddr("2001:db8:ffff::77")

// ReadNetwork reads first boot's networkd files in dir; none when the
// directory holds none (the network is not first boot's to check).
func ReadNetwork(dir string) ([]*netconf.Written, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ws []*netconf.Written
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), netconf.FilePrefix) || !strings.HasSuffix(e.Name(), ".network") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := readBounded(p)
		if err != nil {
			return nil, err
		}
		w, err := netconf.Parse(p, data)
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
	}
	return ws, nil
}

func readBounded(p string) ([]byte, error) { return textfile.ReadFile(p, 1<<20) }

func skipNetwork(name, dir string) Result {
	return Result{Name: name, Status: Skip, Summary: "first boot wrote no network files in " + dir}
}

// Network checks that each NIC first boot configured is there, up, and
// holds its address, and that traffic from it to the rest of the world
// leaves through it toward its gateway.
func Network(ws []*netconf.Written, k Kernel) Result {
	r := Result{Name: NameNetwork}
	bad := 0
	for _, w := range ws {
		exists, up, addrs, err := k.Link(w.Name)
		switch {
		case err != nil:
			r.Status, r.Summary = Error, fmt.Sprintf("cannot read the link %s: %v", w.Name, err)
			return r
		case !exists:
			bad++
			r.Details = append(r.Details, fmt.Sprintf("%s: no such NIC; the image names the NICs by role from their PCI slots (.link files)", w.Name))
			continue
		case !up:
			bad++
			r.Details = append(r.Details, fmt.Sprintf("%s: down", w.Name))
			continue
		}
		global := slices.DeleteFunc(slices.Clone(addrs), func(p netip.Prefix) bool { return p.Addr().IsLinkLocalUnicast() })
		for _, a := range w.Address {
			if !slices.Contains(addrs, a) {
				bad++
				r.Details = append(r.Details, fmt.Sprintf("%s: does not hold %s (holds %s)", w.Name, a, prefixList(global)))
			}
		}
		if w.DHCP && len(global) == 0 {
			bad++
			r.Details = append(r.Details, fmt.Sprintf("%s: no address from DHCP yet", w.Name))
			continue
		}
		if len(global) == 0 {
			continue
		}
		if w.DHCP && w.Table != 0 {
			// The lease's subnet is not known when the rules are written:
			// the network's table carries the VIPs' replies and the lease's
			// routes, but the NIC's own address follows the main table.
			r.Details = append(r.Details, fmt.Sprintf("%s: %s from DHCP; its routes are in table %d (traffic from the lease itself follows the main table)", w.Name, prefixList(global), w.Table))
			continue
		}
		gw := w.Gateway
		if !gw.IsValid() {
			gw = w.TableGW
		}
		src := global[0].Addr()
		dst := outside4
		if src.Is6() {
			dst = outside6
		}
		dev, via, err := k.Route(dst, src)
		switch {
		case err != nil:
			bad++
			r.Details = append(r.Details, fmt.Sprintf("%s: no route from %s to the outside: %v", w.Name, src, err))
		case dev != w.Name:
			bad++
			r.Details = append(r.Details, fmt.Sprintf("%s: traffic from %s leaves through %s, not %s", w.Name, src, dev, w.Name))
		case gw.IsValid() && via != gw:
			bad++
			r.Details = append(r.Details, fmt.Sprintf("%s: traffic from %s goes via %s, not the gateway %s", w.Name, src, via, gw))
		default:
			d := fmt.Sprintf("%s: %s, out via %s", w.Name, prefixList(global), via)
			if !via.IsValid() {
				d = fmt.Sprintf("%s: %s, no gateway", w.Name, prefixList(global))
			}
			r.Details = append(r.Details, d)
		}
	}
	if bad > 0 {
		r.Status = Fail
		r.Summary = fmt.Sprintf("%d of %d NICs are not as the wizard configured them", min(bad, len(ws)), len(ws))
		r.Hint = "see `networkctl status NIC` and `journalctl -u systemd-networkd`; the NICs' files are in /etc/systemd/network/10-anyip-*.network"
		return r
	}
	r.Status = Pass
	r.Summary = fmt.Sprintf("%d NICs hold their addresses and reach their gateways", len(ws))
	return r
}

// ReplyPath checks, for an address of each range, that a reply from it to
// an address outside every attached network leaves through the NIC whose
// table first boot's rules send it to (the NIC facing the range), as the
// kernel decides it (route lookup with the VIP as source).
func ReplyPath(ws []*netconf.Written, ranges []netip.Prefix, k Kernel) Result {
	r := Result{Name: NameReplyPath}
	bad := 0
	for _, p := range ranges {
		vip := sample(p)
		want, _ := netconf.Facing(ws, vip)
		if want == "" {
			want = managementNIC(ws)
		}
		dst := outside4
		if vip.Is6() {
			dst = outside6
		}
		dev, via, err := k.Route(dst, vip)
		switch {
		case err != nil:
			bad++
			r.Details = append(r.Details, fmt.Sprintf("%s: no route for a reply from %s: %v", p, vip, err))
		case want != "" && dev != want:
			bad++
			r.Details = append(r.Details, fmt.Sprintf("%s: a reply from %s leaves through %s via %s, not through %s: clients elsewhere see it come from the wrong router", p, vip, dev, via, want))
		default:
			r.Details = append(r.Details, fmt.Sprintf("%s: replies leave through %s via %s", p, dev, via))
		}
	}
	switch {
	case len(ranges) == 0:
		r.Status, r.Summary = Skip, "no ranges"
	case bad > 0:
		r.Status = Fail
		r.Summary = fmt.Sprintf("%d of %d ranges reply through the wrong NIC", bad, len(ranges))
		r.Hint = "the policy rules of first boot are missing (`ip rule` shows them at priorities 10100-10499); " + reconfigure(ws) + " restores them from /etc/systemd/network"
	default:
		r.Status = Pass
		r.Summary = fmt.Sprintf("%d ranges reply through the NIC that faces them", len(ranges))
	}
	return r
}

// Backends checks that each additional workload network is routed through
// the workload NIC and its gateway.
func Backends(ws []*netconf.Written, k Kernel) Result {
	r := Result{Name: NameBackends}
	var nets []netip.Prefix
	var wl *netconf.Written
	for _, w := range ws {
		if len(w.Backends) > 0 {
			nets, wl = append(nets, w.Backends...), w
		}
	}
	if len(nets) == 0 {
		r.Status, r.Summary = Skip, "no additional workload networks"
		return r
	}
	bad := 0
	for _, n := range nets {
		dev, via, err := k.Route(n.Addr().Next(), netip.Addr{})
		switch {
		case err != nil:
			bad++
			r.Details = append(r.Details, fmt.Sprintf("%s: no route: %v", n, err))
		case dev != wl.Name || (wl.TableGW.IsValid() && via != wl.TableGW):
			bad++
			r.Details = append(r.Details, fmt.Sprintf("%s: routed through %s via %s, not through %s via %s", n, dev, via, wl.Name, wl.TableGW))
		default:
			r.Details = append(r.Details, fmt.Sprintf("%s: through %s via %s", n, dev, via))
		}
	}
	if bad > 0 {
		r.Status = Fail
		r.Summary = fmt.Sprintf("%d of %d backend networks are not routed through the workload gateway", bad, len(nets))
		r.Hint = "the rules to the backends are missing (`ip rule` at priority 10100); " + reconfigure([]*netconf.Written{wl}) + " restores them"
		return r
	}
	r.Status = Pass
	r.Summary = fmt.Sprintf("%d backend networks are routed through the workload gateway", len(nets))
	return r
}

// reconfigure is the command that has networkd configure the NICs again
// from their files. Not `networkctl reload`: with the files unchanged it
// leaves the links alone (systemd 252), so a rule deleted by hand stays
// deleted.
func reconfigure(ws []*netconf.Written) string {
	var names []string
	for _, w := range ws {
		if w.Name != "" && !slices.Contains(names, w.Name) {
			names = append(names, w.Name)
		}
	}
	return "`networkctl reconfigure " + strings.Join(names, " ") + "`"
}

// managementNIC is the NIC of the main table's default route.
func managementNIC(ws []*netconf.Written) string {
	for _, w := range ws {
		if w.Table == 0 {
			return w.Name
		}
	}
	return ""
}

func prefixList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "no address"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
