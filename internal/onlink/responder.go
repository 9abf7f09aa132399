package onlink

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/anyip/anyip/internal/nd"
)

// Read-side bounds: under a flood, solicitations beyond readRate a second
// are left to the kernel, which drops them when the socket's queue is
// full; that bounds the CPU the responder takes, whatever the link
// carries. tick bounds how late a change of ranges takes effect.
const (
	readRate  = 20000.0
	readBurst = 2000.0
	tick      = 50 * time.Millisecond
)

// responder runs one NIC's Engine over its socket.
type responder struct {
	iface string
	mac   net.HardwareAddr
	conn  nd.Conn
	log   *slog.Logger
	now   func() time.Time

	mu       sync.Mutex
	ranges   []netip.Prefix // the latest wanted, taken by the loop
	announce []netip.Addr
	changed  bool
	stats    Stats

	done chan struct{}
}

func newResponder(iface string, mac net.HardwareAddr, conn nd.Conn, log *slog.Logger) *responder {
	return &responder{iface: iface, mac: mac, conn: conn, log: log, now: time.Now, done: make(chan struct{})}
}

// set hands the loop new ranges and addresses to announce. It never
// blocks: the loop takes them within a tick.
func (r *responder) set(ranges []netip.Prefix, announce []netip.Addr) {
	r.mu.Lock()
	r.ranges = ranges
	r.announce = append(r.announce, announce...)
	r.changed = true
	r.mu.Unlock()
}

// exited reports whether the loop has ended (its socket failed).
func (r *responder) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Stats are the engine's counters as of the last tick.
func (r *responder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// run reads and answers until ctx ends or the socket fails.
func (r *responder) run(ctx context.Context, e *Engine) {
	defer close(r.done)
	reads := Bucket{Rate: readRate, Burst: readBurst}
	buf := make([]byte, 1500)
	var next time.Time
	for ctx.Err() == nil {
		now := r.now()
		r.mu.Lock()
		if r.changed {
			e.SetRanges(r.ranges)
			e.Announce(r.announce)
			r.announce, r.changed = nil, false
		}
		r.stats = e.Stats()
		r.mu.Unlock()
		// What arrived while the loop was busy is handled before the
		// clock runs out on a probe it may answer: a holder's reply in
		// the socket's queue must not be taken for silence.
		if !r.drain(e, buf, &reads, now) {
			return
		}
		next = e.Tick(r.now())
		r.flush(e)

		dl := now.Add(tick)
		if !next.IsZero() && next.Before(dl) {
			dl = next
		}
		if !reads.Allow(now) {
			// Over the read budget: let the queue overflow in the
			// kernel rather than spend CPU on it, and come back when a
			// tenth of the burst is saved up (not for every token:
			// waking is what costs).
			time.Sleep(time.Duration(readBurst / 10 / readRate * float64(time.Second)))
			continue
		}
		r.conn.SetReadDeadline(dl)
		n, from, err := r.conn.ReadFrom(buf)
		if err != nil {
			if nd.IsTimeout(err) {
				continue
			}
			if ctx.Err() == nil {
				r.log.Error("neighbour responder stopped", "iface", r.iface, "err", err)
			}
			return
		}
		m, err := nd.ParseNDP(buf[:n])
		if err != nil {
			continue
		}
		e.Handle(r.now(), m, from)
		r.flush(e)
	}
}

// drainWait is how long drain waits for a packet already queued: enough
// for the poller to hand it over, short enough not to delay the loop.
const drainWait = time.Millisecond

// drain handles the packets queued on the socket, within the read budget,
// and reports false when the socket failed.
func (r *responder) drain(e *Engine, buf []byte, reads *Bucket, now time.Time) bool {
	for i := 0; i < 64 && e.Pending() && reads.Allow(now); i++ {
		r.conn.SetReadDeadline(time.Now().Add(drainWait))
		n, from, err := r.conn.ReadFrom(buf)
		if err != nil {
			return nd.IsTimeout(err)
		}
		if m, err := nd.ParseNDP(buf[:n]); err == nil {
			e.Handle(r.now(), m, from)
		}
	}
	return true
}

func (r *responder) flush(e *Engine) {
	out, conflicts := e.Drain()
	for _, c := range conflicts {
		r.log.Warn("another host holds an address of a range; not answering for it", "iface", r.iface,
			"addr", c.Addr, "range", c.Range, "mac", c.MAC.String(), "how", c.How)
	}
	for _, s := range out {
		b, mac, err := s.Msg.Marshal(r.mac, s.DstMAC)
		if err != nil {
			continue
		}
		if err := r.conn.WriteTo(b, mac); err != nil {
			r.log.Debug("cannot send", "iface", r.iface, "err", err)
		}
	}
}
