// Package cachetest is the conformance suite every tokencache.Cache passes.
package cachetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectors.dev/connectors/shared/tokencache"
)

// Run runs the suite; newCache returns an empty cache for each subtest.
func Run(t *testing.T, newCache func(t *testing.T) tokencache.Cache) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	until := now.Add(30 * time.Second)

	t.Run("LoadAbsent", func(t *testing.T) {
		c := newCache(t)
		e, err := c.Load(ctx, "Svc")
		if err != nil || e != nil {
			t.Fatalf("Load absent = %+v, %v", e, err)
		}
	})

	t.Run("LeaseIsExclusiveUntilItExpires", func(t *testing.T) {
		c := newCache(t)
		if e, ok, err := c.Acquire(ctx, "Svc", "a", now, until); err != nil || !ok || e != nil {
			t.Fatalf("first Acquire = %+v, %v, %v", e, ok, err)
		}
		e, ok, err := c.Acquire(ctx, "Svc", "b", now.Add(time.Second), now.Add(time.Minute))
		if err != nil || ok {
			t.Fatalf("second holder acquired a held lease: %v %v", ok, err)
		}
		if e == nil || e.LeaseHolder != "a" || !e.LeaseUntil.Equal(until) {
			t.Fatalf("entry seen by the loser: %+v", e)
		}
		if _, ok, _ := c.Acquire(ctx, "Svc", "a", now.Add(time.Second), until); !ok {
			t.Fatal("the holder could not renew its own lease")
		}
		if _, ok, _ := c.Acquire(ctx, "Svc", "b", until.Add(time.Millisecond), until.Add(time.Minute)); !ok {
			t.Fatal("an expired lease was not taken over")
		}
	})

	t.Run("FillStoresAndEndsLease", func(t *testing.T) {
		c := newCache(t)
		if _, ok, _ := c.Acquire(ctx, "Svc", "a", now, until); !ok {
			t.Fatal("acquire")
		}
		exp := now.Add(time.Hour)
		if err := c.Fill(ctx, "Svc", "a", &tokencache.Entry{Revision: "r1", Sealed: []byte("sealed"), Expiry: exp}); err != nil {
			t.Fatal(err)
		}
		e, err := c.Load(ctx, "Svc")
		if err != nil || e == nil || e.Revision != "r1" || !bytes.Equal(e.Sealed, []byte("sealed")) || !e.Expiry.Equal(exp) || e.LeaseHolder != "" {
			t.Fatalf("after Fill: %+v, %v", e, err)
		}
		// A later lease keeps the credential readable meanwhile.
		e, ok, err := c.Acquire(ctx, "Svc", "b", now, until)
		if err != nil || !ok || e == nil || string(e.Sealed) != "sealed" {
			t.Fatalf("acquire after fill: %+v %v %v", e, ok, err)
		}
		if e, _ := c.Load(ctx, "Svc"); string(e.Sealed) != "sealed" || e.LeaseHolder != "b" {
			t.Fatalf("acquire dropped the credential: %+v", e)
		}
	})

	t.Run("ReleaseOnlyByHolder", func(t *testing.T) {
		c := newCache(t)
		c.Acquire(ctx, "Svc", "a", now, until)
		if err := c.Release(ctx, "Svc", "b"); err != nil {
			t.Fatal(err)
		}
		if e, _ := c.Load(ctx, "Svc"); e.LeaseHolder != "a" {
			t.Fatal("a non-holder released the lease")
		}
		if err := c.Release(ctx, "Svc", "a"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := c.Acquire(ctx, "Svc", "b", now, until); !ok {
			t.Fatal("lease not free after release")
		}
		if err := c.Release(ctx, "Absent", "a"); err != nil {
			t.Fatalf("release of absent entry: %v", err)
		}
	})

	t.Run("Forget", func(t *testing.T) {
		c := newCache(t)
		c.Fill(ctx, "Svc", "a", &tokencache.Entry{Revision: "r", Sealed: []byte("x"), Expiry: until})
		if err := c.Forget(ctx, "Svc"); err != nil {
			t.Fatal(err)
		}
		if e, _ := c.Load(ctx, "Svc"); e != nil {
			t.Fatalf("entry survived Forget: %+v", e)
		}
		if err := c.Forget(ctx, "Svc"); err != nil {
			t.Fatalf("forget absent: %v", err)
		}
	})

	t.Run("ConcurrentAcquireOneWinner", func(t *testing.T) {
		c := newCache(t)
		var wins atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, ok, err := c.Acquire(ctx, "Svc", fmt.Sprintf("holder-%d", i), now, until)
				if err != nil {
					errs <- err
				}
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if wins.Load() != 1 {
			t.Fatalf("%d holders won the lease", wins.Load())
		}
	})
}
