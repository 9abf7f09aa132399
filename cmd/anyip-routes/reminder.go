package main

import "time"

// reminder paces the log lines of a failure that lasts. The service retries
// a failed reconcile every few seconds; logging each retry would write the
// same line 17,000 times a day. Instead a failure is logged when it starts
// (or turns into another one), reminded after gaps that double from first
// up to max, and logged once more when it clears. Time comes in from the
// caller, so tests run it on a synthetic clock.
type reminder struct {
	first, max time.Duration

	what  string    // the failure outstanding; "" when none
	since time.Time // when it started
	next  time.Time // when the next reminder is due
	gap   time.Duration
	quiet int // failures since the last line
}

// note is what to log about a failure.
type note struct {
	log      bool          // log a line now
	reminder bool          // the line is a reminder of a failure logged before
	since    time.Time     // when the failure started
	repeats  int           // reminder: failures since the last line, this one included
	nextIn   time.Duration // when the next reminder will be, if it lasts
}

// failed records the failure what at now.
func (r *reminder) failed(now time.Time, what string) note {
	if what != r.what {
		r.what, r.since, r.gap, r.quiet = what, now, r.first, 0
		r.next = now.Add(r.gap)
		return note{log: true, since: now, nextIn: r.gap}
	}
	r.quiet++
	if now.Before(r.next) {
		return note{since: r.since}
	}
	n := note{log: true, reminder: true, since: r.since, repeats: r.quiet}
	r.quiet = 0
	r.gap = min(2*r.gap, r.max)
	r.next = now.Add(r.gap)
	n.nextIn = r.gap
	return n
}

// cleared records a success at now. It reports whether a failure was
// outstanding (then log that it cleared), and how long it lasted.
func (r *reminder) cleared(now time.Time) (bool, time.Duration) {
	if r.what == "" {
		return false, 0
	}
	d := now.Sub(r.since)
	*r = reminder{first: r.first, max: r.max}
	return true, d
}
