package sinks

import (
	"context"
	"math/rand/v2"
	"time"
)

// The retry helpers shared by the sinks that retry without limit (Elasticsearch, Notify).

// sleepCtx waits d, or returns false when ctx is done first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// backoff is the wait before retry number attempt+1: initial doubled per attempt, capped at maxWait, with "equal
// jitter" (between half and all of it) so that retries do not run in lockstep.
func backoff(initial, maxWait time.Duration, attempt int) time.Duration {
	d := maxWait
	if attempt < 32 {
		if b := initial << attempt; b > 0 && b < d {
			d = b
		}
	}
	return d/2 + rand.N(d/2+1)
}
