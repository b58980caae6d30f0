package main

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestRatioAndResult(t *testing.T) {
	cases := []struct {
		name   string
		row    Row
		ratio  string
		result string
	}{
		{"ratio goal met", Row{Figure: 900, Baseline: 1000, Goal: Goal{OnRatio: true, Op: ">=", Value: 0.8}}, "0.90", "PASS"},
		{"ratio goal missed", Row{Figure: 700, Baseline: 1000, Goal: Goal{OnRatio: true, Op: ">=", Value: 0.8}}, "0.70", "MISS"},
		{"ratio at the bound", Row{Figure: 3, Baseline: 2, Goal: Goal{OnRatio: true, Op: "<=", Value: 1.5}}, "1.50", "PASS"},
		{"figure exactly", Row{Figure: 1, Baseline: 1000, Goal: Goal{Op: "==", Value: 1}}, "0.001", "PASS"},
		{"figure not exact", Row{Figure: 2, Baseline: 1000, Goal: Goal{Op: "==", Value: 1}}, "0.002", "MISS"},
		{"figure bound", Row{Figure: float64(120 * time.Millisecond), Baseline: float64(10 * time.Millisecond), Goal: Goal{Op: "<=", Value: float64(100 * time.Millisecond)}}, "12.00", "MISS"},
		{"tiny ratio", Row{Figure: 2, Baseline: 10000, Goal: Goal{Op: "<=", Value: 2}}, "0.0002", "PASS"},
		{"no baseline", Row{Figure: 5, Goal: Goal{OnRatio: true, Op: "<=", Value: 1.5}}, "—", "MISS"},
		{"setup failure", Row{Figure: 1, Baseline: 1, Goal: Goal{Op: "==", Value: 1}, Err: errors.New("boom")}, "—", "ERROR"},
	}
	for _, c := range cases {
		if got := formatRatio(c.row.Ratio()); got != c.ratio {
			t.Errorf("%s: ratio %s, want %s", c.name, got, c.ratio)
		}
		if got := c.row.Result(); got != c.result {
			t.Errorf("%s: result %s, want %s", c.name, got, c.result)
		}
	}
	if (Goal{Op: ">=", Value: 0}).Met(math.NaN()) {
		t.Error("NaN met a goal")
	}
}

func TestRender(t *testing.T) {
	rows := []Row{
		{ID: "1", Measure: "mint", Figure: 9000, Baseline: 10000, FigureText: "9,000 req/s", BaselineText: "10,000 req/s",
			Goal: Goal{OnRatio: true, Op: ">=", Value: 0.8, Text: "ratio ≥ 0.8"}},
		{ID: "2", Measure: "calls", Err: errors.New("no emulator:\n gcloud | missing"), Goal: Goal{Text: "exactly 1"}},
	}
	var b strings.Builder
	if err := Render(&b, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want header, separator and 2 rows:\n%s", len(lines), b.String())
	}
	width := len([]rune(lines[0]))
	for _, l := range lines {
		if len([]rune(l)) != width || !strings.HasPrefix(l, "| ") || !strings.HasSuffix(l, " |") || strings.Count(l, "|") != 8 {
			t.Errorf("misaligned or broken line %q", l)
		}
	}
	for _, want := range []string{"9,000 req/s", "10,000 req/s", "0.90", "ratio ≥ 0.8", "PASS", "setup failed: no emulator: gcloud / missing", "ERROR"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestFormatting(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 10000: "10,000", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%d) = %s, want %s", in, got, want)
		}
	}
	if got := ms(1500 * time.Microsecond); got != "1.50 ms" {
		t.Errorf("ms = %s", got)
	}
	if got := mib(48 << 20); got != "48.0 MiB" {
		t.Errorf("mib = %s", got)
	}
	sorted := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if p := percentile(sorted, 50); p != 5 {
		t.Errorf("p50 = %d", p)
	}
	if p := percentile(sorted, 99); p != 10 {
		t.Errorf("p99 = %d", p)
	}
	if m := median([]time.Duration{4, 1, 3, 2}); m != 2 {
		t.Errorf("median = %d", m)
	}
}
