package onlink

import (
	"bytes"
	"net"
	"net/netip"
	"time"

	"github.com/anyip/anyip/internal/nd"
)

// EngineConfig tunes a responder; zero values take the defaults.
type EngineConfig struct {
	// DADWait is how long a duplicate-address probe waits for a holder
	// before the address counts as free. A solicitor retransmits after a
	// second (RFC 4861 RetransTimer), so the first answer, late by this
	// much, still finds it waiting.
	DADWait time.Duration
	// Verified is how long an address that passed the probe is answered
	// for without asking again; Hold how long an address another host
	// showed it holds is left to it since the last sign of it.
	Verified, Hold time.Duration
	// Rate and Burst bound what the responder sends (answers, probes,
	// announcements), whatever arrives.
	Rate, Burst float64
	// MaxPending bounds the addresses being probed at once (their
	// solicitors waiting), MaxTracked the verified and the held ones
	// remembered, MaxAnnounce the addresses queued for announcement.
	MaxPending, MaxTracked, MaxAnnounce int
	// Repeat is the gap between an announcement and its repetition (one
	// lost frame must not leave a neighbour with the old MAC).
	Repeat time.Duration
}

// Defaults of EngineConfig.
const (
	DefaultDADWait     = 250 * time.Millisecond
	DefaultVerified    = 10 * time.Minute
	DefaultHold        = 10 * time.Minute
	DefaultRate        = 2000
	DefaultBurst       = 200
	DefaultMaxPending  = 1024
	DefaultMaxTracked  = 65536
	DefaultMaxAnnounce = 1024
	DefaultRepeat      = time.Second
)

func (c EngineConfig) withDefaults() EngineConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defi := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.DADWait, DefaultDADWait)
	def(&c.Verified, DefaultVerified)
	def(&c.Hold, DefaultHold)
	def(&c.Repeat, DefaultRepeat)
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	defi(&c.MaxPending, DefaultMaxPending)
	defi(&c.MaxTracked, DefaultMaxTracked)
	defi(&c.MaxAnnounce, DefaultMaxAnnounce)
	return c
}

// Send is a message the responder wants on the link.
type Send struct {
	Msg    nd.Msg
	DstMAC net.HardwareAddr // for a unicast destination
}

// Conflict is another host showing it holds an address of a range.
type Conflict struct {
	Addr  netip.Addr
	Range netip.Prefix
	MAC   net.HardwareAddr
	// How: "advertises it" (a neighbour advertisement), "solicits from
	// it" (a solicitation with it as source).
	How string
}

// Stats count what the responder did and refused.
type Stats struct {
	Answered, Probed, Announced, Defended uint64
	// Limited are solicitations not answered for the rate limit, or for
	// too many addresses under probe at once.
	Limited uint64
	// Conflicts are addresses found held by another host.
	Conflicts uint64
}

type waiter struct {
	dst netip.Addr
	mac string
}

type pending struct {
	deadline time.Time
	waiters  []waiter
	announce bool
}

type held struct {
	mac   string
	until time.Time
}

type repeat struct {
	addr netip.Addr
	at   time.Time
}

// maxWaiters bounds the solicitors remembered for one address under
// probe.
const maxWaiters = 8

// Engine is the responder of one NIC as a state machine: messages and the
// time go in, messages to send and conflicts come out. One goroutine owns
// it.
type Engine struct {
	cfg    EngineConfig
	mac    net.HardwareAddr
	src    netip.Addr
	ranges ranges
	bucket Bucket

	verified map[netip.Addr]time.Time // until
	held     map[netip.Addr]held
	pending  map[netip.Addr]*pending
	order    []netip.Addr // pending, by deadline (FIFO: one wait for all)
	announce []netip.Addr // queued to be probed, then announced
	queued   map[netip.Addr]bool
	repeats  []repeat

	out       []Send
	conflicts []Conflict
	stats     Stats
}

// NewEngine makes the responder for a NIC with MAC mac and link-local
// address src (the source of what it sends; invalid: the target itself).
func NewEngine(mac net.HardwareAddr, src netip.Addr, cfg EngineConfig) *Engine {
	cfg = cfg.withDefaults()
	return &Engine{
		cfg: cfg, mac: mac, src: src,
		bucket:   Bucket{Rate: cfg.Rate, Burst: cfg.Burst},
		verified: map[netip.Addr]time.Time{},
		held:     map[netip.Addr]held{},
		pending:  map[netip.Addr]*pending{},
		queued:   map[netip.Addr]bool{},
	}
}

// SetRanges replaces the ranges answered for. From now on nothing outside
// them is answered or announced; what was learnt inside them stays.
func (e *Engine) SetRanges(ps []netip.Prefix) {
	e.ranges = newRanges(ps)
	for a := range e.verified {
		if !e.ranges.contains(a) {
			delete(e.verified, a)
		}
	}
	for a := range e.held {
		if !e.ranges.contains(a) {
			delete(e.held, a)
		}
	}
}

// Ranges are those answered for.
func (e *Engine) Ranges() []netip.Prefix { return e.ranges }

// Pending reports whether a duplicate-address probe waits for its
// answer: a reply already received must be handled before it times out.
func (e *Engine) Pending() bool { return len(e.pending) > 0 }

// Stats are the counters so far.
func (e *Engine) Stats() Stats { return e.stats }

// Drain returns what is to be sent and the conflicts found since the last
// call.
func (e *Engine) Drain() ([]Send, []Conflict) {
	out, cs := e.out, e.conflicts
	e.out, e.conflicts = nil, nil
	return out, cs
}

// Handle takes a message read off the link, from MAC from.
func (e *Engine) Handle(now time.Time, m nd.Msg, from net.HardwareAddr) {
	if bytes.Equal(from, e.mac) {
		return // our own, looped back
	}
	link := m.LinkAddr
	if link == nil {
		link = from
	}
	switch m.Kind {
	case nd.Advertisement:
		if !bytes.Equal(link, e.mac) {
			e.claim(now, m.Target, link, "advertises it")
		}
		return
	case nd.Solicitation:
	default:
		return
	}
	if !m.Src.IsUnspecified() && !bytes.Equal(link, e.mac) {
		e.claim(now, m.Src, link, "solicits from it")
	}
	t := m.Target
	if !e.ranges.contains(t) || e.isHeld(now, t) {
		return
	}
	if m.Src.IsUnspecified() {
		// Another host's duplicate address detection: it is about to
		// take the address. Defend the ones we answer for, as the kernel
		// defends its own; leave the others to it.
		if e.isVerified(now, t) {
			e.send(now, nd.Msg{Kind: nd.Advertisement, Dst: nd.AllNodes, Target: t, Override: true}, nil, &e.stats.Defended)
		}
		return
	}
	w := waiter{m.Src, string(link)}
	if e.isVerified(now, t) {
		e.answer(now, t, w)
		return
	}
	e.wait(now, t, w, false)
}

// wait puts t under probe (or joins the probe already running) with w
// waiting for the outcome.
func (e *Engine) wait(now time.Time, t netip.Addr, w waiter, announce bool) bool {
	if p := e.pending[t]; p != nil {
		if w.dst.IsValid() && len(p.waiters) < maxWaiters {
			p.waiters = append(p.waiters, w)
		}
		p.announce = p.announce || announce
		return true
	}
	if len(e.pending) >= e.cfg.MaxPending || !e.bucket.Allow(now) {
		e.stats.Limited++
		return false
	}
	p := &pending{deadline: now.Add(e.cfg.DADWait), announce: announce}
	if w.dst.IsValid() {
		p.waiters = append(p.waiters, w)
	}
	e.pending[t] = p
	e.order = append(e.order, t)
	e.out = append(e.out, Send{Msg: nd.DADProbe(t)})
	e.stats.Probed++
	return true
}

func (e *Engine) answer(now time.Time, t netip.Addr, w waiter) {
	e.send(now, nd.Msg{Kind: nd.Advertisement, Dst: w.dst, Target: t, Solicited: true, Override: true},
		net.HardwareAddr(w.mac), &e.stats.Answered)
}

func (e *Engine) send(now time.Time, m nd.Msg, mac net.HardwareAddr, count *uint64) bool {
	if !e.bucket.Allow(now) {
		e.stats.Limited++
		return false
	}
	m.Src = e.src
	if !m.Src.IsValid() {
		m.Src = m.Target
	}
	e.out = append(e.out, Send{Msg: m, DstMAC: mac})
	*count++
	return true
}

// claim records that the host at mac shows it holds a.
func (e *Engine) claim(now time.Time, a netip.Addr, mac net.HardwareAddr, how string) {
	r, ok := e.ranges.lookup(a)
	if !ok {
		return
	}
	h, was := e.held[a]
	if !was && len(e.held) >= e.cfg.MaxTracked {
		e.sweep(now)
		if len(e.held) >= e.cfg.MaxTracked {
			return
		}
	}
	e.held[a] = held{mac: string(mac), until: now.Add(e.cfg.Hold)}
	delete(e.verified, a)
	delete(e.pending, a) // its solicitors get no answer from us
	if !was || h.mac != string(mac) || !now.Before(h.until) {
		e.stats.Conflicts++
		e.conflicts = append(e.conflicts, Conflict{Addr: a, Range: r, MAC: append(net.HardwareAddr(nil), mac...), How: how})
	}
}

func (e *Engine) isHeld(now time.Time, a netip.Addr) bool {
	h, ok := e.held[a]
	if ok && !now.Before(h.until) {
		delete(e.held, a)
		return false
	}
	return ok
}

func (e *Engine) isVerified(now time.Time, a netip.Addr) bool {
	until, ok := e.verified[a]
	if ok && !now.Before(until) {
		delete(e.verified, a)
		return false
	}
	return ok
}

// sweep forgets what has expired.
func (e *Engine) sweep(now time.Time) {
	for a, u := range e.verified {
		if !now.Before(u) {
			delete(e.verified, a)
		}
	}
	for a, h := range e.held {
		if !now.Before(h.until) {
			delete(e.held, a)
		}
	}
}

// Announce queues addresses to be announced: each is probed first, and
// announced (twice, Repeat apart) only if no other host holds it.
// Addresses outside the ranges, and beyond MaxAnnounce queued, are left
// out; it returns how many were queued.
func (e *Engine) Announce(addrs []netip.Addr) int {
	n := 0
	for _, a := range addrs {
		if len(e.announce) >= e.cfg.MaxAnnounce {
			break
		}
		if !e.ranges.contains(a) || e.queued[a] {
			continue
		}
		e.queued[a] = true
		e.announce = append(e.announce, a)
		n++
	}
	return n
}

// Tick does what is due at now: probes that ran out without a holder
// verify their address (and answer those waiting), queued announcements
// go out as the rate allows, keeping half the burst for answers. It
// returns when it wants to be called next (zero: only on the next
// message).
func (e *Engine) Tick(now time.Time) time.Time {
	for len(e.order) > 0 {
		t := e.order[0]
		p := e.pending[t]
		if p == nil { // claimed meanwhile
			e.order = e.order[1:]
			continue
		}
		if now.Before(p.deadline) {
			break
		}
		e.order = e.order[1:]
		delete(e.pending, t)
		if !e.ranges.contains(t) || e.isHeld(now, t) {
			continue
		}
		if len(e.verified) >= e.cfg.MaxTracked {
			e.sweep(now)
		}
		if len(e.verified) < e.cfg.MaxTracked {
			e.verified[t] = now.Add(e.cfg.Verified)
		}
		for _, w := range p.waiters {
			e.answer(now, t, w)
		}
		if p.announce {
			e.unsolicited(now, t)
			e.repeats = append(e.repeats, repeat{t, now.Add(e.cfg.Repeat)})
		}
	}
	for len(e.repeats) > 0 && !now.Before(e.repeats[0].at) {
		r := e.repeats[0]
		if !e.ranges.contains(r.addr) || e.isHeld(now, r.addr) {
			e.repeats = e.repeats[1:]
			continue
		}
		if !e.unsolicited(now, r.addr) {
			break
		}
		e.repeats = e.repeats[1:]
	}
	for len(e.announce) > 0 && e.bucket.Tokens(now) >= e.cfg.Burst/2 {
		a := e.announce[0]
		e.announce = e.announce[1:]
		delete(e.queued, a)
		if !e.ranges.contains(a) || e.isHeld(now, a) {
			continue
		}
		if e.isVerified(now, a) {
			e.unsolicited(now, a)
			e.repeats = append(e.repeats, repeat{a, now.Add(e.cfg.Repeat)})
			continue
		}
		e.wait(now, a, waiter{}, true)
	}
	var next time.Time
	earliest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, t := range e.order {
		if p := e.pending[t]; p != nil {
			earliest(p.deadline)
			break
		}
	}
	if len(e.repeats) > 0 {
		at := e.repeats[0].at
		if n := e.bucket.Next(now); n.After(at) {
			at = n
		}
		earliest(at)
	}
	if len(e.announce) > 0 {
		// When half the burst is back.
		need := e.cfg.Burst/2 - e.bucket.Tokens(now)
		earliest(now.Add(time.Duration(max(need, 1) / e.cfg.Rate * float64(time.Second))))
	}
	return next
}

// unsolicited sends the advertisement that moves the neighbours' caches:
// to all nodes, override set, not solicited (RFC 4861 7.2.6).
func (e *Engine) unsolicited(now time.Time, a netip.Addr) bool {
	return e.send(now, nd.Msg{Kind: nd.Advertisement, Dst: nd.AllNodes, Target: a, Override: true}, nil, &e.stats.Announced)
}
