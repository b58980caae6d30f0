package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestCloudLoggingFields(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf)
	log.Info("hello", "k", "v")
	log.Warn("careful")
	log.Error("broken")
	log.Debug("detail")
	want := []string{"INFO", "WARNING", "ERROR", "DEBUG"}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines: %s", len(lines), buf.String())
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if m["severity"] != want[i] || m["message"] == nil || m["level"] != nil || m["msg"] != nil {
			t.Fatalf("line %d: %v", i, m)
		}
	}
}
