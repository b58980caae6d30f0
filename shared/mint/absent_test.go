package mint

import (
	"testing"

	"connectors.dev/connectors/shared/connector"
)

// The count of names cached as not found follows the entries themselves:
// re-caching a name, replacing it with a connector, Forget and a version
// poll's drops all keep it exact, so polling one missing name for hours
// does not use up maxAbsent.
func TestAbsentCountFollowsEntries(t *testing.T) {
	var s Service
	check := func(step string, want int64) {
		t.Helper()
		if got := s.absent.Load(); got != want {
			t.Fatalf("%s: absent = %d, want %d", step, got, want)
		}
	}
	for range 3 * maxAbsent { // one name re-read after every TTL
		s.putMeta(&connector.Connector{Name: "Gone"}, nil, s.now(), true)
	}
	check("one name cached again and again", 1)
	s.putMeta(&connector.Connector{Name: "Other"}, nil, s.now(), true)
	check("a second name", 2)
	s.putMeta(&connector.Connector{Name: "Gone"}, nil, s.now(), false) // created meanwhile
	check("an absent name replaced by its connector", 1)
	s.Forget("Other")
	check("Forget", 0)
	s.putMeta(&connector.Connector{Name: "Again"}, nil, s.now(), true)
	v, _ := s.meta.Load("Again")
	s.putMeta(&connector.Connector{Name: "Again"}, nil, s.now(), true) // replaced before the drop
	s.dropMeta("Again", v.(*metaEntry))
	check("a drop of an entry already replaced", 1)
	v, _ = s.meta.Load("Again")
	s.dropMeta("Again", v.(*metaEntry))
	check("a version poll's drop", 0)
	s.Forget("Gone") // a connector, not an absent name
	check("Forget of a connector", 0)
}
