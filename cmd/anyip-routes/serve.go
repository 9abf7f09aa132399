package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/anyip/anyip/internal/cli"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/onlink"
	"github.com/anyip/anyip/internal/render"
	"github.com/anyip/anyip/internal/routes"
	"github.com/anyip/anyip/internal/runlock"
	"github.com/anyip/anyip/internal/sdnotify"
	"github.com/anyip/anyip/internal/validate"
	"github.com/anyip/anyip/internal/watch"
)

// Timing of the service loop.
const (
	// quiet is how long a burst of file or route events must be silent
	// before acting on it; maxDelay bounds the wait under a steady stream.
	quiet    = 150 * time.Millisecond
	maxDelay = time.Second
	// retryAfter is when a reconcile that failed (netlink) is tried again.
	retryAfter = 5 * time.Second
	// Drift that keeps coming back (another program fighting over a
	// route) is put back at growing intervals, up to maxDriftGap.
	driftGap    = 250 * time.Millisecond
	maxDriftGap = 30 * time.Second
	// maxLoggedFindings bounds the lines one rejected file gets in the log.
	maxLoggedFindings = 20
	// A route failure that lasts is logged when it starts, then reminded
	// after remindFirst, doubling up to remindMax, and when it clears.
	remindFirst = time.Minute
	remindMax   = time.Hour
	// lockWait bounds the wait for another run (first boot, up) to finish
	// with the file and the table; the watchdog must still be pinged.
	lockWait = 10 * time.Second
	// maxStatusRanges bounds the ranges STATUS names one by one.
	maxStatusRanges = 3
)

// need says what a pending action must do.
type need uint8

const (
	needReconcile need = 1 << iota // put the table back in line with the file last applied
	needReload                     // re-read and check the file, then reconcile
)

// service is the state of `anyip-routes watch`.
type service struct {
	o     options
	log   *slog.Logger
	table *routes.Table // nil after a failure, reopened on next use

	// desired are the ranges of the last good version of the file;
	// applied says there was one. Until then the service changes no
	// route: it cannot know what the operator wants.
	desired []netip.Prefix
	applied bool

	fileErr  string // why the file on disk is not what is applied ("" if it is)
	routeErr string // why the table is not in line ("" if it is)
	routeLog reminder

	// What the table held after the last reconcile, as STATUS tells it.
	tableKnown bool // it could be read (false until then, or when it cannot)
	inPlace    int  // desired ranges routed on lo: ours, adopted or the kernel's
	// The desired ranges the table lacks, and the routes of ours that could
	// not be removed: counted, and the first few kept as "PREFIX: why".
	missing, stuck   []string
	nMissing, nStuck int

	// seen identifies the version of the file last read, so that a
	// reconcile finds out about an edit whose event has not come yet.
	seen fileID

	lastRejected string // findings of the last rejected file, logged once
	lastWarned   string // warnings of the applied file, logged once

	keptGood []byte // the last good version as saved in the state directory

	sched schedule

	// onlink answers neighbour solicitations for the on-link IPv6 ranges
	// and announces the ranges (nil with --on-link=false); facts are what
	// the applied file was checked against, which place the ranges on NICs.
	onlink  *onlink.Manager
	facts   validate.Facts
	bindErr string
}

// serve runs the service until ctx ends (SIGTERM). It returns ExitOK then,
// leaving the routes in place, and ExitSystem when it cannot start.
func serve(ctx context.Context, o options, stderr io.Writer) int {
	log := cli.Logger(stderr, name)
	s := &service{o: o, log: log, routeLog: reminder{first: remindFirst, max: remindMax}, sched: newSchedule()}
	in, err := s.open()
	if err != nil {
		log.Error("cannot start", "err", err)
		return cli.ExitSystem
	}
	defer in.close(s)
	notifier, events, fw, hup, wdInterval := in.notifier, in.events, in.fw, in.hup, in.wdInterval

	if o.onLink {
		s.onlink = onlink.NewManager(log)
		defer s.onlink.Close()
	}
	s.act(needReload, "start")
	// Ready even if the file was rejected: the routes are as they were,
	// the error is in STATUS and the log, and the service is watching
	// for the fix. Failing the unit would not bring a single VIP back,
	// and would hold up whatever is ordered after it (HAProxy).
	status := s.status()
	if err := notifier.Notify(sdnotify.Ready, sdnotify.Status(status)); err != nil {
		log.Warn("cannot notify systemd", "err", err)
	}
	log.Info("watching", "config", o.config, "ranges", len(s.desired), "resync", o.resync, "watchdog", wdInterval)

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	resync := time.NewTicker(o.resync)
	defer resync.Stop()
	var wdC <-chan time.Time
	if wdInterval > 0 && notifier != nil {
		t := time.NewTicker(wdInterval / 2)
		defer t.Stop()
		wdC = t.C
		notifier.Notify(sdnotify.Watchdog)
	}

	for {
		select {
		case <-ctx.Done():
			notifier.Notify(sdnotify.Stopping, sdnotify.Status("stopping; the routes stay in place"))
			log.Info("stopping; the routes stay in place", "ranges", len(s.desired))
			return cli.ExitOK
		case <-wdC:
			// Sent from this loop, so it stops if the loop hangs.
			notifier.Notify(sdnotify.Watchdog)
			continue
		case <-fw.C():
			s.sched.event(time.Now(), needReload)
		case <-events.C():
			s.sched.event(time.Now(), needReconcile)
		case <-resync.C:
			s.sched.immediate("periodic resync")
		case <-hup:
			s.sched.immediate("SIGHUP")
		case <-timer.C:
		}
		if n, reason, ok := s.sched.due(time.Now()); ok {
			s.act(n, reason)
			if st := s.status(); st != status {
				status = st
				notifier.Notify(sdnotify.Status(status))
			}
		}
		// Wake for the next due action or retry.
		if next, ok := s.sched.next(); ok {
			timer.Reset(max(time.Until(next), 0))
		} else {
			timer.Stop()
		}
	}
}

// inputs are what the service loop listens to: systemd, the kernel's
// route events, the file's directory, SIGHUP.
type inputs struct {
	notifier   *sdnotify.Notifier
	wdInterval time.Duration
	events     *routes.Events
	fw         *watch.Watcher
	hup        chan os.Signal
}

// open subscribes to everything the loop listens to, and opens the table.
// Route events are subscribed to before the first reconcile, so that no
// change made between the two goes unseen.
func (s *service) open() (*inputs, error) {
	in := &inputs{hup: make(chan os.Signal, 1)}
	var err error
	if in.notifier, err = sdnotify.New(); err != nil {
		s.log.Warn("not notifying systemd", "err", err)
	}
	if in.wdInterval, err = sdnotify.WatchdogInterval(); err != nil {
		s.log.Warn("watchdog off", "err", err)
	}
	if in.events, err = routes.Subscribe(func(msg string, args ...any) { s.log.Error(msg, args...) }); err != nil {
		in.close(s)
		return nil, err
	}
	if in.fw, err = watch.New(s.o.config, watch.Options{Log: func(msg string, args ...any) { s.log.Info(msg, args...) }}); err != nil {
		in.close(s)
		return nil, err
	}
	if s.table, err = routes.Open(); err != nil {
		in.close(s)
		return nil, err
	}
	signal.Notify(in.hup, syscall.SIGHUP)
	return in, nil
}

func (in *inputs) close(s *service) {
	signal.Stop(in.hup)
	if s.table != nil {
		s.table.Close()
		s.table = nil
	}
	if in.fw != nil {
		in.fw.Close()
	}
	if in.events != nil {
		in.events.Close()
	}
	in.notifier.Close()
}

// act does what is pending: reload the file (and reconcile to it), or
// only reconcile the table to the file last applied. It holds the run lock
// throughout, so that first boot or `up` never interleave with it: the
// file it reads is the file whose ranges it applies.
func (s *service) act(n need, reason string) {
	lock, err := runlock.Acquire(context.Background(), s.o.lock, lockWait)
	if err != nil {
		s.failRoutes(err)
		return
	}
	defer lock.Release()
	if n&needReload == 0 && s.applied && currentFileID(s.o.config) != s.seen {
		// Changed since it was read (by the run that held the lock
		// just now, say): its event is on its way, but putting the
		// table back to the old version meanwhile would take the new
		// ranges down for a moment.
		n |= needReload
	}
	if n&needReload != 0 {
		s.reload()
		if !s.applied && reason == "start" {
			s.applyLastGood()
			s.updateOnLink()
			return
		}
		s.reconcile(reason)
		// The responders run on their own goroutines: this hands them
		// the ranges and returns.
		s.updateOnLink()
		return
	}
	changed := s.reconcile(reason)
	// Route events alone brought us here: the table drifted. Our own
	// changes come back as events too, and find nothing to do.
	if gap, streak := s.sched.drifted(time.Now(), changed); streak == 3 {
		s.log.Warn("routes keep drifting: another program seems to change them; putting them back less often", "next_in", gap)
	}
}

// reload reads and checks the file. A good one becomes the desired state;
// a bad, missing or unreadable one leaves the desired state (and the
// routes) as they are, and is reported.
func (s *service) reload() {
	s.seen = currentFileID(s.o.config)
	l, err := load(s.o)
	if err != nil {
		msg := err.Error()
		if msg != s.fileErr {
			s.log.Error("cannot read the ranges file; the routes stay as they are", "path", s.o.config, "err", err)
		}
		s.fileErr = msg
		s.sched.failed(time.Now())
		return
	}
	if l.findings.HasErrors() {
		s.reject(l.findings)
		return
	}
	if s.lastRejected != "" {
		s.log.Info("the ranges file is valid again", "path", s.o.config)
	}
	s.lastRejected, s.fileErr = "", ""
	if sig := l.findings.Error(); sig != s.lastWarned {
		s.logFindings(slog.LevelWarn, "warning", l.findings)
		s.lastWarned = sig
	}
	s.desired, s.applied, s.facts = l.desired, true, l.facts
	s.keepLastGood(l.data)
}

// lastGoodPath is where watch keeps the last version of the file it
// applied; "" when it keeps none.
func (s *service) lastGoodPath() string {
	if s.o.stateDir == "" {
		return ""
	}
	return filepath.Join(s.o.stateDir, "last-good.cfg")
}

// keepLastGood saves the file just applied, so that after a reboot with a
// broken file the VIPs still come up. Best effort.
func (s *service) keepLastGood(data []byte) {
	path := s.lastGoodPath()
	if path == "" || bytes.Equal(data, s.keptGood) {
		return
	}
	err := os.MkdirAll(s.o.stateDir, 0o755)
	if err == nil {
		err = render.WriteFile(path, data, 0o644)
	}
	if err != nil {
		s.log.Warn("cannot keep the last good version of the ranges file", "path", path, "err", err)
		return
	}
	s.keptGood = bytes.Clone(data)
}

// applyLastGood runs at start when the file could not be applied: after a
// reboot nothing is in the table yet, and "keep the routes as they are"
// would leave every VIP down for one typo. The kept version is checked
// against the system as it is now, like any file.
func (s *service) applyLastGood() {
	path := s.lastGoodPath()
	if path == "" {
		return
	}
	o := s.o
	o.config = path
	l, err := load(o)
	if err != nil || l.findings.HasErrors() || l.data == nil {
		if _, statErr := os.Stat(path); statErr == nil {
			s.log.Error("the last good version of the ranges file cannot be applied either", "path", path, "err", err, "summary", cli.Summary(l.findingsOrNil()))
		}
		return
	}
	s.log.Warn("applying the last good version of the ranges file until the file is fixed", "path", path, "ranges", len(l.desired))
	s.desired, s.applied, s.keptGood, s.facts = l.desired, true, l.data, l.facts
	s.reconcile("last good version")
}

// reject reports a file that must not be applied, once per distinct set
// of problems (the periodic resync re-reads it).
func (s *service) reject(fs finding.List) {
	fs = fs.Sorted()
	errs, _ := fs.Count()
	first := fs[0]
	s.fileErr = first.Detail()
	if errs > 1 {
		s.fileErr += fmt.Sprintf(" (and %d more errors)", errs-1)
	}
	if sig := fs.Error(); sig != s.lastRejected {
		s.lastRejected = sig
		s.log.Error("ranges file rejected; the routes stay as they are", "path", s.o.config, "summary", cli.Summary(fs))
		s.logFindings(slog.LevelError, "rejected", fs)
	}
}

// logFindings logs one line per finding, up to maxLoggedFindings: a file
// of thousands of ranges must not flood the journal on every edit.
func (s *service) logFindings(level slog.Level, msg string, fs finding.List) {
	for i, f := range fs {
		if i == maxLoggedFindings {
			s.log.Log(context.Background(), level, "more findings not logged", "count", len(fs)-i, "see", "anyip-routes --config "+s.o.config+" up")
			return
		}
		s.logFinding(level, msg, f)
	}
}

func (s *service) logFinding(level slog.Level, msg string, f finding.Finding) {
	args := []any{"where", f.Where}
	if f.Value != "" {
		args = append(args, "line", f.Value)
	}
	args = append(args, "problem", f.Message)
	if f.Hint != "" {
		args = append(args, "hint", f.Hint)
	}
	s.log.Log(context.Background(), level, msg, args...)
}

// reconcile brings the table in line with the desired ranges and logs
// each change. It reports whether anything changed.
func (s *service) reconcile(reason string) bool {
	if !s.applied {
		return false
	}
	if s.table == nil {
		t, err := routes.Open()
		if err != nil {
			s.failRoutes(err)
			return false
		}
		s.table = t
	}
	plan, res, err := s.table.Reconcile(s.desired)
	s.log.Debug("reconciled", "reason", reason, "plan", plan.String(), "err", err)
	ch := routes.ChangesOf(plan, res)
	for _, c := range ch.List {
		s.log.Info("range "+c.Verb, "range", c.Prefix, "reason", reason)
	}
	s.takeStock(res, err)
	if err != nil {
		var ae *routes.ApplyError
		if !errors.As(err, &ae) {
			// Not a refused change but a broken exchange: start over
			// with a new socket.
			s.table.Close()
			s.table = nil
		}
		s.failRoutes(err)
		return !ch.Empty()
	}
	if ok, lasted := s.routeLog.cleared(time.Now()); ok {
		s.log.Info("the routes are in line again", "after", lasted.Round(time.Second))
	}
	s.routeErr = ""
	return !ch.Empty()
}

// takeStock records what the table holds after a reconcile: all desired
// ranges when it succeeded; when changes failed, what a fresh look at the
// table shows, with the kernel's reason for each range it lacks.
func (s *service) takeStock(res routes.Result, err error) {
	s.missing, s.stuck, s.nMissing, s.nStuck = nil, nil, 0, 0
	lacks := func(p netip.Prefix, why string) {
		s.nMissing++
		if len(s.missing) < maxStatusRanges {
			s.missing = append(s.missing, p.String()+": "+why)
		}
	}
	holds := func(p netip.Prefix, why string) {
		s.nStuck++
		if len(s.stuck) < maxStatusRanges {
			s.stuck = append(s.stuck, p.String()+": "+why)
		}
	}
	var ae *routes.ApplyError
	switch {
	case err == nil:
		s.tableKnown, s.inPlace = true, len(s.desired)
		return
	case !errors.As(err, &ae):
		s.tableKnown = false // could not read it, or the exchange broke
		return
	}
	why := make(map[netip.Prefix]string, len(res.Failures))
	for _, f := range res.Failures {
		if _, dup := why[f.Prefix]; !dup && f.Err != nil {
			why[f.Prefix] = f.Err.Error()
		}
	}
	cur, lerr := s.table.List()
	if lerr != nil {
		// Go by the failures alone.
		s.tableKnown, s.inPlace = true, len(s.desired)
		for _, f := range res.Failures {
			if f.Op == "delete" {
				holds(f.Prefix, why[f.Prefix])
			} else {
				s.inPlace--
				lacks(f.Prefix, why[f.Prefix])
			}
		}
		return
	}
	present := make(map[netip.Prefix]bool, len(cur.Ours)+len(cur.Foreign))
	ours := make(map[netip.Prefix]bool, len(cur.Ours))
	for _, p := range cur.Ours {
		present[p], ours[p] = true, true
	}
	for _, r := range cur.Foreign {
		present[r.Prefix] = true
	}
	wanted := make(map[netip.Prefix]bool, len(s.desired))
	s.tableKnown, s.inPlace = true, 0
	for _, p := range s.desired {
		wanted[p] = true
		if present[p] {
			s.inPlace++
			continue
		}
		w := why[p]
		if w == "" {
			w = "not in the table"
		}
		lacks(p, w)
	}
	for _, f := range res.Failures {
		if f.Op == "delete" && ours[f.Prefix] && !wanted[f.Prefix] {
			holds(f.Prefix, why[f.Prefix])
		}
	}
}

// failRoutes notes a reconcile that failed, schedules the retry, and logs
// it when it is news or a reminder is due.
func (s *service) failRoutes(err error) {
	s.routeErr = err.Error()
	s.sched.failed(time.Now())
	n := s.routeLog.failed(time.Now(), failureKey(err))
	switch {
	case !n.log:
	case n.reminder:
		s.log.Error("the routes are still not in line", "err", err, "since", n.since.UTC().Format(time.RFC3339),
			"failures_since_last_line", n.repeats, "retry_every", retryAfter, "next_reminder_in", n.nextIn)
	default:
		s.log.Error("cannot bring the routes in line; retrying every "+retryAfter.String()+", reminding less and less often", "err", err,
			"next_reminder_in", n.nextIn)
	}
}

// failureKey tells one lasting failure from another: the changes that
// failed and why, not how many changes the attempt made ("1 of 5" at the
// start is "1 of 1" on the retry).
func failureKey(err error) string {
	var ae *routes.ApplyError
	if !errors.As(err, &ae) {
		return err.Error()
	}
	var b strings.Builder
	for _, f := range ae.Failures {
		b.WriteString(f.Error())
		b.WriteByte('\n')
	}
	return b.String()
}

// status is the one line systemd shows for the service. It says what the
// table holds, not what the file asks for.
func (s *service) status() string {
	var b strings.Builder
	from := "from " + s.o.config
	if s.fileErr != "" {
		from = "from the last good version of " + s.o.config
	}
	lastErr := []string{s.fileErr}
	switch {
	case !s.applied:
		b.WriteString("no ranges applied yet (the routes stay as they were)")
	case !s.tableKnown:
		fmt.Fprintf(&b, "%s wanted %s; the routing table could not be read", countRanges(len(s.desired)), from)
		lastErr = append(lastErr, s.routeErr)
	case s.nMissing == 0:
		fmt.Fprintf(&b, "%s in place %s", countRanges(s.inPlace), from)
	default:
		fmt.Fprintf(&b, "%d of %s in place %s; ", s.inPlace, countRanges(len(s.desired)), from)
		b.WriteString(listSome(s.missing, s.nMissing))
	}
	if s.applied && s.tableKnown && s.nStuck > 0 {
		b.WriteString("; not removed: ")
		b.WriteString(listSome(s.stuck, s.nStuck))
	}
	if s.applied && s.tableKnown && s.nMissing == 0 && s.nStuck == 0 {
		lastErr = append(lastErr, s.routeErr) // the lock, say
	}
	var errs []string
	for _, e := range lastErr {
		if e != "" {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		b.WriteString("; last error: ")
		b.WriteString(strings.Join(errs, "; "))
	}
	return b.String()
}

// listSome joins the items kept of n, and counts the rest.
func listSome(items []string, n int) string {
	s := strings.Join(items, "; ")
	if n > len(items) {
		s += fmt.Sprintf("; and %d more", n-len(items))
	}
	return s
}

// fileID tells versions of a file apart without reading it: a rename into
// place changes the inode, an edit in place the size or the times.
type fileID struct {
	dev, ino, size uint64
	mtime, ctime   int64
}

func currentFileID(path string) fileID {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return fileID{}
	}
	return fileID{uint64(st.Dev), st.Ino, uint64(st.Size), st.Mtim.Nano(), st.Ctim.Nano()}
}
