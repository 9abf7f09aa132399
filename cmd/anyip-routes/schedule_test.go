package main

import (
	"testing"
	"time"
)

// The service's timing, on a synthetic clock: bursts are debounced, a file
// change wins over route events, resync and SIGHUP act at once, a failure
// is retried, and drift that keeps coming back is put back less often.
func TestSchedule(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	ms := time.Millisecond
	s := newSchedule()

	if _, _, ok := s.due(t0); ok {
		t.Fatal("a fresh schedule has something due")
	}
	if _, ok := s.next(); ok {
		t.Fatal("a fresh schedule wants a wake-up")
	}

	// A burst of route events, then a file change: one reload, due once
	// the burst has been quiet.
	s.event(at(0), needReconcile)
	s.event(at(50*ms), needReconcile)
	s.event(at(100*ms), needReload)
	if next, ok := s.next(); !ok || !next.Equal(at(100*ms+quiet)) {
		t.Fatalf("next = %v %v, want +%v", next, ok, 100*ms+quiet)
	}
	if _, _, ok := s.due(at(100*ms + quiet - ms)); ok {
		t.Fatal("due before the burst was quiet")
	}
	n, reason, ok := s.due(at(100*ms + quiet))
	if !ok || n != needReconcile|needReload || reason != "file changed" {
		t.Fatalf("due = %v %q %v", n, reason, ok)
	}
	if _, _, ok := s.due(at(time.Second)); ok {
		t.Fatal("due twice")
	}

	// A steady stream is acted on within maxDelay.
	for i := 0; i < 100; i++ {
		s.event(at(2*time.Second+time.Duration(i)*100*ms), needReconcile)
		if _, _, ok := s.due(at(2*time.Second + time.Duration(i)*100*ms)); ok {
			if d := time.Duration(i) * 100 * ms; d < maxDelay {
				t.Fatalf("due after %v of a stream, before maxDelay", d)
			}
			break
		}
		if i == 99 {
			t.Fatal("a steady stream was never acted on")
		}
	}

	// Resync acts at once.
	s.immediate("periodic resync")
	if n, reason, ok := s.due(at(20 * time.Second)); !ok || n != needReload || reason != "periodic resync" {
		t.Fatalf("resync: %v %q %v", n, reason, ok)
	}

	// A failure is retried, as a reload, retryAfter later.
	s.failed(at(30 * time.Second))
	if next, ok := s.next(); !ok || !next.Equal(at(30*time.Second+retryAfter)) {
		t.Fatalf("retry next = %v %v", next, ok)
	}
	if n, reason, ok := s.due(at(30*time.Second + retryAfter)); !ok || n != needReload || reason != "retry" {
		t.Fatalf("retry: %v %q %v", n, reason, ok)
	}
	// Any action in between does what the retry would: no second one.
	s.failed(at(40 * time.Second))
	s.immediate("SIGHUP")
	s.due(at(41 * time.Second))
	if _, ok := s.next(); ok {
		t.Fatal("a retry is still pending after an action")
	}

	// Drift that keeps coming back waits longer each time, up to
	// maxDriftGap; a reconcile that finds nothing to change resets it.
	var gaps []time.Duration
	now := at(time.Minute)
	for i := 0; i < 12; i++ {
		gap, streak := s.drifted(now, true)
		if streak != i+1 {
			t.Fatalf("streak %d, want %d", streak, i+1)
		}
		gaps = append(gaps, gap)
		s.event(now, needReconcile)
		if next, _ := s.next(); !next.Equal(now.Add(max(gap, quiet))) {
			t.Fatalf("drift %d: next %v, want +%v", i, next.Sub(now), max(gap, quiet))
		}
		now = now.Add(max(gap, quiet))
		if _, _, ok := s.due(now); !ok {
			t.Fatalf("drift %d not due after its back-off", i)
		}
	}
	if gaps[0] != driftGap || gaps[1] != 2*driftGap || gaps[len(gaps)-1] != maxDriftGap {
		t.Errorf("back-off %v", gaps)
	}
	// A file change is never held back by the drift back-off.
	s.event(now, needReload)
	if next, _ := s.next(); !next.Equal(now.Add(quiet)) {
		t.Errorf("a file change waits for the drift back-off: next +%v", next.Sub(now))
	}
	s.due(now.Add(quiet))
	if _, streak := s.drifted(now, false); streak != 0 {
		t.Error("a quiet reconcile did not reset the back-off")
	}
}
