package storetest

import (
	"sync"
	"testing"
	"time"

	"connectors.dev/connectors/shared/catalog"
	"connectors.dev/connectors/shared/connector"
)

// Health records (connector.HealthStore): kept apart from the connector,
// their writes change no revision and no catalog version; a record's read
// and write are one transaction, so of concurrent writers recording the
// same change exactly one sees the state move.

func testHealthRecords(t *testing.T, s catalog.Store) {
	ctx := t.Context()
	created := mustCreate(t, s, sample("svc", "agent-1"))
	v0 := version(t, s)
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

	before, after, err := s.RecordHealth(ctx, "svc", connector.HealthDelta{At: at, Failures: 2, FailureAt: at, Code: "invalid_client"})
	if err != nil {
		t.Fatalf("RecordHealth: %v", err)
	}
	if before.State != "" || after.State != connector.HealthFailing || after.ConsecutiveFailures != 2 || after.LastErrorCode != "invalid_client" || !after.StateSince.Equal(at) {
		t.Fatalf("first failure: before %+v, after %+v", before, after)
	}
	got, err := s.Health(ctx, []string{"svc", "absent"})
	if err != nil {
		t.Fatalf("Health: %v", err)
	}
	if r, ok := got["svc"]; !ok || r.State != connector.HealthFailing || r.ConsecutiveFailures != 2 || !r.LastFailureAt.Equal(at) {
		t.Fatalf("Health read %+v", got)
	}
	if _, ok := got["absent"]; ok {
		t.Fatalf("Health returned a record for a name never recorded: %+v", got)
	}
	if c := mustGet(t, s, "svc"); c.Revision != created.Revision {
		t.Fatalf("a health write changed the connector's revision")
	}
	if v := version(t, s); v.Seq != v0.Seq {
		t.Fatalf("a health write moved the catalog version from %d to %d", v0.Seq, v.Seq)
	}

	ok := at.Add(time.Minute)
	before, after, err = s.RecordHealth(ctx, "svc", connector.HealthDelta{At: ok, SuccessAt: ok})
	if err != nil {
		t.Fatal(err)
	}
	if before.State != connector.HealthFailing || after.State != connector.HealthOK || after.ConsecutiveFailures != 0 || !after.LastSuccessAt.Equal(ok) || after.LastErrorCode != "invalid_client" {
		t.Fatalf("recovery: before %+v, after %+v", before, after)
	}

	if err := s.DeleteHealth(ctx, "svc"); err != nil {
		t.Fatalf("DeleteHealth: %v", err)
	}
	if err := s.DeleteHealth(ctx, "svc"); err != nil {
		t.Fatalf("DeleteHealth of an absent record: %v", err)
	}
	if got, err := s.Health(ctx, []string{"svc"}); err != nil || len(got) != 0 {
		t.Fatalf("Health after DeleteHealth: %+v, %v", got, err)
	}
}

func testHealthConcurrentTransition(t *testing.T, s catalog.Store) {
	ctx := t.Context()
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	const writers = 4
	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		transitions int
	)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail := at.Add(time.Duration(i) * time.Millisecond)
			before, after, err := s.RecordHealth(ctx, "svc", connector.HealthDelta{At: fail, Failures: 1, FailureAt: fail, Code: "temporarily_unavailable"})
			if err != nil {
				t.Errorf("RecordHealth: %v", err)
				return
			}
			if before.Current() != after.Current() {
				mu.Lock()
				transitions++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if transitions != 1 {
		t.Fatalf("%d writers saw the state change, want exactly 1", transitions)
	}
	got, err := s.Health(ctx, []string{"svc"})
	if err != nil {
		t.Fatal(err)
	}
	if r := got["svc"]; r.ConsecutiveFailures != writers {
		t.Fatalf("consecutiveFailures %d after %d concurrent failures", r.ConsecutiveFailures, writers)
	}
}
