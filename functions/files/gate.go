package files

import (
	"context"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"connectors.dev/connectors/shared/httpx"
)

// DefaultWriteBufferBytes is how many request bytes of large bodies an
// instance reads and decodes at once: two largest writes (about 27 MiB of
// base64 each). Holding one costs about three times its request — the
// JSON decoder's buffer, the decoded data and the upload's chunk — so two
// stay well under the functions' GOMEMLIMIT of 384 MiB (TestWriteMemory
// measures it).
const DefaultWriteBufferBytes = 64 << 20

// writeWait is how long a large request waits for room before it is told
// to come back: long enough to ride out a burst, short enough that a
// client is never left hanging on a full instance.
const writeWait = 5 * time.Second

// retryAfter is the Retry-After a full instance answers with, in seconds.
const retryAfter = "1"

// errWritesFull is the answer when the budget stays full.
var errWritesFull = httpx.Errorf(http.StatusServiceUnavailable, httpx.CodeUnavailable,
	"too many large writes at once on this instance; retry after the Retry-After delay")

// writeGate is a weighted semaphore over the bytes of request bodies that
// are read and decoded in memory, so concurrent writes cannot together
// outgrow the instance. Small bodies (every op but write) pass freely:
// httpx.MaxBodyBytes each, bounded by the instance's concurrency.
type writeGate struct {
	once sync.Once
	sem  *semaphore.Weighted
}

func (s *Server) writeBuffer() int64 {
	if s.Options.WriteBufferBytes > 0 {
		return max(s.Options.WriteBufferBytes, s.requestLimit())
	}
	return max(DefaultWriteBufferBytes, s.requestLimit())
}

// acquire takes room for r's body before it is read, waiting at most
// writeWait. The weight is the declared length, or limit when the length
// is unknown (a chunked body may grow to it). A body over limit takes none:
// the decoder refuses it unread.
func (g *writeGate) acquire(r *http.Request, limit, budget int64) (release func(), err error) {
	n := r.ContentLength
	switch {
	case n >= 0 && n <= httpx.MaxBodyBytes, n > limit:
		return func() {}, nil
	case n < 0:
		n = limit
	}
	g.once.Do(func() { g.sem = semaphore.NewWeighted(budget) })
	ctx, cancel := context.WithTimeout(r.Context(), writeWait)
	defer cancel()
	if err := g.sem.Acquire(ctx, n); err != nil {
		if cerr := r.Context().Err(); cerr != nil {
			return nil, cerr // the caller left, or its deadline passed
		}
		return nil, errWritesFull
	}
	return func() { g.sem.Release(n) }, nil
}
