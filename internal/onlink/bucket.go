package onlink

import "time"

// Bucket is a token bucket: Rate tokens a second, at most Burst saved up.
// It starts full. The time is the caller's, so it is tested without a
// clock.
type Bucket struct {
	Rate, Burst float64
	tokens      float64
	last        time.Time
	started     bool
}

func (b *Bucket) refill(now time.Time) {
	if !b.started {
		b.tokens, b.last, b.started = b.Burst, now, true
		return
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.Burst, b.tokens+d.Seconds()*b.Rate)
		b.last = now
	}
}

// Allow takes a token if there is one.
func (b *Bucket) Allow(now time.Time) bool {
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// Tokens is what is saved up now.
func (b *Bucket) Tokens(now time.Time) float64 {
	b.refill(now)
	return b.tokens
}

// Next is when the next token is there (now if one is).
func (b *Bucket) Next(now time.Time) time.Time {
	b.refill(now)
	if b.tokens >= 1 || b.Rate <= 0 {
		return now
	}
	return now.Add(time.Duration((1 - b.tokens) / b.Rate * float64(time.Second)))
}
