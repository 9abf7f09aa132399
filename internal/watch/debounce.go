package watch

import "time"

// Debouncer turns a burst of triggers into one action: it comes due Quiet
// after the last trigger, but never later than Max after the first one, so
// a steady stream of triggers cannot put the action off for ever.
//
// It is a plain value with no goroutine or timer of its own: the caller's
// loop asks Next when to wake up, and Resets it when it acts. That keeps the
// timing logic testable without a clock.
type Debouncer struct {
	Quiet time.Duration
	Max   time.Duration // 0: no bound

	pending     bool
	first, last time.Time
}

// Trigger records a trigger at now.
func (d *Debouncer) Trigger(now time.Time) {
	if !d.pending {
		d.pending, d.first = true, now
	}
	d.last = now
}

// Pending reports whether a trigger waits for its action.
func (d *Debouncer) Pending() bool { return d.pending }

// Next returns when the action comes due, and false if nothing is pending.
func (d *Debouncer) Next() (time.Time, bool) {
	if !d.pending {
		return time.Time{}, false
	}
	at := d.last.Add(d.Quiet)
	if d.Max > 0 {
		if limit := d.first.Add(d.Max); limit.Before(at) {
			at = limit
		}
	}
	return at, true
}

// Reset forgets pending triggers.
func (d *Debouncer) Reset() { d.pending = false }
