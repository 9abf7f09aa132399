package main

import (
	"time"

	"github.com/anyip/anyip/internal/watch"
)

// schedule decides when the service acts. It is a plain value the loop
// asks (no timer or goroutine of its own), so its timing is tested with
// synthetic times: file and route events are debounced; a resync or SIGHUP
// acts at once; a failed action is retried after retryAfter; a reconcile
// that only puts drifted routes back waits out the drift back-off, which
// grows while the drift keeps coming back.
type schedule struct {
	deb     watch.Debouncer
	pending need
	reason  string
	now     bool // act at once, without debouncing

	retryAt     time.Time // a failed action is retried then (zero: none)
	notBefore   time.Time // no drift-only reconcile before this
	driftStreak int       // drift reconciles in a row that changed something
}

func newSchedule() schedule {
	return schedule{deb: watch.Debouncer{Quiet: quiet, Max: maxDelay}}
}

// event records a file change (needReload) or a route change
// (needReconcile) at t; the action comes due once the burst is quiet.
func (s *schedule) event(t time.Time, n need) {
	s.pending |= n
	switch {
	case n&needReload != 0:
		s.reason = "file changed"
	case s.reason == "":
		s.reason = "routes changed"
	}
	s.deb.Trigger(t)
}

// immediate asks for a reload at once (resync, SIGHUP).
func (s *schedule) immediate(reason string) {
	s.pending |= needReload
	s.reason, s.now = reason, true
}

// failed schedules the retry of an action that failed at t.
func (s *schedule) failed(t time.Time) { s.retryAt = t.Add(retryAfter) }

// drifted records whether a drift-only reconcile at t had to change
// something: while it keeps having to, the next one waits longer. It
// returns the wait and how many in a row changed something.
func (s *schedule) drifted(t time.Time, changed bool) (time.Duration, int) {
	if !changed {
		s.driftStreak, s.notBefore = 0, time.Time{}
		return 0, 0
	}
	s.driftStreak++
	gap := min(driftGap<<min(s.driftStreak-1, 16), maxDriftGap)
	s.notBefore = t.Add(gap)
	return gap, s.driftStreak
}

// at is when the pending events come due: after the debounce, and for a
// drift-only reconcile not before the back-off ends.
func (s *schedule) at() (time.Time, bool) {
	at, ok := s.deb.Next()
	if ok && s.pending == needReconcile && s.notBefore.After(at) {
		at = s.notBefore
	}
	return at, ok
}

// due returns what to do at t, if anything, and forgets it: the caller
// must act. A due retry is a reload.
func (s *schedule) due(t time.Time) (need, string, bool) {
	if !s.retryAt.IsZero() && !t.Before(s.retryAt) {
		s.retryAt = time.Time{}
		s.pending |= needReload
		if s.reason == "" {
			s.reason = "retry"
		}
		s.now = true
	}
	at, ok := s.at()
	if s.pending == 0 || !(s.now || (ok && !t.Before(at))) {
		return 0, "", false
	}
	n, reason := s.pending, s.reason
	s.deb.Reset()
	// Whatever runs now does what a retry would: reconcile, after a reload
	// when one is pending.
	s.pending, s.reason, s.now, s.retryAt = 0, "", false, time.Time{}
	return n, reason, true
}

// next is when the loop must wake for the next due action or retry.
func (s *schedule) next() (time.Time, bool) {
	next, ok := s.at()
	if !s.retryAt.IsZero() && (!ok || s.retryAt.Before(next)) {
		next, ok = s.retryAt, true
	}
	return next, ok
}
