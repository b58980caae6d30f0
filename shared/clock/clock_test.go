package clock

import (
	"testing"
	"time"
)

func TestFake(t *testing.T) {
	c := NewFake()
	t0 := c.Now()
	if !c.Now().Equal(t0) {
		t.Fatal("a fake clock moved by itself")
	}
	c.Advance(time.Hour)
	if got := c.Now().Sub(t0); got != time.Hour {
		t.Fatalf("advanced %s, want 1h", got)
	}
}
