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
	now := time.Now()
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
	head, zone string
}

// appendRecordTime appends t as time.RFC3339Nano does, formatting the
// date and zone once per second.
func (h *handler) appendRecordTime(b []byte, t time.Time) []byte {
	t = t.Round(0)
	sec := t.Unix()
	s := h.last.Load()
	if s == nil || s.sec != sec {
		if y := t.Year(); y < 0 || y >= 10000 {
			return t.AppendFormat(b, time.RFC3339Nano)
		}
		full := t.Truncate(time.Second).Format(time.RFC3339)
		// "2006-01-02T15:04:05" then "Z" or "±hh:mm".
		s = &stamp{sec: sec, head: full[:19], zone: full[19:]}
		h.last.Store(s)
	}
	b = append(b, s.head...)
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, s.zone...)
}

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

// Rendered is a run of attributes rendered once, for a line that repeats
// them (the token function's audit line of one caller, agent and
// credential): New's handler then writes only the time and the message
// per line.
type Rendered struct {
	attrs []slog.Attr
	json  []byte // nil: an attribute New's handler leaves to slog's
}

// Render renders attrs (copied) for LogRendered.
func Render(attrs ...slog.Attr) *Rendered {
	r := &Rendered{attrs: append([]slog.Attr(nil), attrs...)}
	var h handler
	var b []byte
	for _, a := range attrs {
		var ok bool
		if b, ok = h.appendAttr(b, a); !ok {
			return r
		}
	}
	r.json = append(b, '}', '\n')
	return r
}

// LogRendered writes the line LogAttrs(ctx, l, level, msg, the attributes
// of r...) writes, the same bytes through New's handler.
func LogRendered(ctx context.Context, l *slog.Logger, level slog.Level, msg string, r *Rendered) {
	h, ok := l.Handler().(*handler)
	if !ok || r.json == nil {
		LogAttrs(ctx, l, level, msg, r.attrs...)
		return
	}
	if level >= slog.LevelWarn {
		defer h.w.flush()
	}
	bp := bufPool.Get().(*[]byte)
	defer putBuf(bp)
	b := h.appendHead((*bp)[:0], time.Now(), level, msg)
	b = append(b, r.json...)
	*bp = b
	_, _ = h.w.Write(b)
}
