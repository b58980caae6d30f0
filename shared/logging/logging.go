// Package logging writes structured JSON log lines that Cloud Logging
// understands: "severity" instead of slog's "level", "message" instead of
// "msg", and "time" in RFC 3339.
package logging

import (
	"io"
	"log/slog"
	"sync"
)

// New returns a JSON logger writing to w (os.Stdout in production: Cloud
// Run forwards it to Cloud Logging line by line; a Buffered in front of it
// batches the lines). Each line is one Write.
func New(w io.Writer) *slog.Logger {
	lw := &lockedWriter{w: w}
	return slog.New(newHandler(lw, standard(lw)))
}

// lockedWriter makes the two paths of handler write whole lines one at a
// time.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// flush writes out what a Buffered underneath holds.
func (l *lockedWriter) flush() {
	if f, ok := l.w.(flusher); ok {
		_ = f.Flush()
	}
}

// standard is slog's JSON handler with Cloud Logging's field names.
func standard(w io.Writer) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.LevelKey:
				return slog.String("severity", severity(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				a.Key = "message"
			}
			return a
		},
	})
}

// severity maps slog levels onto Cloud Logging's LogSeverity names.
func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	}
	return "DEBUG"
}
