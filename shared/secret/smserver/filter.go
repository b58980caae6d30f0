package smserver

import (
	"strings"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The filter language here is the subset of Secret Manager's list filtering
// (https://cloud.google.com/secret-manager/docs/filtering) that tests need:
//
//	term      = ["NOT " | "-"] field op value
//	op        = ":" | "=" | "!="
//	filter    = term { [" AND "] term }        (all terms must hold)
//
// Fields for ListSecrets: name (":" is substring, "=" is the full name or the
// secret id), labels.KEY (":*" tests presence, otherwise equality). Fields for
// ListSecretVersions: name, state (ENABLED, DISABLED, DESTROYED; case
// insensitive). Values may be double-quoted. Anything else — OR,
// parentheses, regular expressions, comparisons — is rejected with
// INVALID_ARGUMENT, never ignored.

type fieldSet int

const (
	secretFields fieldSet = iota
	versionFields
)

type term struct {
	negate bool
	field  string // "name", "state" or "labels.KEY"
	op     string
	value  string
}

type filter []term

func parseFilter(src string, fields fieldSet) (filter, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	var f filter
	negate := false
	for _, tok := range toks {
		switch tok {
		case "AND":
			continue
		case "NOT":
			negate = !negate
			continue
		case "OR":
			return nil, status.Error(codes.InvalidArgument, "filter: OR is not supported by smserver")
		}
		if rest, ok := strings.CutPrefix(tok, "-"); ok {
			negate, tok = !negate, rest
		}
		t, err := parseTerm(tok, fields)
		if err != nil {
			return nil, err
		}
		t.negate = negate
		negate = false
		f = append(f, t)
	}
	if negate {
		return nil, status.Error(codes.InvalidArgument, "filter: NOT without a term")
	}
	return f, nil
}

// tokenize splits on spaces outside double quotes and strips the quotes.
func tokenize(src string) ([]string, error) {
	var toks []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range src {
		switch {
		case r == '"':
			inQuote, have = !inQuote, true
		case r == ' ' && !inQuote:
			if have {
				toks = append(toks, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if inQuote {
		return nil, status.Error(codes.InvalidArgument, "filter: unterminated quote")
	}
	if have {
		toks = append(toks, cur.String())
	}
	return toks, nil
}

func parseTerm(tok string, fields fieldSet) (term, error) {
	i := strings.IndexAny(tok, ":=!")
	if i <= 0 {
		return term{}, status.Errorf(codes.InvalidArgument, "filter: cannot parse term %q", tok)
	}
	t := term{field: tok[:i]}
	switch rest := tok[i:]; {
	case strings.HasPrefix(rest, "!="):
		t.op, t.value = "!=", rest[2:]
	case rest[0] == ':' || rest[0] == '=':
		t.op, t.value = rest[:1], rest[1:]
	default:
		return term{}, status.Errorf(codes.InvalidArgument, "filter: cannot parse term %q", tok)
	}
	ok := t.field == "name"
	switch fields {
	case secretFields:
		if k, isLabel := strings.CutPrefix(t.field, "labels."); isLabel && k != "" {
			ok = true
		}
	case versionFields:
		if t.field == "state" {
			t.value = strings.ToUpper(t.value)
			if _, known := secretmanagerpb.SecretVersion_State_value[t.value]; !known {
				return term{}, status.Errorf(codes.InvalidArgument, "filter: unknown state %q", t.value)
			}
			ok = true
		}
	}
	if !ok {
		return term{}, status.Errorf(codes.InvalidArgument, "filter: field %q is not supported by smserver", t.field)
	}
	return t, nil
}

func (f filter) matchSecret(m *secretmanagerpb.Secret) bool {
	return f.match(func(t term) bool {
		if t.field == "name" {
			return matchName(t, m.GetName())
		}
		v, present := m.GetLabels()[strings.TrimPrefix(t.field, "labels.")]
		if t.op == ":" && t.value == "*" {
			return present
		}
		return present && v == t.value
	})
}

func (f filter) matchVersion(m *secretmanagerpb.SecretVersion) bool {
	return f.match(func(t term) bool {
		if t.field == "name" {
			return matchName(t, m.GetName())
		}
		return m.GetState().String() == t.value
	})
}

// match applies "!=" as the negation of "=" so each field only defines
// equality and ":".
func (f filter) match(holds func(term) bool) bool {
	for _, t := range f {
		want := !t.negate
		if t.op == "!=" {
			t.op, want = "=", !want
		}
		if holds(t) != want {
			return false
		}
	}
	return true
}

func matchName(t term, name string) bool {
	if t.op == ":" {
		return strings.Contains(name, t.value)
	}
	return name == t.value || name[strings.LastIndex(name, "/")+1:] == t.value
}
