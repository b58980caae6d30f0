package firestore

import (
	"context"
	"slices"
	"sync"
)

// nameLocks serialises this process's writes per connector name.
//
// Correctness does not depend on it: the revision check runs in a Firestore
// transaction, which also guards against other processes. But concurrent
// read-write transactions on one document abort each other, and on the
// emulator a burst of them can abort every participant round after round
// while RunTransaction backs off exponentially (a minute or more for 50
// writers). Queueing this process's writers here means each transaction
// usually runs alone; the losers then read the winner's revision and fail
// fast with ErrConflict.
type nameLocks struct {
	mu    sync.Mutex
	locks map[string]*nameLock
}

type nameLock struct {
	sem  chan struct{} // holds one token while locked
	refs int           // holders and waiters; the entry goes at zero
}

// lock takes the locks of names in sorted order, so that two renames
// between the same names cannot deadlock, and returns the function that
// releases them. It gives up with ctx's error when ctx ends first.
func (l *nameLocks) lock(ctx context.Context, names ...string) (unlock func(), err error) {
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	var held []string
	release := func() {
		for _, n := range held {
			l.release(n)
		}
	}
	for _, n := range names {
		if err := l.acquire(ctx, n); err != nil {
			release()
			return nil, err
		}
		held = append(held, n)
	}
	return release, nil
}

func (l *nameLocks) acquire(ctx context.Context, name string) error {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = make(map[string]*nameLock)
	}
	nl := l.locks[name]
	if nl == nil {
		nl = &nameLock{sem: make(chan struct{}, 1)}
		l.locks[name] = nl
	}
	nl.refs++
	l.mu.Unlock()

	select {
	case nl.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		l.drop(name, nl)
		return ctx.Err()
	}
}

func (l *nameLocks) release(name string) {
	l.mu.Lock()
	nl := l.locks[name]
	l.mu.Unlock()
	<-nl.sem
	l.drop(name, nl)
}

// drop forgets one holder or waiter, and the entry when none is left, so the
// map does not grow with every name ever written.
func (l *nameLocks) drop(name string, nl *nameLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	nl.refs--
	if nl.refs == 0 {
		delete(l.locks, name)
	}
}
