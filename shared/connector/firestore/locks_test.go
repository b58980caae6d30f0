package firestore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestNameLocksExclude(t *testing.T) {
	var l nameLocks
	var wg sync.WaitGroup
	var mu sync.Mutex
	inside := map[string]int{}
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Renames in both directions must not deadlock.
			names := []string{"a", "b"}
			if i%2 == 1 {
				names = []string{"b", "a"}
			}
			unlock, err := l.lock(t.Context(), names...)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside["a"]++
			if inside["a"] > 1 {
				t.Error("two holders of a")
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inside["a"]--
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
	if len(l.locks) != 0 {
		t.Errorf("%d lock entries left behind", len(l.locks))
	}
}

func TestNameLocksContext(t *testing.T) {
	var l nameLocks
	unlock, err := l.lock(t.Context(), "a", "a") // duplicates are one lock
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.lock(ctx, "b", "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock of a held name: err = %v, want deadline", err)
	}
	// The failed attempt released b.
	unlockB, err := l.lock(t.Context(), "b")
	if err != nil {
		t.Fatal(err)
	}
	unlockB()
	unlock()
	if len(l.locks) != 0 {
		t.Errorf("%d lock entries left behind", len(l.locks))
	}
}
