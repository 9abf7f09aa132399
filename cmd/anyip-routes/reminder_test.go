package main

import (
	"testing"
	"time"
)

// A failure that lasts a day, retried every 5 s, is logged when it starts,
// then at 1, 2, 4, ... minutes up to hourly, and once when it clears.
func TestReminderPacesALastingFailure(t *testing.T) {
	r := reminder{first: time.Minute, max: time.Hour}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var logged []time.Duration
	tries := 0
	for at := time.Duration(0); at < 24*time.Hour; at += 5 * time.Second {
		tries++
		n := r.failed(t0.Add(at), "add local 10.40.30.32/28 dev lo: file exists")
		if !n.since.Equal(t0) {
			t.Fatalf("at %v: since %v, want the start", at, n.since)
		}
		if n.log {
			if n.reminder != (len(logged) > 0) {
				t.Fatalf("at %v: reminder=%v for line %d", at, n.reminder, len(logged)+1)
			}
			if n.reminder && n.repeats == 0 {
				t.Fatalf("at %v: a reminder counts no repeats", at)
			}
			logged = append(logged, at)
		}
	}
	want := []time.Duration{0, time.Minute, 3 * time.Minute, 7 * time.Minute, 15 * time.Minute, 31 * time.Minute, 63 * time.Minute}
	for i, w := range want {
		if i >= len(logged) || logged[i] != w {
			t.Fatalf("logged at %v, want it to start %v", logged, want)
		}
	}
	// Then hourly: 1 + 6 + ~23 lines for 17,280 tries.
	if n := len(logged); n < 25 || n > 32 {
		t.Errorf("%d lines in a day for %d failures, want about 30", n, tries)
	}
	for i := len(want); i < len(logged); i++ {
		if gap := logged[i] - logged[i-1]; gap != time.Hour {
			t.Errorf("gap %v between reminders %d and %d, want 1h", gap, i, i+1)
		}
	}

	ok, lasted := r.cleared(t0.Add(24 * time.Hour))
	if !ok || lasted != 24*time.Hour {
		t.Errorf("cleared = %v, %v; want true, 24h", ok, lasted)
	}
	if ok, _ := r.cleared(t0.Add(25 * time.Hour)); ok {
		t.Error("cleared twice")
	}
	// The next failure starts afresh.
	if n := r.failed(t0.Add(26*time.Hour), "x"); !n.log || n.reminder {
		t.Errorf("a new failure after clearing: %+v, want logged as new", n)
	}
}

// Another failure is news: logged at once, and paced from its own start.
func TestReminderLogsAChangedFailure(t *testing.T) {
	r := reminder{first: time.Minute, max: time.Hour}
	t0 := time.Unix(0, 0)
	if n := r.failed(t0, "a"); !n.log {
		t.Fatal("first failure not logged")
	}
	if n := r.failed(t0.Add(5*time.Second), "a"); n.log {
		t.Fatal("the same failure 5 s later logged again")
	}
	n := r.failed(t0.Add(10*time.Second), "b")
	if !n.log || n.reminder || !n.since.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("changed failure: %+v, want logged as new", n)
	}
	if n := r.failed(t0.Add(65*time.Second), "b"); n.log {
		t.Errorf("reminder of b due from a's start: %+v", n)
	}
	if n := r.failed(t0.Add(70*time.Second), "b"); !n.log || !n.reminder || n.repeats != 2 {
		t.Errorf("reminder of b a minute after it began: %+v, want a reminder of 2 repeats", n)
	}
}
