package connector

import (
	"testing"
	"time"
)

// TestHealthApplyLatestOutcomeWins: instances write in any order; an
// outcome older than the record's latest one of the other kind moves only
// its timestamp, so a late success cannot hide a later failure, nor a late
// failure a later recovery.
func TestHealthApplyLatestOutcomeWins(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	failing := HealthRecord{}.Apply(HealthDelta{At: at(10), Failures: 2, FailureAt: at(10), Code: "invalid_client"})
	if failing.State != HealthFailing || failing.ConsecutiveFailures != 2 || !failing.StateSince.Equal(at(10)) {
		t.Fatalf("failing: %+v", failing)
	}
	late := failing.Apply(HealthDelta{At: at(12), SuccessAt: at(5)})
	if late.State != HealthFailing || late.ConsecutiveFailures != 2 || !late.LastSuccessAt.Equal(at(5)) {
		t.Fatalf("a success older than the last failure changed the state: %+v", late)
	}
	ok := failing.Apply(HealthDelta{At: at(20), SuccessAt: at(20)})
	if ok.State != HealthOK || ok.ConsecutiveFailures != 0 || !ok.StateSince.Equal(at(20)) || ok.LastErrorCode != "invalid_client" {
		t.Fatalf("recovery: %+v", ok)
	}
	stale := ok.Apply(HealthDelta{At: at(21), Failures: 1, FailureAt: at(15), Code: "temporarily_unavailable"})
	if stale.State != HealthOK || stale.ConsecutiveFailures != 0 || !stale.LastFailureAt.Equal(at(15)) || stale.LastErrorCode != "temporarily_unavailable" {
		t.Fatalf("a failure older than the last success changed the state: %+v", stale)
	}
	// Failures after a success in the same delta count from that success.
	again := failing.Apply(HealthDelta{At: at(30), SuccessAt: at(25), Failures: 1, FailureAt: at(30), Code: "invalid_client"})
	if again.State != HealthFailing || again.ConsecutiveFailures != 1 || !again.StateSince.Equal(failing.StateSince) {
		t.Fatalf("success then failure: %+v", again)
	}
	dead := failing.Apply(HealthDelta{At: at(40), Failures: 1, FailureAt: at(40), Code: "invalid_grant", Reconnect: true})
	if dead.State != HealthNeedsReconnect || dead.ConsecutiveFailures != 3 || !dead.StateSince.Equal(at(40)) {
		t.Fatalf("dead grant: %+v", dead)
	}
	// What admins see: needs_reconnect from the connector's mark only.
	if v := dead.View(&Connector{}); v.State != HealthFailing {
		t.Fatalf("a dead-grant record without the mark shows %s, want failing", v.State)
	}
	if v := (HealthRecord{}).View(&Connector{NeedsReconnect: true, NeedsReconnectSince: at(1)}); v.State != HealthNeedsReconnect || !v.StateSince.Equal(at(1)) {
		t.Fatalf("the mark shows %+v", v)
	}
}

// TestHealthDeltaAdd: a success clears the failures before it; failures
// after it are counted with the last one's code.
func TestHealthDeltaAdd(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	var d HealthDelta
	d.Add(t0, "a", false)
	d.Add(t0.Add(time.Second), "", false)
	d.Add(t0.Add(2*time.Second), "b", false)
	d.Add(t0.Add(3*time.Second), "c", true)
	if d.Failures != 2 || d.Code != "c" || !d.Reconnect || !d.SuccessAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("delta %+v", d)
	}
	for _, s := range []string{"", "OK", "needs-reconnect"} {
		if _, err := ParseHealthState(s); (err == nil) != (s == "") {
			t.Errorf("ParseHealthState(%q): %v", s, err)
		}
	}
}
