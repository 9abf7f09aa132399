package routes

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
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
	maxRouteMsg   = 64        // longest message appendRouteMsg writes (IPv6 adopt or release)
	ackSlot       = 512       // receive slot per ack; error acks carry a short text
	dumpBufBytes  = 64 << 10  // dump replies come in skbs of at most 32 KiB
	recvTimeout   = 30 * time.Second
	nlaTypeMask   = 0x3fff // strips NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// ErrClosed is returned by the methods of a closed Table.
var ErrClosed = errors.New("routes: table is closed")

// Table talks to the routing tables of one network namespace through a
// netlink socket of its own. Its methods are safe for concurrent use; they
// run one at a time.
type Table struct {
	mu     sync.Mutex
	fd     int    // -1 once closed
	lo     uint32 // ifindex of lo in the socket's namespace
	seq    uint32
	window int // messages per sendmsg
	batch  int // bytes per sendmsg

	overruns int // windows whose acks overflowed the receive buffer (for tests)
	split    int // adoption pairs sent in two windows (for tests: must stay 0)

	sbuf  []byte // outgoing messages
	dbuf  []byte // dump replies
	abuf  []byte // acks: window slots of ackSlot bytes
	iovs  []unix.Iovec
	names []unix.RawSockaddrNetlink
	msgs  []unix.Mmsghdr
}

// Open opens the routing tables of the calling thread's network namespace
// (for a normal program, the process's).
func Open() (*Table, error) {
	fd, err := openSocket()
	if err != nil {
		return nil, err
	}
	return newTable(fd)
}

// OpenAt opens the routing tables of the network namespace ns. The socket
// stays in ns for its whole life; the caller's thread never changes
// namespace.
func OpenAt(ns netns.NsHandle) (*Table, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// A socket belongs to the namespace its creator was in. Create it
		// on a thread of its own that is never unlocked: when this
		// goroutine ends the runtime retires the thread, so no other
		// goroutine ever runs in ns by accident.
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			ch <- result{-1, fmt.Errorf("routes: enter network namespace %v: %w", ns, err)}
			return
		}
		fd, err := openSocket()
		ch <- result{fd, err}
	}()
	r := <-ch
	if r.err != nil {
		return nil, r.err
	}
	return newTable(r.fd)
}

func openSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return -1, fmt.Errorf("routes: open netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("routes: bind netlink socket: %w", err)
	}
	return fd, nil
}

func newTable(fd int) (*Table, error) {
	// Best effort, each of them; older kernels lack some.
	// EXT_ACK: error acks carry the kernel's explanation.
	// CAP_ACK: error acks do not echo our request back (smaller acks).
	// GET_STRICT_CHK: dumps honour the table/type/device filters of the
	// request, so the kernel sends only table local on lo.
	for _, opt := range []int{unix.NETLINK_EXT_ACK, unix.NETLINK_CAP_ACK, unix.NETLINK_GET_STRICT_CHK} {
		_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, opt, 1)
	}
	// A reply always comes at once (the kernel answers inside our
	// sendmsg); a wait this long means something is broken.
	tv := unix.NsecToTimeval(recvTimeout.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	// Ask for buffers that fit the largest window. FORCE needs
	// CAP_NET_ADMIN in the initial namespace; without it the kernel caps
	// at rmem_max/wmem_max and the window is smaller. (The kernel doubles
	// the value set, for its overhead, hence the halves.)
	setBuf(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, maxWindow*ackCost/2)
	setBuf(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, maxBatchBytes)
	rcv, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("routes: netlink socket: get SO_RCVBUF: %w", err)
	}
	snd, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("routes: netlink socket: get SO_SNDBUF: %w", err)
	}

	t := &Table{fd: fd, dbuf: make([]byte, dumpBufBytes)}
	// The values read back are what the kernel enforces (it doubles what
	// is set, for its own overhead). sendmsg refuses more than sndbuf-32.
	t.setWindow(rcv/ackCost, min(maxBatchBytes, snd-64))

	lo, err := t.linkIndex("lo")
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("routes: find lo: %w", err)
	}
	t.lo = lo
	return t, nil
}

func setBuf(fd, force, plain, size int) {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, size) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, size)
	}
}

// setWindow sizes the pipeline and its buffers.
func (t *Table) setWindow(window, batch int) {
	t.window = max(minWindow, min(window, maxWindow))
	t.batch = max(batch, minWindow*maxRouteMsg)
	t.sbuf = make([]byte, 0, t.batch)
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
	if t.fd < 0 {
		return nil
	}
	err := unix.Close(t.fd)
	t.fd = -1
	return err
}

// List returns the local routes on lo in table local, IPv4 and IPv6.
func (t *Table) List() (Current, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd < 0 {
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
	if t.fd < 0 {
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
	if t.fd < 0 {
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
	if t.fd < 0 {
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
		// its whole key: never REPLACE (see appendRouteMsg).
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
		buf := t.sbuf[:0]
		base := t.seq + 1 // sequence number of ops[start]
		end, sent := start, 0
		for end < len(ops) && end-start < t.window && len(buf)+maxRouteMsg <= t.batch {
			if ops[end].withNext && end > start && (end+1-start >= t.window || len(buf)+2*maxRouteMsg > t.batch) {
				break // a pair goes out whole, in the next window
			}
			if o := &ops[end]; o.state == stPending {
				buf = appendRouteMsg(buf, o, base+uint32(end-start), t.lo)
				o.state = stSent
				sent++
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

// exchange sends one window and collects its acks.
func (t *Table) exchange(buf []byte, win []op, base uint32, sent int) {
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
			waiting -= settleAcks(t.abuf[k*ackSlot:k*ackSlot+l], win, base)
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

func (t *Table) send(buf []byte) error {
	for {
		_, err := unix.Write(t.fd, buf)
		if err != unix.EINTR {
			return err
		}
	}
}

// recvAcks receives up to a window of datagrams in one system call.
func (t *Table) recvAcks(nonblock bool) (int, error) {
	flags := unix.MSG_WAITFORONE // block for the first only
	if nonblock {
		flags = unix.MSG_DONTWAIT
	}
	for i := range t.msgs {
		t.msgs[i].Hdr.Namelen = unix.SizeofSockaddrNetlink
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(t.fd),
		uintptr(unsafe.Pointer(&t.msgs[0])), uintptr(len(t.msgs)), uintptr(flags), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// settleAcks applies the acks in one datagram to the ops of the window and
// returns how many ops it settled. Messages of other sequence numbers (late
// acks of an earlier, abandoned window) are ignored.
func settleAcks(b []byte, win []op, base uint32) int {
	settled := 0
	for len(b) >= unix.NLMSG_HDRLEN {
		h := parseHdr(b)
		l := min(int(h.Len), len(b)) // a truncated ack still has its errno
		if l < unix.NLMSG_HDRLEN {
			break
		}
		if h.Type == unix.NLMSG_ERROR && l >= unix.NLMSG_HDRLEN+4 {
			if i := h.Seq - base; i < uint32(len(win)) && win[i].state == stSent {
				win[i].settle(ackError(b[:l], h.Flags))
				settled++
			}
		}
		b = b[min(nlmAlign(l), len(b)):]
	}
	return settled
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
	seq := t.nextSeq()
	req := t.sbuf[:0]
	req = appendHdr(req, unix.NLMSG_HDRLEN+unix.SizeofRtMsg+8, unix.RTM_GETROUTE, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, seq)
	// Filters for a kernel with strict checking; older kernels dump all
	// tables and decodeRoute filters.
	req = append(req, family, 0, 0, 0, unix.RT_TABLE_LOCAL, 0, 0, unix.RTN_LOCAL, 0, 0, 0, 0)
	req = appendAttrU32(req, unix.RTA_OIF, t.lo)
	err = t.request(req, seq, true, func(h hdr, payload []byte) {
		if h.Flags&unix.NLM_F_DUMP_INTR != 0 {
			interrupted = true
		}
		if h.Type == unix.RTM_NEWROUTE {
			t.decodeRoute(payload, family, cur)
		}
	})
	return interrupted, err
}

// decodeRoute adds one route message to cur if it is a local route on lo in
// table local. It reads only the fields it needs, in place.
func (t *Table) decodeRoute(b []byte, family uint8, cur *Current) {
	if len(b) < unix.SizeofRtMsg {
		return
	}
	fam, dstLen, srcLen, tos, table, proto, typ := b[0], int(b[1]), b[2], b[3], uint32(b[4]), b[5], b[7]
	// Routes with a source prefix or a TOS are other routes than the one
	// a prefix names; we neither make nor take over such routes.
	if fam != family || typ != unix.RTN_LOCAL || srcLen != 0 || tos != 0 {
		return
	}
	var dst []byte
	var oif, metric uint32
	for a := b[unix.SizeofRtMsg:]; len(a) >= 4; {
		l := int(ne.Uint16(a))
		if l < 4 || l > len(a) {
			return // malformed
		}
		v := a[4:l]
		switch ne.Uint16(a[2:]) & nlaTypeMask {
		case unix.RTA_TABLE:
			if len(v) == 4 {
				table = ne.Uint32(v)
			}
		case unix.RTA_DST:
			dst = v
		case unix.RTA_OIF:
			if len(v) == 4 {
				oif = ne.Uint32(v)
			}
		case unix.RTA_PRIORITY:
			if len(v) == 4 {
				metric = ne.Uint32(v)
			}
		}
		a = a[min(rtaAlign(l), len(a)):]
	}
	if table != unix.RT_TABLE_LOCAL || oif != t.lo {
		return
	}
	var addr netip.Addr
	switch {
	case fam == unix.AF_INET && len(dst) == 4:
		addr = netip.AddrFrom4([4]byte(dst))
	case fam == unix.AF_INET6 && len(dst) == 16:
		addr = netip.AddrFrom16([16]byte(dst))
	case dst == nil && dstLen == 0: // default route: no RTA_DST
		addr = netip.IPv4Unspecified()
		if fam == unix.AF_INET6 {
			addr = netip.IPv6Unspecified()
		}
	default:
		return
	}
	p, err := addr.Prefix(dstLen) // masks, and rejects impossible lengths
	if err != nil {
		return
	}
	if proto == Protocol {
		cur.Ours = append(cur.Ours, p)
	} else {
		cur.Foreign = append(cur.Foreign, Route{Prefix: p, Protocol: proto, Metric: metric})
	}
}

// linkIndex asks the kernel for the index of a device by name.
func (t *Table) linkIndex(name string) (uint32, error) {
	seq := t.nextSeq()
	req := t.sbuf[:0]
	req = appendHdr(req, unix.NLMSG_HDRLEN+unix.SizeofIfInfomsg+rtaAlign(4+len(name)+1), unix.RTM_GETLINK, unix.NLM_F_REQUEST, seq)
	req = append(req, make([]byte, unix.SizeofIfInfomsg)...)
	req = appendAttr(req, unix.IFLA_IFNAME, append([]byte(name), 0))
	var index uint32
	err := t.request(req, seq, false, func(h hdr, payload []byte) {
		if h.Type == unix.RTM_NEWLINK && len(payload) >= unix.SizeofIfInfomsg {
			index = ne.Uint32(payload[4:8])
		}
	})
	if err == nil && index == 0 {
		err = fmt.Errorf("no index for %s in the kernel's answer", name)
	}
	return index, err
}

func (t *Table) nextSeq() uint32 {
	t.seq++
	return t.seq
}

// request sends one request and passes each reply message with its
// sequence number to fn: until NLMSG_DONE for a dump, or the first reply
// otherwise. Messages with other sequence numbers (late acks) are skipped.
// A dump is always read to its end, so that the socket is ready for the next
// request.
func (t *Table) request(req []byte, seq uint32, dump bool, fn func(h hdr, payload []byte)) error {
	if err := t.send(req); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	for {
		n, from, err := unix.Recvfrom(t.fd, t.dbuf, unix.MSG_TRUNC)
		switch {
		case err == unix.EINTR || err == unix.ENOBUFS:
			// ENOBUFS: an overrun left over from an earlier
			// window, reported once; our reply is still coming.
			continue
		case err != nil:
			return fmt.Errorf("netlink receive: %w", err)
		case n > len(t.dbuf):
			return fmt.Errorf("netlink receive: reply of %d bytes truncated to %d", n, len(t.dbuf))
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // not from the kernel
		}
		for b := t.dbuf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			h := parseHdr(b)
			l := int(h.Len)
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return fmt.Errorf("netlink receive: malformed message (length %d of %d)", l, len(b))
			}
			if h.Seq == seq {
				switch h.Type {
				case unix.NLMSG_DONE:
					// The dump's own status; negative if the
					// kernel gave up halfway.
					if l >= unix.NLMSG_HDRLEN+4 && int32(ne.Uint32(b[unix.NLMSG_HDRLEN:])) < 0 {
						return ackError(b[:l], h.Flags)
					}
					fn(h, nil) // it too may carry NLM_F_DUMP_INTR
					return nil
				case unix.NLMSG_ERROR:
					if l < unix.NLMSG_HDRLEN+4 {
						return errors.New("netlink receive: short error message")
					}
					if err := ackError(b[:l], h.Flags); err != nil || !dump {
						return err
					}
				default:
					fn(h, b[unix.NLMSG_HDRLEN:l])
					if !dump {
						return nil
					}
				}
			}
			b = b[min(nlmAlign(l), len(b)):]
		}
	}
}
