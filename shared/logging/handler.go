package logging

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// handler writes what slog.JSONHandler with New's ReplaceAttr writes, the
// same bytes, for the records every request leaves (the token function's
// audit line above all): a flat record whose attributes are strings, bools,
// integers and times is appended by hand to a pooled buffer, with the
// record's time formatted from a per-second cache. Anything else (groups,
// WithAttrs, other kinds of values) is handed to the standard handler, so
// the output never depends on which path wrote it.
type handler struct {
	w        syncWriter
	std      slog.Handler // the standard JSON handler on the same writer
	last     atomic.Pointer[stamp]
	lastAttr atomic.Pointer[lastTime]
}

// syncWriter serialises the writes of both paths (slog's handler locks its
// own mutex too, which is not shared with the fast path).
type syncWriter = *lockedWriter

func newHandler(w *lockedWriter, std slog.Handler) *handler {
	return &handler{w: w, std: std}
}

func (h *handler) Enabled(context.Context, slog.Level) bool { return true }

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler { return h.std.WithAttrs(attrs) }

func (h *handler) WithGroup(name string) slog.Handler { return h.std.WithGroup(name) }

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		defer h.w.flush()
	}
	if r.Time.IsZero() {
		return h.std.Handle(ctx, r)
	}
	bp := bufPool.Get().(*[]byte)
	defer putBuf(bp)
	b := h.appendHead((*bp)[:0], r.Time, r.Level, r.Message)
	simple := true
	r.Attrs(func(a slog.Attr) bool {
		b, simple = h.appendAttr(b, a)
		return simple
	})
	*bp = b
	if !simple {
		return h.std.Handle(ctx, r)
	}
	b = append(b, '}', '\n')
	*bp = b
	_, err := h.w.Write(b)
	return err
}

// LogAttrs is l.LogAttrs without what slog adds per call: the caller's
// program counter (runtime.Callers, for a source location New's lines do
// not carry) and a Record that copies attributes past its fifth to the
// heap. Through New's handler the line is written straight from attrs
// (the same bytes); through any other handler, as slog.Logger writes it.
// The token function's audit line, one per request, goes through here.
func LogAttrs(ctx context.Context, l *slog.Logger, level slog.Level, msg string, attrs ...slog.Attr) {
	logAttrsAt(ctx, l, time.Now(), level, msg, attrs)
}

func logAttrsAt(ctx context.Context, l *slog.Logger, now time.Time, level slog.Level, msg string, attrs []slog.Attr) {
	if h, ok := l.Handler().(*handler); ok {
		h.direct(ctx, now, level, msg, attrs)
		return
	}
	if !l.Handler().Enabled(ctx, level) {
		return
	}
	r := slog.NewRecord(now, level, msg, 0)
	r.AddAttrs(attrs...)
	_ = l.Handler().Handle(ctx, r)
}

func (h *handler) direct(ctx context.Context, t time.Time, level slog.Level, msg string, attrs []slog.Attr) {
	if level >= slog.LevelWarn {
		defer h.w.flush()
	}
	bp := bufPool.Get().(*[]byte)
	defer putBuf(bp)
	b := h.appendHead((*bp)[:0], t, level, msg)
	for _, a := range attrs {
		var ok bool
		if b, ok = h.appendAttr(b, a); !ok {
			r := slog.NewRecord(t, level, msg, 0)
			r.AddAttrs(attrs...)
			_ = h.std.Handle(ctx, r)
			return
		}
	}
	b = append(b, '}', '\n')
	*bp = b
	_, _ = h.w.Write(b)
}

func putBuf(bp *[]byte) {
	if cap(*bp) <= 16<<10 {
		bufPool.Put(bp)
	}
}

// appendHead appends the line's opening: time, severity and message.
func (h *handler) appendHead(b []byte, t time.Time, level slog.Level, msg string) []byte {
	b = append(b, `{"time":"`...)
	b = h.appendRecordTime(b, t)
	return h.appendHeadAfterTime(b, level, msg)
}

// appendHeadAfterTime appends what follows the time in the opening.
func (h *handler) appendHeadAfterTime(b []byte, level slog.Level, msg string) []byte {
	b = append(b, `","severity":"`...)
	b = append(b, severity(level)...)
	b = append(b, `","message":"`...)
	b = appendString(b, msg)
	return append(b, '"')
}

// appendAttr appends a as slog's JSON handler would; false for an
// attribute it leaves to that handler (b is then to be dropped).
func (h *handler) appendAttr(b []byte, a slog.Attr) ([]byte, bool) {
	v := a.Value
	if a.Key == "" {
		return b, false
	}
	b = append(b, ',', '"')
	b = appendString(b, a.Key)
	b = append(b, '"', ':')
	switch v.Kind() {
	case slog.KindString:
		b = append(b, '"')
		b = appendString(b, v.String())
		b = append(b, '"')
	case slog.KindBool:
		if v.Bool() {
			b = append(b, "true"...)
		} else {
			b = append(b, "false"...)
		}
	case slog.KindInt64:
		b = appendInt(b, v.Int64())
	case slog.KindUint64:
		b = appendUint(b, v.Uint64())
	case slog.KindTime:
		t := v.Time()
		if y := t.Year(); y < 0 || y >= 10000 {
			return b, false // slog writes its own error text for these
		}
		b = append(b, '"')
		b = h.appendTime(b, t)
		b = append(b, '"')
	default:
		return b, false
	}
	return b, true
}

// lastTime is the last time attribute formatted: a credential's expiry
// repeats on every request it answers.
type lastTime struct {
	t   time.Time
	out string
}

// appendTime appends t as RFC3339Nano, reusing the last one formatted.
func (h *handler) appendTime(b []byte, t time.Time) []byte {
	if l := h.lastAttr.Load(); l != nil && l.t.Equal(t) && l.t.Location() == t.Location() {
		return append(b, l.out...)
	}
	out := t.Round(0).Format(time.RFC3339Nano)
	h.lastAttr.Store(&lastTime{t: t, out: out})
	return append(b, out...)
}

// stamp is the formatted second of the last record: RFC 3339 up to the
// seconds, and the zone, which RFC3339Nano puts after the fraction.
type stamp struct {
	sec        int64
	loc        *time.Location
	head, zone string
}

// appendRecordTime appends t as time.RFC3339Nano does, formatting the
// date and zone once per second.
func (h *handler) appendRecordTime(b []byte, t time.Time) []byte {
	sec := t.Unix()
	s := h.last.Load()
	if s == nil || s.sec != sec || s.loc != t.Location() {
		t = t.Round(0)
		if y := t.Year(); y < 0 || y >= 10000 {
			return t.AppendFormat(b, time.RFC3339Nano)
		}
		full := t.Truncate(time.Second).Format(time.RFC3339)
		// "2006-01-02T15:04:05" then "Z" or "±hh:mm".
		s = &stamp{sec: sec, loc: t.Location(), head: full[:19], zone: full[19:]}
		h.last.Store(s)
	}
	b = append(b, s.head...)
	if ns := uint32(t.Nanosecond()); ns != 0 {
		// Nine digits, two at a time, then the trailing zeros dropped.
		var frac [10]byte
		frac[0] = '.'
		frac[9] = byte('0' + ns%10)
		ns /= 10
		for i := 7; i >= 1; i -= 2 {
			d := ns % 100 * 2
			frac[i], frac[i+1] = digitPairs[d], digitPairs[d+1]
			ns /= 100
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, s.zone...)
}

// digitPairs is "00" to "99", two bytes each.
const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		return appendUint(append(b, '-'), uint64(-v))
	}
	return appendUint(b, uint64(v))
}

func appendUint(b []byte, v uint64) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s escaped as slog's JSON handler escapes it: ", \
// and control characters, invalid UTF-8 as \ufffd, U+2028 and U+2029.
func appendString(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// Rendered is a line rendered once but for its time, for a line that
// repeats (the token function's audit line of one caller, agent and
// credential): New's handler then formats only the time per line.
type Rendered struct {
	level slog.Level
	msg   string
	attrs []slog.Attr
	tail  []byte // the line after the time; nil: an attribute New's handler leaves to slog's
}

// Render renders a line of level, msg and attrs (copied) for LogRendered.
func Render(level slog.Level, msg string, attrs ...slog.Attr) *Rendered {
	r := &Rendered{level: level, msg: msg, attrs: append([]slog.Attr(nil), attrs...)}
	var h handler
	b := h.appendHeadAfterTime(nil, level, msg)
	for _, a := range attrs {
		var ok bool
		if b, ok = h.appendAttr(b, a); !ok {
			return r
		}
	}
	r.tail = append(b, '}', '\n')
	return r
}

// LogRendered writes the line LogAttrs(ctx, l, r's level, message and
// attributes...) writes at time t (the caller's reading of the clock), the
// same bytes through New's handler.
func LogRendered(ctx context.Context, l *slog.Logger, t time.Time, r *Rendered) {
	h, ok := l.Handler().(*handler)
	if !ok || r.tail == nil {
		logAttrsAt(ctx, l, t, r.level, r.msg, r.attrs)
		return
	}
	if r.level >= slog.LevelWarn {
		defer h.w.flush()
	}
	if bw, ok := h.w.w.(*Buffered); ok {
		// Buffered's own lock keeps lines whole.
		_ = bw.writeRendered(h, t, r)
		return
	}
	bp := bufPool.Get().(*[]byte)
	defer putBuf(bp)
	*bp = h.appendRenderedLine((*bp)[:0], t, r)
	_, _ = h.w.Write(*bp)
}

// appendRenderedLine appends r's line at t.
func (h *handler) appendRenderedLine(b []byte, t time.Time, r *Rendered) []byte {
	b = append(b, `{"time":"`...)
	b = h.appendRecordTime(b, t)
	return append(b, r.tail...)
}
