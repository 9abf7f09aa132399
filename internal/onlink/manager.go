package onlink

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/anyip/anyip/internal/nd"
	"github.com/anyip/anyip/internal/validate"
)

// Manager runs the responders and the announcements of `anyip-routes
// watch`. Update never blocks on the network: every NIC's responder and
// every announcement runs in a goroutine of its own, so neither a flood
// nor a slow link holds up the route reconcile that calls it.
type Manager struct {
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	nics  map[string]*nic6
	seen4 map[string]seen // per NIC: the IPv4 ranges announced, and at which MAC
	busy4 map[string]bool
	plan  Plan
	// openErr remembers why a NIC could not be served, logged once.
	openErr map[string]string
}

type nic6 struct {
	r      *responder
	cancel context.CancelFunc
	seen   seen
	join   *joiner // nil when it could not be opened
}

type seen struct {
	mac    string
	ranges map[netip.Prefix]bool
}

// NewManager makes a manager; Close stops it.
func NewManager(log *slog.Logger) *Manager {
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{log: log, ctx: ctx, cancel: cancel, nics: map[string]*nic6{},
		seen4: map[string]seen{}, busy4: map[string]bool{}, openErr: map[string]string{}}
}

// Plan is the assignment of the last Update.
func (m *Manager) Plan() Plan {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.plan
}

// Update makes the responders answer for the ranges as the facts place
// them, stops those of NICs that serve no range any more, and announces
// the ranges new on a NIC (all of them at the first call, and again when
// a NIC's MAC has changed), the binds first.
func (m *Manager) Update(rs []netip.Prefix, facts validate.Facts, binds []netip.Addr) {
	plan := Assign(rs, facts)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.plan = plan
	keep := map[string]bool{}
	for _, sv := range plan.V6 {
		ifi, err := net.InterfaceByName(sv.Iface)
		if err != nil {
			m.fail(sv.Iface, err)
			continue
		}
		n := m.nics[sv.Iface]
		if n != nil && !bytes.Equal(n.r.mac, ifi.HardwareAddr) {
			m.log.Info("the NIC's MAC changed; restarting its neighbour responder", "iface", sv.Iface, "mac", ifi.HardwareAddr.String())
			m.stop(sv.Iface)
			n = nil
		}
		if n != nil && n.r.exited() {
			// Its socket failed (the NIC went away and came back, say):
			// start over on the NIC as it is now.
			m.stop(sv.Iface)
			n = nil
		}
		if n == nil {
			if n, err = m.start(ifi, sv); err != nil {
				m.fail(sv.Iface, err)
				continue
			}
			m.nics[sv.Iface] = n
			m.log.Info("answering neighbour solicitations", "iface", sv.Iface, "mac", ifi.HardwareAddr.String(), "ranges", len(sv.Ranges))
		}
		delete(m.openErr, sv.Iface)
		keep[sv.Iface] = true
		fresh := freshRanges(&n.seen, sv.Ranges, ifi.HardwareAddr)
		n.r.set(sv.Ranges, Targets(fresh, binds, PerRange, MaxAnnounced))
		if n.join != nil {
			if err := n.join.set(Groups(sv.Ranges, MaxGroups)); err != nil {
				m.log.Warn("cannot join the solicited-node groups of a range; a switch that snoops MLD may not forward its solicitations", "iface", sv.Iface, "err", err)
			}
		}
	}
	for name := range m.nics {
		if !keep[name] {
			m.stop(name)
			m.log.Info("no longer answering neighbour solicitations: no range on this NIC", "iface", name)
		}
	}
	for _, sv := range plan.V4 {
		ifi, err := net.InterfaceByName(sv.Iface)
		if err != nil || m.busy4[sv.Iface] {
			continue // a running announcement; the next update catches up
		}
		s := m.seen4[sv.Iface]
		fresh := freshRanges(&s, sv.Ranges, ifi.HardwareAddr)
		m.seen4[sv.Iface] = s
		if targets := Targets(fresh, binds, PerRange, MaxAnnounced); len(targets) > 0 {
			m.busy4[sv.Iface] = true
			m.wg.Add(1)
			go m.announce4(ifi, targets)
		}
	}
	for name := range m.seen4 {
		if !slices.ContainsFunc(plan.V4, func(s Served) bool { return s.Iface == name }) {
			delete(m.seen4, name)
		}
	}
}

// freshRanges updates s to rs at mac and returns the ranges to announce:
// those not announced before at this MAC.
func freshRanges(s *seen, rs []netip.Prefix, mac net.HardwareAddr) []netip.Prefix {
	if s.mac != string(mac) || s.ranges == nil {
		*s = seen{mac: string(mac), ranges: map[netip.Prefix]bool{}}
	}
	var fresh []netip.Prefix
	now := map[netip.Prefix]bool{}
	for _, r := range rs {
		now[r] = true
		if !s.ranges[r] {
			fresh = append(fresh, r)
		}
	}
	s.ranges = now
	return fresh
}

func (m *Manager) fail(iface string, err error) {
	if msg := err.Error(); m.openErr[iface] != msg {
		m.openErr[iface] = msg
		m.log.Error("cannot answer neighbour solicitations on this NIC; its IPv6 ranges need a route from the router", "iface", iface, "err", err)
	}
}

func (m *Manager) start(ifi *net.Interface, sv Served) (*nic6, error) {
	conn, err := nd.ListenNDP(ifi, true)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(m.ctx)
	r := newResponder(ifi.Name, slices.Clone(ifi.HardwareAddr), conn, m.log)
	e := NewEngine(r.mac, sv.Source, EngineConfig{})
	e.SetRanges(sv.Ranges)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer conn.Close()
		r.run(ctx, e)
	}()
	n := &nic6{r: r, cancel: cancel}
	if n.join, err = newJoiner(ifi); err != nil {
		m.log.Warn("not joining solicited-node groups; a switch that snoops MLD may not forward the solicitations", "iface", ifi.Name, "err", err)
	}
	return n, nil
}

// stop ends a NIC's responder and waits for it: once it returns, nothing
// more is answered there and the socket (with its allmulticast
// membership) is closed.
func (m *Manager) stop(name string) {
	n := m.nics[name]
	if n == nil {
		return
	}
	n.cancel()
	<-n.r.done
	if n.join != nil {
		n.join.Close()
	}
	delete(m.nics, name)
}

func (m *Manager) announce4(ifi *net.Interface, targets []netip.Addr) {
	defer m.wg.Done()
	defer func() {
		m.mu.Lock()
		delete(m.busy4, ifi.Name)
		m.mu.Unlock()
	}()
	conn, err := nd.ListenARP(ifi)
	if err != nil {
		m.log.Error("cannot announce the IPv4 ranges", "iface", ifi.Name, "err", err)
		return
	}
	defer conn.Close()
	done, held, err := AnnounceARP(m.ctx, conn, ifi.HardwareAddr, targets, ARPOptions{})
	for _, h := range held {
		m.log.Warn("another host answers ARP for an address of a range; not announcing it", "iface", ifi.Name, "addr", h.Addr, "mac", h.MAC.String())
	}
	if err != nil && m.ctx.Err() == nil {
		m.log.Error("announcing the IPv4 ranges failed", "iface", ifi.Name, "err", err)
	}
	m.log.Info("announced", "iface", ifi.Name, "family", "IPv4", "addresses", len(done), "mac", ifi.HardwareAddr.String())
}

// Close stops every responder and announcement.
func (m *Manager) Close() {
	m.cancel()
	m.mu.Lock()
	for name, n := range m.nics {
		st := n.r.Stats()
		m.stop(name)
		m.log.Info("neighbour responder closed", "iface", name, "answered", st.Answered, "probed", st.Probed,
			"announced", st.Announced, "defended", st.Defended, "limited", st.Limited, "conflicts", st.Conflicts)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// Stats are the counters of each NIC's responder.
func (m *Manager) Stats() map[string]Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Stats{}
	for name, n := range m.nics {
		out[name] = n.r.Stats()
	}
	return out
}
