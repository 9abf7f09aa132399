package routes

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/anyip/anyip/internal/rtnl"
)

// Sizing of the pipelined exchange with the kernel.
//
// rtnetlink handles every message of a sendmsg in order, synchronously,
// before sendmsg returns, and queues one ack per message on our socket. An
// ack that finds the receive buffer full is dropped (the next recv reports
// ENOBUFS), so a window of messages must be small enough for all its acks to
// fit. The kernel charges each ack its skb's truesize, about 0.7-1 KiB for a
// 36-byte ack; ackCost budgets twice that.
const (
	ackCost       = 2048      // receive-buffer bytes budgeted per ack
	minWindow     = 16        // messages per sendmsg, lower bound
	maxWindow     = 1024      // and upper bound: beyond this the gain is nil
	maxBatchBytes = 128 << 10 // bytes per sendmsg
	maxRouteMsg   = 64        // longest message routeMsg writes (IPv6 adopt or release)
	ackSlot       = 512       // receive slot per ack; error acks carry a short text
	dumpBufBytes  = 64 << 10  // dump replies come in skbs of at most 32 KiB
	recvTimeout   = 30 * time.Second
	nlmsgHdrLen   = 16 // struct nlmsghdr, before every message
)

// ErrClosed is returned by the methods of a closed Table.
var ErrClosed = errors.New("routes: table is closed")

// Table talks to the routing tables of one network namespace through a
// netlink socket of its own. Its methods are safe for concurrent use; they
// run one at a time.
type Table struct {
	mu     sync.Mutex
	c      *netlink.Conn // nil once closed
	raw    syscall.RawConn
	lo     uint32 // ifindex of lo in the socket's namespace
	seq    uint32
	window int // messages per sendmsg
	batch  int // bytes per sendmsg

	overruns int // windows whose acks overflowed the receive buffer (for tests)
	split    int // adoption pairs sent in two windows (for tests: must stay 0)

	wbuf  []byte // a window's messages
	abuf  []byte // acks: window slots of ackSlot bytes
	iovs  []unix.Iovec
	names []unix.RawSockaddrNetlink
	msgs  []unix.Mmsghdr
}

// Open opens the routing tables of the calling thread's network namespace
// (for a normal program, the process's).
func Open() (*Table, error) { return openIn(0) }

// OpenAt opens the routing tables of the network namespace ns. The socket
// stays in ns for its whole life; the caller's thread never changes
// namespace (the socket is made on a thread of its own).
func OpenAt(ns netns.NsHandle) (*Table, error) {
	fd := int(ns)
	switch {
	case fd < 0:
		return nil, fmt.Errorf("routes: network namespace %v is not open", ns)
	case fd == 0:
		// To the library 0 means "the calling thread's namespace",
		// which is not what a descriptor 0 names.
		d, err := unix.FcntlInt(0, unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return nil, fmt.Errorf("routes: network namespace %v: %w", ns, err)
		}
		defer unix.Close(d)
		fd = d
	}
	return openIn(fd)
}

func openIn(ns int) (*Table, error) {
	// The dump replies are read into buffers of dumpBufBytes, which also
	// tells the kernel to fill datagrams of up to 32 KiB.
	c, err := rtnl.Dial(netlink.Config{NetNS: ns, MessageBufferSize: dumpBufBytes})
	if err != nil {
		return nil, fmt.Errorf("routes: open netlink socket: %w", err)
	}
	t, err := newTable(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return t, nil
}

func newTable(c *netlink.Conn) (*Table, error) {
	// Ask for buffers that fit the largest window. The library tries
	// FORCE first, which needs CAP_NET_ADMIN in the initial namespace;
	// without it the kernel caps at rmem_max/wmem_max and the window is
	// smaller. (The kernel doubles the value set, for its overhead, hence
	// the halves.)
	_ = c.SetReadBuffer(maxWindow * ackCost / 2)
	_ = c.SetWriteBuffer(maxBatchBytes)
	rcv, err := c.ReadBuffer()
	if err != nil {
		return nil, fmt.Errorf("routes: netlink socket: get SO_RCVBUF: %w", err)
	}
	snd, err := c.WriteBuffer()
	if err != nil {
		return nil, fmt.Errorf("routes: netlink socket: get SO_SNDBUF: %w", err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("routes: netlink socket: %w", err)
	}

	t := &Table{c: c, raw: raw}
	// The values read back are what the kernel enforces (it doubles what
	// is set, for its own overhead). sendmsg refuses more than sndbuf-32.
	t.setWindow(rcv/ackCost, min(maxBatchBytes, snd-64))

	l, err := rtnl.LinkByName(c, "lo")
	if err != nil {
		return nil, fmt.Errorf("routes: find lo: %w", err)
	}
	t.lo = l.Index
	return t, nil
}

// setWindow sizes the pipeline and its buffers.
func (t *Table) setWindow(window, batch int) {
	t.window = max(minWindow, min(window, maxWindow))
	t.batch = max(batch, minWindow*maxRouteMsg)
	t.wbuf = make([]byte, 0, t.batch)
	t.abuf = make([]byte, t.window*ackSlot)
	t.iovs = make([]unix.Iovec, t.window)
	t.names = make([]unix.RawSockaddrNetlink, t.window)
	t.msgs = make([]unix.Mmsghdr, t.window)
	for i := range t.msgs {
		t.iovs[i].Base = &t.abuf[i*ackSlot]
		t.iovs[i].SetLen(ackSlot)
		t.msgs[i].Hdr.Iov = &t.iovs[i]
		t.msgs[i].Hdr.SetIovlen(1)
		t.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&t.names[i]))
	}
}

// Close releases the netlink socket.
func (t *Table) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c == nil {
		return nil
	}
	err := t.c.Close()
	t.c = nil
	return err
}

// List returns the local routes on lo in table local, IPv4 and IPv6.
func (t *Table) List() (Current, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c == nil {
		return Current{}, ErrClosed
	}
	return t.list()
}

// Apply makes the changes of p: adoptions first, then additions, then
// deletions, so that when ranges change the new ones answer before the old
// ones go. It is best
// effort: a change that fails does not stop the others, and the returned
// error (an *ApplyError) names each failure. Changes that turn out to be done
// already (a route to delete is gone, a route to add is there with our
// protocol) count as done.
func (t *Table) Apply(p Plan) (Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c == nil {
		return Result{}, ErrClosed
	}
	var foreign []Route
	if len(p.Adopt) > 0 {
		// Adoption removes the foreign route by its whole key, which
		// only the table knows. Without it the range is added
		// exclusively: EEXIST while the foreign route is there, and
		// nothing touched.
		if cur, err := t.list(); err == nil {
			foreign = cur.Foreign
		}
	}
	return t.apply(p, foreign)
}

// Reconcile makes table local on lo hold exactly the desired ranges among the
// routes with our protocol, adopting desired ranges that other tools left
// there. It returns the plan it followed and what came of it; the error is
// an *ApplyError when some changes failed, or the failure to list the table.
func (t *Table) Reconcile(desired []netip.Prefix) (Plan, Result, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c == nil {
		return Plan{}, Result{}, ErrClosed
	}
	cur, err := t.list()
	if err != nil {
		return Plan{}, Result{}, err
	}
	plan := Diff(desired, cur)
	if plan.Empty() {
		return plan, Result{}, nil
	}
	res, err := t.apply(plan, cur.Foreign)
	return plan, res, err
}

// Down deletes every route with our protocol in table local on lo, and
// nothing else. It returns the prefixes it deleted.
func (t *Table) Down() ([]netip.Prefix, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.c == nil {
		return nil, ErrClosed
	}
	cur, err := t.list()
	if err != nil {
		return nil, err
	}
	plan := Plan{Delete: slices.Compact(sortPrefixes(cur.Ours))}
	ops := t.execute(plan, nil)
	var deleted []netip.Prefix
	for _, o := range ops {
		if o.state == stDone {
			deleted = append(deleted, o.prefix)
		}
	}
	_, err = result(ops)
	return deleted, err
}

// opKind is the kind of one route change.
type opKind uint8

const (
	opAdd opKind = iota
	opAdopt
	opRelease // the other half of an adoption: delete the foreign route
	opDelete
)

func (k opKind) String() string {
	return [...]string{"add", "adopt", "adopt", "delete"}[k]
}

// opState is where one route change stands.
type opState uint8

const (
	stPending   opState = iota
	stSent              // in the kernel's hands, ack outstanding
	stDone              // done (or found done already)
	stFailed            // failed for good; err says why
	stUncertain         // outcome unknown (ack lost) or ambiguous (EEXIST): list and check
)

type op struct {
	kind   opKind
	state  opState
	prefix netip.Prefix
	metric uint32 // adopt, release: the adopted route's metric
	proto  uint8  // release: the adopted route's protocol
	// paired: an adopt and its release. withNext: the first of the two,
	// which goes into the same sendmsg as the second. The kernel handles
	// a whole sendmsg before the call returns, so no crash of ours can
	// fall between them: the range never ends up with two routes on lo
	// (IPv4, ours added first) or none (IPv6, theirs removed first).
	paired, withNext bool
	err              error
}

func (t *Table) apply(p Plan, foreign []Route) (Result, error) {
	return result(t.execute(p, foreign))
}

// execute turns the plan into route changes and runs them through the
// pipeline.
func (t *Table) execute(p Plan, foreign []Route) []op {
	var adopted map[netip.Prefix]Route
	if len(p.Adopt) > 0 && len(foreign) > 0 {
		adopted = make(map[netip.Prefix]Route, len(p.Adopt))
		for _, r := range foreign {
			if r.Protocol == protoKernel {
				continue
			}
			// With several foreign routes for a prefix, the one the
			// kernel uses (lowest metric) is the one taken over.
			if a, ok := adopted[r.Prefix]; !ok || r.Metric < a.Metric {
				adopted[r.Prefix] = r
			}
		}
	}

	ops := make([]op, 0, 2*len(p.Adopt)+len(p.Add)+len(p.Delete))
	for _, pfx := range p.Adopt {
		r, ok := adopted[pfx]
		if !ok {
			ops = append(ops, op{kind: opAdopt, prefix: pfx})
			continue
		}
		// Ours beside theirs at the same metric, and theirs removed by
		// its whole key: never REPLACE (see routeMsg).
		add := op{kind: opAdopt, prefix: pfx, metric: r.Metric, paired: true}
		rel := op{kind: opRelease, prefix: pfx, metric: r.Metric, proto: r.Protocol, paired: true}
		if pfx.Addr().Is4() {
			add.withNext = true
			ops = append(ops, add, rel)
		} else {
			rel.withNext = true
			ops = append(ops, rel, add)
		}
	}
	for _, pfx := range p.Add {
		ops = append(ops, op{kind: opAdd, prefix: pfx})
	}
	for _, pfx := range p.Delete {
		ops = append(ops, op{kind: opDelete, prefix: pfx})
	}
	for i := range ops {
		if pfx := ops[i].prefix; !pfx.IsValid() || pfx != pfx.Masked() {
			ops[i].state, ops[i].err = stFailed, errInvalidPrefix
		}
	}

	t.pipeline(ops)
	t.verify(ops)
	return ops
}

// pipeline sends the pending ops a window at a time: one sendmsg carries a
// window of messages, then their acks are read, matched to the ops by
// sequence number, and the next window goes out. Compared with one message
// and one ack per round trip (`ip -batch`), this saves most system calls and
// context switches; the kernel's work per route is the same.
func (t *Table) pipeline(ops []op) {
	for start := 0; start < len(ops); {
		buf, sent := t.wbuf[:0], 0
		base := t.seq + 1 // sequence number of ops[start]
		end := start
		for end < len(ops) && end-start < t.window && len(buf)+maxRouteMsg <= t.batch {
			if ops[end].withNext && end > start && (end+1-start >= t.window || len(buf)+2*maxRouteMsg > t.batch) {
				break // a pair goes out whole, in the next window
			}
			if o := &ops[end]; o.state == stPending {
				m, err := routeMsg(o, base+uint32(end-start), t.lo)
				var b []byte
				if err == nil {
					b, err = m.MarshalBinary()
				}
				if err != nil {
					o.state, o.err = stFailed, err
				} else {
					buf = append(buf, b...)
					o.state = stSent
					sent++
				}
			}
			end++
		}
		t.seq = base + uint32(end-start) - 1
		if ops[end-1].withNext {
			t.split++
		}
		if sent > 0 {
			t.exchange(buf, ops[start:end], base, sent)
		}
		start = end
	}
}

// errAckLost stands for the outcome of a change whose ack never came.
var errAckLost = errors.New("no acknowledgement from the kernel")

// exchange sends one window, the messages the library marshalled, in one
// write on the library's socket (its SendMessages marshals every message
// again into a buffer it grows: garbage on the path of every route), and
// collects the window's acks.
func (t *Table) exchange(buf []byte, win []op, base uint32, sent int) {
	// A reply always comes at once (the kernel answers inside our
	// sendmsg); a wait this long means something is broken.
	_ = t.c.SetReadDeadline(time.Now().Add(recvTimeout))
	if err := t.send(buf); err != nil {
		for i := range win {
			if win[i].state == stSent {
				win[i].state, win[i].err = stFailed, fmt.Errorf("netlink send: %w", err)
			}
		}
		return
	}
	waiting := sent
	draining := false // after an overrun: take what is queued, then stop
	var lastErr error = errAckLost
recv:
	for waiting > 0 {
		n, err := t.recvAcks(draining)
		switch {
		case err == nil:
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS):
			// Some acks did not fit and were dropped. The kernel
			// has handled the whole window already, so whatever was
			// queued is all there is.
			if !draining {
				t.overruns++
			}
			draining = true
			lastErr = fmt.Errorf("%w (receive buffer overrun)", errAckLost)
			continue
		case draining && errors.Is(err, unix.EAGAIN):
			break recv
		default:
			lastErr = fmt.Errorf("%w: %w", errAckLost, err)
			break recv
		}
		for k := 0; k < n; k++ {
			if t.names[k].Pid != 0 { // not from the kernel
				continue
			}
			l := min(int(t.msgs[k].Len), ackSlot)
			waiting -= settleAck(t.abuf[k*ackSlot:k*ackSlot+l], win, base)
		}
	}
	if waiting > 0 {
		for i := range win {
			if win[i].state == stSent {
				win[i].state, win[i].err = stUncertain, lastErr
			}
		}
	}
}

// send writes a window to the kernel: the kernel handles every message of
// it before the call returns.
func (t *Table) send(buf []byte) error {
	var werr error
	err := t.raw.Write(func(fd uintptr) bool {
		for {
			if _, werr = unix.Write(int(fd), buf); werr != unix.EINTR {
				return werr != unix.EAGAIN // else: wait until writable
			}
		}
	})
	return cmp.Or(err, werr)
}

// recvAcks receives up to a window of datagrams in one system call
// (recvmmsg, which the netlink library has no call for), on the library's
// socket: the runtime's poller waits for the first, and the read deadline
// holds.
func (t *Table) recvAcks(nonblock bool) (int, error) {
	flags := unix.MSG_WAITFORONE // wait for the first only
	if nonblock {
		flags = unix.MSG_DONTWAIT
	}
	for i := range t.msgs {
		t.msgs[i].Hdr.Namelen = unix.SizeofSockaddrNetlink
	}
	var n uintptr
	var errno syscall.Errno
	err := t.raw.Read(func(fd uintptr) bool {
		n, _, errno = unix.Syscall6(unix.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&t.msgs[0])), uintptr(len(t.msgs)), uintptr(flags), 0, 0)
		return nonblock || errno != unix.EAGAIN // else: wait until readable
	})
	switch {
	case err != nil: // closed, or the deadline passed
		return 0, err
	case errno != 0:
		return 0, errno
	}
	return int(n), nil
}

// settleAck applies the ack in one datagram to the op of the window it
// answers, and returns how many ops it settled (0 or 1). The kernel puts
// each ack in a datagram of its own. An ack of another sequence number (a
// late ack of an earlier, abandoned window) is ignored, and so is one the
// library cannot parse: its op stays uncertain, and the table tells.
func settleAck(b []byte, win []op, base uint32) int {
	var m netlink.Message
	// Datagrams end aligned; the slot is, too.
	if err := m.UnmarshalBinary(b[:min((len(b)+3)&^3, cap(b))]); err != nil || m.Header.Type != netlink.Error {
		return 0
	}
	if i := m.Header.Sequence - base; i < uint32(len(win)) && win[i].state == stSent {
		win[i].settle(rtnl.AckError(m))
		return 1
	}
	return 0
}

// settle records the kernel's answer to one change.
func (o *op) settle(err error) {
	if err == nil {
		o.state = stDone
		return
	}
	var errno syscall.Errno
	errors.As(err, &errno)
	switch {
	case errno == unix.ESRCH && (o.kind == opDelete || o.kind == opRelease):
		// Gone already: someone else deleted it, or a crash hit
		// between our delete and its ack last time.
		o.state = stDone
	case errno == unix.EEXIST && (o.kind == opAdd || o.kind == opAdopt):
		// Done already if the route there is ours (another run got
		// here first); a route of someone else's on another device
		// is a real conflict. verify tells them apart.
		o.state, o.err = stUncertain, err
	default:
		o.state, o.err = stFailed, err
	}
}

// verify settles the uncertain ops by looking at the table.
func (t *Table) verify(ops []op) {
	n := 0
	for i := range ops {
		if ops[i].state == stUncertain {
			n++
		}
	}
	if n == 0 {
		return
	}
	cur, err := t.list()
	ours := make(map[netip.Prefix]bool, len(cur.Ours))
	for _, p := range cur.Ours {
		ours[p] = true
	}
	theirs := make(map[Route]bool, len(cur.Foreign))
	for _, r := range cur.Foreign {
		theirs[r] = true
	}
	for i := range ops {
		o := &ops[i]
		if o.state != stUncertain {
			continue
		}
		switch {
		case err != nil:
			o.state, o.err = stFailed, fmt.Errorf("%w (could not check the table: %v)", o.err, err)
		case o.kind == opRelease:
			if theirs[Route{Prefix: o.prefix, Protocol: o.proto, Metric: o.metric}] {
				o.state = stFailed
			} else {
				o.state, o.err = stDone, nil
			}
		case ours[o.prefix] == (o.kind != opDelete):
			o.state, o.err = stDone, nil
		default:
			o.state = stFailed
		}
	}
}

// result counts what the ops did and gathers their failures.
func result(ops []op) (Result, error) {
	var r Result
	total := 0
	for i, o := range ops {
		if o.kind == opRelease {
			continue // counted with its adopt
		}
		total++
		if o.paired {
			// The adoption is done when both halves are.
			j := i - 1
			if o.withNext {
				j = i + 1
			}
			rel := &ops[j]
			if o.state == stDone && rel.state != stDone {
				o.state, o.err = rel.state, fmt.Errorf("remove the old route (%s): %w", Route{Prefix: rel.prefix, Protocol: rel.proto, Metric: rel.metric}, rel.err)
			}
		}
		switch {
		case o.state != stDone:
			r.Failures = append(r.Failures, Failure{Op: o.kind.String(), Prefix: o.prefix, Err: o.err})
		case o.kind == opAdd:
			r.Added++
		case o.kind == opAdopt:
			r.Adopted++
		case o.kind == opDelete:
			r.Deleted++
		}
	}
	if len(r.Failures) > 0 {
		return r, &ApplyError{Failures: r.Failures, Total: total}
	}
	return r, nil
}

// list dumps table local, IPv4 then IPv6, and keeps the local routes on lo.
// One dump per family rather than one AF_UNSPEC dump: with AF_UNSPEC the
// kernel walks every family that has routes (IPv4/IPv6 multicast, MPLS), and
// MPLS rejects the table and type filters of a strict request, which would
// fail the whole dump on a host that has it loaded.
func (t *Table) list() (Current, error) {
	var cur Current
	for attempt := 1; ; attempt++ {
		cur.Ours, cur.Foreign = cur.Ours[:0], cur.Foreign[:0]
		interrupted := false
		for _, family := range [...]uint8{unix.AF_INET, unix.AF_INET6} {
			intr, err := t.dump(family, &cur)
			if err != nil {
				if family == unix.AF_INET6 && errors.Is(err, unix.EAFNOSUPPORT) {
					continue // IPv6 disabled on this host
				}
				if errors.Is(err, unix.ENOENT) {
					// With strict checking the kernel answers a table
					// filter with "FIB table does not exist" until the
					// table has a first route (lo still down in a new
					// namespace): it is empty.
					continue
				}
				return Current{}, fmt.Errorf("routes: list %s table local: %w", familyName(family), err)
			}
			interrupted = interrupted || intr
		}
		if !interrupted {
			return cur, nil
		}
		// The table changed during the dump, so the dump may have
		// missed or doubled routes. Take it again.
		if attempt == 3 {
			return Current{}, errors.New("routes: list table local: dump interrupted by concurrent route changes 3 times; try again")
		}
	}
}

func familyName(f uint8) string {
	if f == unix.AF_INET6 {
		return "IPv6"
	}
	return "IPv4"
}

// dump asks for the local routes on lo in table local of one family and
// decodes the answer into cur. It reports whether the kernel flagged the
// dump as interrupted.
func (t *Table) dump(family uint8, cur *Current) (interrupted bool, err error) {
	// Filters for a kernel with strict checking; older kernels dump all
	// tables and decodeRoute filters.
	req := rtnl.Route{Family: family, Table: unix.RT_TABLE_LOCAL, Type: unix.RTN_LOCAL, OIF: t.lo}
	data, err := req.MarshalBinary()
	if err != nil {
		return false, err
	}
	err = t.request(unix.RTM_GETROUTE, netlink.Dump, data, func(m netlink.Message) {
		// The library keeps the closing NLMSG_DONE to itself. The flag
		// on it alone would mean the table changed after the last route
		// was read: the routes read are then one consistent picture.
		if m.Header.Flags&netlink.DumpInterrupted != 0 {
			interrupted = true
		}
		if m.Header.Type == unix.RTM_NEWROUTE {
			t.decodeRoute(m.Data, family, cur)
		}
	})
	return interrupted, err
}

// decodeRoute adds one route message to cur if it is a local route on lo in
// table local.
func (t *Table) decodeRoute(b []byte, family uint8, cur *Current) {
	var r rtnl.Route
	if r.UnmarshalBinary(b) != nil {
		return // malformed
	}
	// Routes with a source prefix or a TOS are other routes than the one
	// a prefix names; we neither make nor take over such routes.
	if r.Family != family || r.Type != unix.RTN_LOCAL || r.SrcLen != 0 || r.Tos != 0 {
		return
	}
	if r.Table != unix.RT_TABLE_LOCAL || r.OIF != t.lo {
		return
	}
	addr := r.Dst
	if !addr.IsValid() { // the default route has no RTA_DST
		if r.DstLen != 0 {
			return
		}
		addr = netip.IPv4Unspecified()
		if family == unix.AF_INET6 {
			addr = netip.IPv6Unspecified()
		}
	}
	p, err := addr.Prefix(int(r.DstLen)) // masks, and rejects impossible lengths
	if err != nil {
		return
	}
	if r.Protocol == Protocol {
		cur.Ours = append(cur.Ours, p)
	} else {
		cur.Foreign = append(cur.Foreign, Route{Prefix: p, Protocol: r.Protocol, Metric: r.Priority})
	}
}

func (t *Table) nextSeq() uint32 {
	t.seq++
	return t.seq
}

// request sends one request and passes each reply message of its sequence
// number to fn: a whole dump, or the first reply otherwise; the library
// reads a dump to its end, so the socket is ready for the next request.
// Replies of other sequence numbers (late acks of an abandoned window)
// are skipped. The error is the kernel's (an errno, or an *rtnl.Error), or
// the socket's.
func (t *Table) request(typ uint16, flags netlink.HeaderFlags, data []byte, fn func(netlink.Message)) error {
	seq := t.nextSeq()
	_ = t.c.SetReadDeadline(time.Now().Add(recvTimeout))
	req := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request | flags, Sequence: seq}, Data: data}
	if _, err := t.c.Send(req); err != nil {
		return err
	}
	for {
		msgs, err := t.c.Receive()
		var oe *netlink.OpError
		switch {
		case err == nil:
		case errors.As(err, &oe) && oe.Sequence == seq:
			return rtnl.KernelError(err)
		case oe != nil && oe.Sequence != 0:
			continue // the error ack of an abandoned window
		case errors.Is(err, unix.ENOBUFS):
			// An overrun left over from an earlier window, reported
			// once; our reply is still coming.
			continue
		default:
			return err
		}
		mine := flags&netlink.Dump != 0 && len(msgs) == 0 // a dump of nothing: only its NLMSG_DONE came
		for _, m := range msgs {
			if m.Header.Sequence != seq {
				continue
			}
			mine = true
			if m.Header.Type != netlink.Error { // a plain ack carries nothing
				fn(m)
			}
		}
		if mine {
			return nil
		}
	}
}

// routeMsg is the RTM_NEWROUTE or RTM_DELROUTE message for one change,
// with sequence number seq. The route is the one `ip route {add,del}
// local PREFIX dev lo table local proto anyip` means; every message names
// the protocol of the route it means, so a delete can only ever hit a
// route of ours, or (opRelease) the one foreign route named by its whole
// key.
func routeMsg(o *op, seq uint32, lo uint32) (netlink.Message, error) {
	r := rtnl.Route{
		Family: unix.AF_INET6, DstLen: uint8(o.prefix.Bits()),
		Table: unix.RT_TABLE_LOCAL, Protocol: Protocol, Scope: unix.RT_SCOPE_HOST, Type: unix.RTN_LOCAL,
		Dst: o.prefix.Addr(), OIF: lo,
	}
	if r.Dst.Is4() {
		r.Family = unix.AF_INET
	}
	typ, flags := uint16(unix.RTM_NEWROUTE), netlink.Request|netlink.Acknowledge
	switch o.kind {
	case opAdd:
		// EXCL: an existing route is reported (EEXIST), not touched.
		flags |= netlink.Create | netlink.Excl
	case opAdopt:
		// Never REPLACE: the kernel replaces the first route with the
		// prefix and metric, whatever its device, type or protocol.
		// CREATE alone adds ours beside the others and touches none
		// (IPv4: EEXIST only for this very route; IPv6: EEXIST for any
		// route on lo with that metric, hence the release goes first
		// there). EXCL would refuse when a route on another device has
		// the metric. Alone, without a release (the foreign route is
		// not known), it is a plain exclusive add.
		flags |= netlink.Create
		if !o.paired {
			flags |= netlink.Excl
		}
		r.Priority = o.metric
	case opRelease:
		// The adopted route by its whole key: table, type, device,
		// protocol and metric. Nothing else can match.
		typ, r.Scope, r.Protocol, r.Priority = unix.RTM_DELROUTE, unix.RT_SCOPE_NOWHERE, o.proto, o.metric
	case opDelete:
		// NOWHERE matches a route of any scope (as `ip route del` does).
		typ, r.Scope = unix.RTM_DELROUTE, unix.RT_SCOPE_NOWHERE
	}
	data, err := r.MarshalBinary()
	if err != nil {
		return netlink.Message{}, err
	}
	return netlink.Message{
		Header: netlink.Header{Length: uint32(nlmsgHdrLen + len(data)), Type: netlink.HeaderType(typ), Flags: flags, Sequence: seq},
		Data:   data,
	}, nil
}
