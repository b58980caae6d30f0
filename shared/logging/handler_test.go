package logging

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"connectors.dev/connectors/shared/logging/logtest"
)

// The hand-written path writes exactly what slog's JSON handler writes.
func TestFastPathMatchesSlog(t *testing.T) {
	at := time.Date(2026, 11, 30, 23, 59, 59, 120_000_000, time.UTC)
	zones := []*time.Location{time.UTC, time.FixedZone("x", -(3*3600 + 30*60))}
	for _, loc := range zones {
		for _, ns := range []int{0, 1, 10, 100_000, 120_000_000, 123_456_789, 987_654_320, 999_999_999} {
			when := at.Add(time.Duration(ns - 120_000_000)).In(loc)
			rec := slog.NewRecord(when, slog.LevelInfo, "token ok \"quoted\" \u2028 \xff <&>", 0)
			rec.AddAttrs(slog.Bool("audit", true), slog.String("principal", "a\nb\t\x01\\"), slog.Int("n", -42),
				slog.Uint64("u", 7), slog.Time("expiresAt", when.Add(time.Hour)), slog.Bool("f", false))
			var fast, std bytes.Buffer
			lw := &lockedWriter{w: &fast}
			if err := newHandler(lw, standard(lw)).Handle(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			if err := standard(&std).Handle(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			if fast.String() != std.String() {
				t.Errorf("fast path:\n%s\nslog:\n%s", fast.String(), std.String())
			}
		}
	}
}

// Records the fast path does not take (groups, other kinds) still come out
// as slog writes them.
func TestOtherRecordsFallBack(t *testing.T) {
	var buf logtest.Buffer
	log := New(&buf)
	log.Info("with", "d", time.Second, "f", 1.5, slog.Group("g", "k", "v"))
	log.With("w", 1).Info("with attrs")
	out := buf.String()
	for _, want := range []string{`"d":1000000000`, `"f":1.5`, `"g":{"k":"v"}`, `"w":1`, `"message":"with attrs"`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in %s", want, out)
		}
	}
}

// A Buffered holds lines for at most FlushDelay, writes at once from
// WARNING up, and on Flush.
func TestBufferedFlushes(t *testing.T) {
	var out logtest.Buffer
	b := NewBuffered(&out)
	log := New(b)
	log.Info("held")
	if out.String() != "" {
		t.Fatalf("written before the delay: %s", out.String())
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(out.String(), "held") {
		if time.Now().After(deadline) {
			t.Fatal("a held line was not written within 2 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	log.Info("before the warning")
	log.Warn("now")
	if s := out.String(); !strings.Contains(s, "before the warning") || !strings.Contains(s, `"message":"now"`) {
		t.Fatalf("a warning did not flush: %s", s)
	}
	log.Info("last")
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "last") {
		t.Fatal("Flush left a line")
	}
}

// LogAttrs writes what Logger.LogAttrs writes, through New's handler and
// through any other.
func TestLogAttrsMatchesLogger(t *testing.T) {
	attrs := []slog.Attr{slog.Bool("audit", true), slog.String("a", "x\"y"), slog.Int("n", 3), slog.Time("at", time.Unix(1e9, 5).UTC()),
		slog.String("b", "1"), slog.String("c", "2"), slog.String("d", "3")}
	strip := func(s string) string { // the time field differs
		_, rest, _ := strings.Cut(s, `","severity"`)
		return rest
	}
	for _, extra := range [][]slog.Attr{nil, {slog.Float64("f", 1.5)}} {
		all := append(append([]slog.Attr{}, attrs...), extra...)
		var direct, viaLogger bytes.Buffer
		LogAttrs(context.Background(), New(&direct), slog.LevelInfo, "m", all...)
		New(&viaLogger).LogAttrs(context.Background(), slog.LevelInfo, "m", all...)
		if strip(direct.String()) != strip(viaLogger.String()) || direct.Len() == 0 {
			t.Errorf("LogAttrs:\n%s\nLogger.LogAttrs:\n%s", direct.String(), viaLogger.String())
		}
		var other bytes.Buffer
		LogAttrs(context.Background(), slog.New(slog.NewTextHandler(&other, nil)), slog.LevelInfo, "m", all...)
		if !strings.Contains(other.String(), `a="x\"y"`) {
			t.Errorf("through another handler: %s", other.String())
		}
	}
}

// A rendered run of attributes gives the line LogAttrs gives.
func TestLogRenderedMatchesLogAttrs(t *testing.T) {
	strip := func(s string) string {
		_, rest, _ := strings.Cut(s, `","severity"`)
		return rest
	}
	for _, attrs := range [][]slog.Attr{
		{slog.Bool("audit", true), slog.String("p", "a\u2028b"), slog.Time("at", time.Unix(1e9, 7).In(time.FixedZone("x", 3600)))},
		{slog.String("p", "x"), slog.Duration("d", time.Second)},
	} {
		var a, b bytes.Buffer
		LogRendered(context.Background(), New(&a), time.Now(), Render(slog.LevelInfo, "m", attrs...))
		LogAttrs(context.Background(), New(&b), slog.LevelInfo, "m", attrs...)
		if strip(a.String()) != strip(b.String()) || a.Len() == 0 {
			t.Errorf("LogRendered:\n%s\nLogAttrs:\n%s", a.String(), b.String())
		}
	}
}

// A rendered line written straight into a Buffered is the line slog's
// JSON handler writes at the same time, whatever its zone or fraction.
func TestLogRenderedIntoBuffered(t *testing.T) {
	attrs := []slog.Attr{slog.Bool("audit", true), slog.String("principal", "local-dev"), slog.Time("expiresAt", time.Unix(2e9, 0).UTC())}
	r := Render(slog.LevelInfo, "token ok", attrs...)
	base := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	var got, want bytes.Buffer
	gotLog, std := New(NewBuffered(&got)), standard(&want)
	for _, at := range []time.Time{
		base, base.Add(1), base.Add(123_456_789), base.Add(time.Second + 5_000), // a new second
		base.Add(time.Second + 7).In(time.FixedZone("y", 5*3600+45*60)), // same second, another zone
		time.Now(), // with a monotonic reading
	} {
		LogRendered(context.Background(), gotLog, at, r)
		rec := slog.NewRecord(at, slog.LevelInfo, "token ok", 0)
		rec.AddAttrs(attrs...)
		if err := std.Handle(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := gotLog.Handler().(*handler).w.w.(*Buffered).Flush(); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() || got.Len() == 0 {
		t.Errorf("rendered into a Buffered:\n%s\nslog:\n%s", got.String(), want.String())
	}
}
