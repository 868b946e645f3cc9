package pool

import "time"

// Clock tells the pool (and rate limiters) the time. Rests end when Now
// passes their deadline; nothing sleeps or runs timers, so a fake clock
// controls expiry completely.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock (time.Now). Inside a testing/synctest
// bubble it follows the bubble's fake time.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
