package token

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// decodeRequest keeps the last body it read directly with its request:
// the same bytes again give that request, any other bytes are read
// afresh, and a body the direct reader does not take is neither answered
// from nor kept in that memo. The content type is checked every time.
func TestDecodeRequestMemo(t *testing.T) {
	s := &Server{}
	decode := func(body, contentType string) (request, error) {
		r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		var req request
		err := s.decodeRequest(httptest.NewRecorder(), r, &req)
		return req, err
	}
	steps := []struct {
		body, contentType string
		want              request
		wantErr           bool
	}{
		{`{"connector":"A","agent":"a1"}`, "application/json", request{"A", "a1"}, false},
		{`{"connector":"A","agent":"a1"}`, "application/json", request{"A", "a1"}, false}, // from the memo
		{`{"connector":"A","agent":"a1"}`, "text/plain", request{}, true},                 // same bytes, refused type
		{`{"connector":"B","agent":"a1"}`, "application/json", request{"B", "a1"}, false},
		{`{"agent":"a2","connector":"A"}`, "application/json", request{"A", "a2"}, false},
		{`{ "connector": "C", "agent": "a3" }`, "application/json", request{"C", "a3"}, false}, // strict decoder
		{`{"agent":"a2","connector":"A"}`, "application/json", request{"A", "a2"}, false},      // still the memo's
		{`{"connector":"A","agent":"a1","extra":1}`, "application/json", request{}, true},
		{`{"connector":"A","agent":"a1"}`, "application/json", request{"A", "a1"}, false},
	}
	for i, st := range steps {
		got, err := decode(st.body, st.contentType)
		if (err != nil) != st.wantErr || (!st.wantErr && got != st.want) {
			t.Errorf("step %d, %s (%s): got %+v, %v; want %+v, error %v", i, st.body, st.contentType, got, err, st.want, st.wantErr)
		}
	}
	if last := s.lastBody.Load(); last == nil || last.req != (request{"A", "a1"}) {
		t.Errorf("memo holds %+v, want the last body read directly", last)
	}
	// A long body is read directly but not kept.
	long := `{"connector":"` + strings.Repeat("L", maxMemoBody) + `","agent":"a1"}`
	if got, err := decode(long, "application/json"); err != nil || got.Connector != strings.Repeat("L", maxMemoBody) {
		t.Errorf("long body: %v", err)
	}
	if last := s.lastBody.Load(); last.req != (request{"A", "a1"}) {
		t.Errorf("a body over %d bytes replaced the memo: %.40s", maxMemoBody, last.body)
	}
}
