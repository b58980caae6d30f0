package logging

import (
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Buffered collects log lines and writes them in batches, so that a
// function serving thousands of requests a second does not make one write
// system call per audit line (one such call costs about as much CPU as the
// rest of a cache-hit mint). A line waits at most FlushDelay: the first line
// into an empty buffer arms a timer that writes everything held; a buffer
// reaching flushSize is written at once, and so is every line at WARNING or
// above (an error is read when it happens). Flush writes what is held;
// FlushOnSignal does it on SIGTERM and SIGINT before the process ends as it
// would have. What a crash that no signal announces (a kill -9, a runtime
// fatal error) loses is at most FlushDelay of lines: docs/performance.md
// weighs this.
type Buffered struct {
	mu    sync.Mutex
	w     io.Writer
	buf   []byte
	armed bool
	// direct: write each line at once (after FlushOnSignal fired, when the
	// process is about to end).
	direct bool
	delay  time.Duration
	err    error // the last write's, reported by the next Write
}

// FlushDelay is how long a line may wait in a Buffered.
const FlushDelay = 50 * time.Millisecond

// flushSize writes the buffer at once when it holds this much.
const flushSize = 32 << 10

// NewBuffered returns a Buffered writing to w.
func NewBuffered(w io.Writer) *Buffered {
	return &Buffered{w: w, delay: FlushDelay, buf: make([]byte, 0, flushSize+4<<10)}
}

// Write holds p (one whole line) for the next batch.
func (b *Buffered) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), b.heldLocked()
}

// writeRendered holds the line of a Rendered at t, formatted straight into
// the batch: no line buffer of its own, no copy (the token function's
// audit line, one per request).
func (b *Buffered) writeRendered(h *handler, t time.Time, r *Rendered) error {
	b.mu.Lock()
	b.buf = h.appendRenderedLine(b.buf, t, r)
	err := b.heldLocked()
	b.mu.Unlock()
	return err
}

// heldLocked follows a line appended to the batch: it writes the batch
// when it is full (or the process is ending), else makes sure a timer
// will. It returns the error a write reports: its own, or a timed
// write's, reported once (the line is kept).
func (b *Buffered) heldLocked() error {
	prev := b.err
	b.err = nil
	if len(b.buf) >= flushSize || b.direct {
		if err := b.flushLocked(); err != nil {
			return err
		}
		return prev
	}
	if !b.armed {
		b.armed = true
		time.AfterFunc(b.delay, b.timed)
	}
	return prev
}

func (b *Buffered) timed() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.armed = false
	if err := b.flushLocked(); err != nil {
		b.err = err
	}
}

// Flush writes every line held.
func (b *Buffered) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *Buffered) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// FlushOnSignal flushes b when the process receives SIGTERM (Cloud Run's
// notice before it stops an instance) or SIGINT, then lets the signal do
// what it did before: the handler is removed and the signal sent again.
func FlushOnSignal(b *Buffered) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
	go func() {
		sig := <-ch
		b.mu.Lock()
		b.direct = true
		_ = b.flushLocked()
		b.mu.Unlock()
		signal.Stop(ch)
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			_ = p.Signal(sig)
		}
	}()
}

// flusher is what the handler flushes after a WARNING or worse.
type flusher interface{ Flush() error }
