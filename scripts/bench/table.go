package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Goal is what a row must reach: a comparison of either the figure itself
// or the figure/baseline ratio with a value.
type Goal struct {
	OnRatio bool    // compare the ratio, else the figure
	Op      string  // ">=", "<=" or "=="
	Value   float64 // the bound
	Text    string  // how the table shows it
}

// Met reports whether v satisfies the goal.
func (g Goal) Met(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	switch g.Op {
	case ">=":
		return v >= g.Value
	case "<=":
		return v <= g.Value
	case "==":
		return v == g.Value
	}
	return false
}

// Row is one measurement next to its baseline from the same run.
type Row struct {
	ID      string
	Measure string
	// Figure and Baseline are the numbers compared; FigureText and
	// BaselineText how they are shown (with units and detail).
	Figure, Baseline         float64
	FigureText, BaselineText string
	Goal                     Goal
	// Err is a setup failure: the row could not be measured.
	Err error
}

// Ratio is Figure/Baseline, NaN when there is no baseline.
func (r Row) Ratio() float64 {
	if r.Err != nil || r.Baseline == 0 || math.IsNaN(r.Baseline) {
		return math.NaN()
	}
	return r.Figure / r.Baseline
}

// Result is PASS or MISS against the goal, or ERROR for a setup failure.
func (r Row) Result() string {
	if r.Err != nil {
		return "ERROR"
	}
	v := r.Figure
	if r.Goal.OnRatio {
		v = r.Ratio()
	}
	if r.Goal.Met(v) {
		return "PASS"
	}
	return "MISS"
}

// formatRatio shows small ratios with enough digits to be read.
func formatRatio(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "—"
	case v == 0:
		return "0"
	case math.Abs(v) < 0.01:
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// Render writes rows as one Markdown table, columns padded to line up.
func Render(w io.Writer, rows []Row) error {
	cells := [][]string{{"#", "measure", "figure", "baseline (same run)", "ratio", "goal", "result"}}
	for _, r := range rows {
		fig, base := r.FigureText, r.BaselineText
		if r.Err != nil {
			fig, base = "setup failed: "+oneLine(r.Err.Error()), "—"
		}
		cells = append(cells, []string{r.ID, r.Measure, fig, base, formatRatio(r.Ratio()), r.Goal.Text, r.Result()})
	}
	widths := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(row []string) {
		b.WriteString("|")
		for i, c := range row {
			b.WriteString(" " + c + strings.Repeat(" ", widths[i]-len([]rune(c))) + " |")
		}
		b.WriteString("\n")
	}
	line(cells[0])
	sep := make([]string, len(widths))
	for i, n := range widths {
		sep[i] = strings.Repeat("-", n)
	}
	line(sep)
	for _, row := range cells[1:] {
		line(row)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 120 {
		s = string(r[:117]) + "..."
	}
	return strings.ReplaceAll(s, "|", "/")
}

// ms shows a duration in milliseconds.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
}

// thousands shows n with thousands separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// mib shows a byte count in MiB.
func mib(b int64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
