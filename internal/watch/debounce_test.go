package watch

import (
	"testing"
	"time"
)

// due is how a loop uses the debouncer: act when Next has come, and reset.
func due(d *Debouncer, now time.Time) bool {
	at, ok := d.Next()
	if !ok || now.Before(at) {
		return false
	}
	d.Reset()
	return true
}

func TestDebouncer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	d := Debouncer{Quiet: 100 * time.Millisecond, Max: time.Second}

	if _, ok := d.Next(); ok || due(&d, ms(0)) || d.Pending() {
		t.Fatal("a fresh debouncer has something pending")
	}

	// A burst: due 100 ms after the last trigger.
	d.Trigger(ms(0))
	d.Trigger(ms(30))
	d.Trigger(ms(60))
	if at, ok := d.Next(); !ok || !at.Equal(ms(160)) {
		t.Fatalf("Next = %v, %v; want +160ms", at, ok)
	}
	if due(&d, ms(159)) {
		t.Fatal("due before the quiet period ended")
	}
	if !due(&d, ms(160)) {
		t.Fatal("not due when the quiet period ended")
	}
	if due(&d, ms(161)) || d.Pending() {
		t.Fatal("due twice for one burst")
	}

	// A stream that never goes quiet is cut at Max after its first trigger.
	for i := 2000; i < 4000; i += 50 {
		d.Trigger(ms(i))
		if due(&d, ms(i)) {
			if i < 3000 {
				t.Fatalf("due at +%dms, before Max", i)
			}
			if i != 3000 {
				t.Fatalf("due at +%dms, want +3000ms", i)
			}
			break
		}
		if i >= 3000 {
			t.Fatalf("not due at +%dms, Max after the first trigger", i)
		}
	}

	// Without Max, only the quiet period counts.
	u := Debouncer{Quiet: 100 * time.Millisecond}
	for i := 0; i < 5000; i += 50 {
		u.Trigger(ms(i))
		if due(&u, ms(i)) {
			t.Fatalf("unbounded debouncer due at +%dms during a stream", i)
		}
	}
	if !due(&u, ms(5050)) {
		t.Fatal("unbounded debouncer not due after the stream went quiet")
	}
}
