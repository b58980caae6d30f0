package httpx

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// encoding/json matches object keys to struct fields case-insensitively
// (with Unicode folding: "ſcope" is "scope", "\u212a" is "k") and lets the
// last of a repeated key win. Two readers of the same body could then
// disagree on what it says, and {"agent":"a","AGENT":"b"} silently means
// "b". checkKeys walks the raw body before encoding/json sees it and
// refuses, naming the field:
//
//   - a key that is not exactly a field's json name, case-variants included;
//   - a key given twice in one object, at any depth (maps included), compared
//     after unescaping, as encoding/json compares them.
//
// It walks bytes in place, allocating only for keys that carry escapes or
// non-ASCII bytes, and for objects of many free-form keys.

// maxDepth bounds nesting: no request nests more than a few levels, and the
// walk is recursive.
const maxDepth = 64

// shape says how the keys of one JSON value are checked.
type shape struct {
	kind   shapeKind
	fields map[string]int // struct: exact json name → index in names/elems
	names  []string
	elems  []*shape // struct: each field's shape; map/slice: elems[0]
}

type shapeKind uint8

const (
	shapeAny    shapeKind = iota // any value; objects inside: duplicates refused
	shapeStruct                  // object whose keys are exactly the fields' json names
	shapeMap                     // object of free keys, each value elems[0]
	shapeSlice                   // array of elems[0]
)

var anyShape = &shape{kind: shapeAny}

var shapes sync.Map // reflect.Type → *shape

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func shapeOf(t reflect.Type) *shape {
	if s, ok := shapes.Load(t); ok {
		return s.(*shape)
	}
	s := buildShape(t, map[reflect.Type]*shape{})
	shapes.Store(t, s)
	return s
}

func buildShape(t reflect.Type, building map[reflect.Type]*shape) *shape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s, ok := building[t]; ok {
		return s // a recursive type: the shape under construction
	}
	// A type that decodes itself owns its keys; only duplicates are checked.
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) ||
		t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return anyShape
	}
	switch t.Kind() {
	case reflect.Struct:
		s := &shape{kind: shapeStruct, fields: map[string]int{}}
		building[t] = s
		addFields(s, t, building)
		return s
	case reflect.Map:
		s := &shape{kind: shapeMap}
		building[t] = s
		s.elems = []*shape{buildShape(t.Elem(), building)}
		return s
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return anyShape // []byte is a base64 string
		}
		s := &shape{kind: shapeSlice}
		building[t] = s
		s.elems = []*shape{buildShape(t.Elem(), building)}
		return s
	}
	return anyShape
}

// addFields adds t's fields as encoding/json names them: the json tag's
// name, else the Go name; "-" skipped; untagged embedded structs flattened.
func addFields(s *shape, t reflect.Type, building map[reflect.Type]*shape) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addFields(s, ft, building)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := s.fields[name]; dup {
			continue // encoding/json ignores both; the decode reports it as unknown
		}
		s.fields[name] = len(s.names)
		s.names = append(s.names, name)
		s.elems = append(s.elems, buildShape(f.Type, building))
	}
}

// keyError is a refused key; path is built on the way out, innermost last.
type keyError struct {
	path []string
	msg  string
}

// errSyntax and errTruncated end the walk on malformed input; encoding/json
// then reports the syntax error itself.
var (
	errSyntax    = errors.New("syntax")
	errTruncated = errors.New("truncated")
	errDepth     = errors.New("depth")
)

type walker struct {
	b []byte
	i int
}

func (w *walker) ws() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// checkKeys walks one JSON value at the start of b against the shape of
// v's type and returns the offset after it.
func checkKeys(b []byte, v any) (int, error) {
	w := walker{b: b}
	w.ws()
	if w.i == len(b) {
		return 0, errEmpty
	}
	if err := w.value(shapeOf(reflect.TypeOf(v)), 0); err != nil {
		return 0, err
	}
	w.ws()
	return w.i, nil
}

var errEmpty = errors.New("empty")

func (w *walker) value(s *shape, depth int) error {
	if depth > maxDepth {
		return errDepth
	}
	if w.i >= len(w.b) {
		return errTruncated
	}
	switch c := w.b[w.i]; c {
	case '{':
		w.i++
		return w.object(s, depth)
	case '[':
		w.i++
		elem := anyShape
		if s.kind == shapeSlice {
			elem = s.elems[0]
		}
		if w.closes(']') {
			return nil
		}
		for {
			w.ws()
			if err := w.value(elem, depth+1); err != nil {
				return err
			}
			if done, err := w.next(']'); done || err != nil {
				return err
			}
		}
	case '"':
		_, _, err := w.str()
		return err
	default:
		// A number or literal: its characters up to a delimiter; encoding/json
		// judges whether they are valid.
		start := w.i
		for w.i < len(w.b) && !isDelim(w.b[w.i]) {
			w.i++
		}
		if w.i == start {
			return errSyntax
		}
		return nil
	}
}

func isDelim(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r', ':', '"', '{', '[':
		return true
	}
	return false
}

// str skips the string at w.i and returns its raw content and whether that
// needs unescaping (escapes, or bytes encoding/json may rewrite).
func (w *walker) str() (raw []byte, plain bool, err error) {
	start := w.i + 1
	j := start
	for {
		k := bytes.IndexByte(w.b[j:], '"')
		if k < 0 {
			return nil, false, errTruncated
		}
		j += k
		// The quote ends the string unless an odd run of backslashes
		// escapes it.
		n := 0
		for p := j - 1; p >= start && w.b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			break
		}
		j++
	}
	raw = w.b[start:j]
	w.i = j + 1
	plain = true
	for _, c := range raw {
		if c == '\\' || c >= utf8.RuneSelf || c < 0x20 {
			plain = false
			break
		}
	}
	return raw, plain, nil
}

// closes steps past closing if it comes next: an empty array or object.
func (w *walker) closes(closing byte) bool {
	w.ws()
	if w.i < len(w.b) && w.b[w.i] == closing {
		w.i++
		return true
	}
	return false
}

// next steps past what follows an array element or object member: a comma
// (more to come) or the closing bracket (done).
func (w *walker) next(closing byte) (done bool, err error) {
	w.ws()
	if w.i >= len(w.b) {
		return false, errTruncated
	}
	switch w.b[w.i] {
	case ',':
		w.i++
		return false, nil
	case closing:
		w.i++
		return true, nil
	default:
		return false, errSyntax
	}
}

func (w *walker) object(s *shape, depth int) error {
	var (
		seenBits uint64   // struct fields seen, when there are at most 64
		seenMany []bool   // struct fields seen, beyond 64
		keys     [][]byte // free-form keys seen, while few
		keySet   map[string]struct{}
	)
	if s.kind == shapeStruct && len(s.names) > 64 {
		seenMany = make([]bool, len(s.names))
	}
	if w.closes('}') {
		return nil
	}
	for {
		w.ws()
		if w.i >= len(w.b) {
			return errTruncated
		}
		if w.b[w.i] != '"' {
			return errSyntax
		}
		raw, plain, err := w.str()
		if err != nil {
			return err
		}
		key := raw
		if !plain {
			// Compare keys as encoding/json sees them: unescaped, invalid
			// UTF-8 replaced.
			var k string
			if json.Unmarshal(w.b[w.i-len(raw)-2:w.i], &k) != nil {
				return errSyntax
			}
			key = []byte(k)
		}
		w.ws()
		if w.i >= len(w.b) {
			return errTruncated
		}
		if w.b[w.i] != ':' {
			return errSyntax
		}
		w.i++
		w.ws()

		elem := anyShape
		switch s.kind {
		case shapeStruct:
			idx, ok := s.fields[string(key)]
			if !ok {
				return &keyError{path: []string{string(key)}, msg: unknownMessage(s, key)}
			}
			if seenMany != nil {
				if seenMany[idx] {
					return &keyError{path: []string{string(key)}, msg: "is given more than once"}
				}
				seenMany[idx] = true
			} else {
				if seenBits&(1<<idx) != 0 {
					return &keyError{path: []string{string(key)}, msg: "is given more than once"}
				}
				seenBits |= 1 << idx
			}
			elem = s.elems[idx]
		default:
			if s.kind == shapeMap {
				elem = s.elems[0]
			}
			dup := false
			if keySet != nil {
				_, dup = keySet[string(key)]
				keySet[string(key)] = struct{}{}
			} else {
				for _, k := range keys {
					dup = dup || bytes.Equal(k, key)
				}
				keys = append(keys, key)
				if len(keys) > 16 {
					// Many keys: a set, so a large object stays linear.
					keySet = make(map[string]struct{}, 2*len(keys))
					for _, k := range keys {
						keySet[string(k)] = struct{}{}
					}
				}
			}
			if dup {
				return &keyError{path: []string{string(key)}, msg: "is given more than once"}
			}
		}

		if err := w.value(elem, depth+1); err != nil {
			var ke *keyError
			if errors.As(err, &ke) {
				ke.path = append(ke.path, string(key))
			}
			return err
		}
		if done, err := w.next('}'); done || err != nil {
			return err
		}
	}
}

func (e *keyError) Error() string { return e.field() + " " + e.msg }

// field is the dotted path of the refused key, each part shortened and
// quoted when it is not plain printable text: it is the caller's own input,
// echoed back.
func (e *keyError) field() string {
	var sb strings.Builder
	for i := len(e.path) - 1; i >= 0; i-- {
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(displayKey(e.path[i]))
	}
	return sb.String()
}

func displayKey(k string) string {
	const max = 64
	if len(k) > max {
		k = strings.ToValidUTF8(k[:max], "") + "…"
	}
	for _, r := range k {
		if r < 0x21 || r > 0x7e || r == '.' || r == '"' {
			return strconv.Quote(k)
		}
	}
	return k
}

func unknownMessage(s *shape, key []byte) string {
	for _, name := range s.names {
		if strings.EqualFold(name, string(key)) {
			return "is not a known field; field names are case-sensitive: did you mean " + strconv.Quote(name) + "?"
		}
	}
	return "is not a known field"
}

// keysError maps a walk failure to the request's error; nil means the walk
// could not judge the body and encoding/json should report its syntax.
func keysError(err error) error {
	var ke *keyError
	switch {
	case errors.As(err, &ke):
		return FieldError(ke.field(), "%s", ke.msg)
	case errors.Is(err, errEmpty):
		return Errorf(http.StatusBadRequest, CodeInvalidArgument, "request body is empty; send a JSON object")
	case errors.Is(err, errTruncated):
		return Errorf(http.StatusBadRequest, CodeInvalidArgument, "request body is truncated JSON")
	case errors.Is(err, errDepth):
		return Errorf(http.StatusBadRequest, CodeInvalidArgument, "request body nests deeper than %d levels", maxDepth)
	}
	return nil
}
