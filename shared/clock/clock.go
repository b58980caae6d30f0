// Package clock is time as the service uses it: a settable clock for tests
// and benchmarks that expire tokens on demand (pass Fake.Now wherever a
// component takes a func() time.Time), and a jittered Sleep for retries
// and polls.
package clock

import (
	"sync"
	"time"
)

// Fake is a clock that moves only when told to. It is safe for concurrent
// use.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a clock set to the real time.
func NewFake() *Fake { return &Fake{now: time.Now()} }

// Now returns the clock's time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
