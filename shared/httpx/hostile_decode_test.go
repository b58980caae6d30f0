package httpx

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"connectors.dev/connectors/shared/connector"
)

// The request shapes of the functions, as they declare them.
type (
	hostileToken struct {
		Connector string `json:"connector"`
		Agent     string `json:"agent"`
	}
	hostileUpdate struct {
		Name     string           `json:"name"`
		Revision string           `json:"revision"`
		Changes  *connector.Input `json:"changes"`
	}
	hostileFiles struct {
		Op    string   `json:"op"`
		URI   string   `json:"uri"`
		Agent string   `json:"agent"`
		Data  rawField `json:"data"`
	}
)

// rawField decodes itself, as the files function's base64 data does.
type rawField struct{ raw []byte }

func (f *rawField) UnmarshalJSON(b []byte) error {
	f.raw = append(f.raw[:0], b...)
	return nil
}

func postJSON(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// TestHostileKeys: each body was accepted before, one of its values
// silently winning; each is now 400 invalid_argument naming the field.
func TestHostileKeys(t *testing.T) {
	tests := []struct {
		name, body, field string
		v                 func() any
		msg               string
	}{
		{"case-variant repeat", `{"agent":"a","AGENT":"b"}`, "AGENT", tok, `did you mean "agent"`},
		{"case-variant alone", `{"connector":"c","Agent":"a"}`, "Agent", tok, `did you mean "agent"`},
		{"exact repeat", `{"agent":"a","connector":"c","agent":"b"}`, "agent", tok, "more than once"},
		{"escaped repeat", `{"agent":"a","\u0061gent":"b"}`, "agent", tok, "more than once"},
		{"unicode fold: long s", `{"\u017fcope":"x"}`, `"ſcope"`, input, "not a known field"},
		{"unicode fold: kelvin", `{"refreshTo\u212aen":"x"}`, "\"refreshTo\u212aen\"", input, "not a known field"},
		{"repeat inside changes", `{"name":"n","revision":"r","changes":{"scope":"a","scope":"b"}}`, "changes.scope", update, "more than once"},
		{"case-variant inside changes", `{"name":"n","changes":{"ClientSecret":"x"}}`, "changes.ClientSecret", update, `did you mean "clientSecret"`},
		{"repeat inside extraParams", `{"name":"n","changes":{"extraParams":{"audience":"a","x":"1","audience":"b"}}}`, "changes.extraParams.audience", update, "more than once"},
		{"escaped repeat inside extraParams", `{"extraParams":{"audience":"a","\u0061udience":"b"}}`, "extraParams.audience", input, "more than once"},
		{"repeat among many extraParams", `{"extraParams":{` + manyParams(40) + `,"p7":"again"}}`, "extraParams.p7", input, "more than once"},
		{"repeated array", `{"agents":["a"],"agents":["b"]}`, "agents", input, "more than once"},
		{"repeated changes", `{"name":"n","changes":{},"changes":{"url":"https://x"}}`, "changes", update, "more than once"},
		{"repeat of a self-decoding field", `{"op":"write","data":"QQ==","data":"Qg=="}`, "data", files, "more than once"},
		{"case-variant op", `{"op":"read","OP":"delete"}`, "OP", files, `did you mean "op"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Map(DecodeJSON(httptest.NewRecorder(), postJSON(tt.body), tt.v()))
			if e.Status != 400 || e.Code != CodeInvalidArgument || e.Field != tt.field || !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("got %d %s field %q %q; want 400 invalid_argument field %q with %q", e.Status, e.Code, e.Field, e.Message, tt.field, tt.msg)
			}
		})
	}
}

func tok() any    { return &hostileToken{} }
func input() any  { return &connector.Input{} }
func update() any { return &hostileUpdate{} }
func files() any  { return &hostileFiles{} }

func manyParams(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, `"p`+string(rune('0'+i/10))+string(rune('0'+i%10))+`":"v"`)
	}
	return strings.Join(parts, ",") + `,"p7":"first"`
}

// TestHostileDuplicateSecretNotEchoed: refusing a repeated write-only field
// names it and quotes neither value.
func TestHostileDuplicateSecretNotEchoed(t *testing.T) {
	const a, b = "s3cret-first-VALUE", "s3cret-second-VALUE"
	for _, body := range []string{
		`{"clientSecret":"` + a + `","clientSecret":"` + b + `"}`,
		`{"password":"` + a + `","Password":"` + b + `"}`,
		`{"refreshToken":"` + a + `","extraParams":{"k":"` + a + `","k":"` + b + `"}}`,
	} {
		e := Map(DecodeJSON(httptest.NewRecorder(), postJSON(body), &connector.Input{}))
		if e.Status != 400 || e.Field == "" {
			t.Fatalf("%s: got %d field %q", body, e.Status, e.Field)
		}
		if strings.Contains(e.Message+e.Field, "s3cret") {
			t.Fatalf("error echoes a secret value: %q %q", e.Field, e.Message)
		}
	}
}

// TestStrictDecodeStillAccepts: exact keys, escapes encoding/json would
// unescape to the same exact name, nested values and large bodies decode as
// before; nesting beyond any request's shape is refused without recursion
// running away.
func TestStrictDecodeStillAccepts(t *testing.T) {
	var u hostileUpdate
	body := `{"name":"n","revision":"r","changes":{"\u0073cope":"a b","agents":["x","y"],"extraParams":{"audience":"a","Audience":"b"},"active":true}}`
	if err := DecodeJSON(httptest.NewRecorder(), postJSON(body), &u); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if u.Changes == nil || *u.Changes.Scope != "a b" || len(*u.Changes.ExtraParams) != 2 || !*u.Changes.Active {
		t.Fatalf("decoded %+v", u.Changes)
	}
	deep := `{"agents":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`
	if e := Map(DecodeJSON(httptest.NewRecorder(), postJSON(deep), &connector.Input{})); e.Status != 400 {
		t.Fatalf("deep nesting: %+v", e)
	}
	for _, bad := range []string{`{"agent":"a"`, `{"agent" "a"}`, `{"agent":"a",}`, `{"agent":tru}`, `{"agent":"a\"}`} {
		if e := Map(DecodeJSON(httptest.NewRecorder(), postJSON(bad), &hostileToken{})); e.Status != 400 || e.Code != CodeInvalidArgument {
			t.Fatalf("%s: %+v", bad, e)
		}
	}
}

// FuzzStrictDecode: whatever the strict decoder accepts, encoding/json's own
// strict decoding accepts too and reads the same value; the walk never
// accepts a body encoding/json would refuse, nor panics.
func FuzzStrictDecode(f *testing.F) {
	for _, seed := range []string{
		`{"name":"n","revision":"r","changes":{"scope":"a","extraParams":{"a":"b"},"agents":["x"]}}`,
		`{"name":"n","changes":{"\u0073cope":"a\"b\\"}}`,
		`{"name":"n","name":"m"}`,
		`{"NAME":"n"}`,
		` {"name" : "n" , "changes" : null } `,
		`{"changes":{"active":true,"extraParams":{}}}x`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got hostileUpdate
		if DecodeBytes(body, &got) != nil {
			return
		}
		var want hostileUpdate
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("strict decoder accepted what encoding/json refuses (%v): %q", err, body)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded %+v, encoding/json %+v: %q", got, want, body)
		}
	})
}
