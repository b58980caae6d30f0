package connector

import (
	"encoding/base64"
	"unicode/utf8"
)

// Size is the page size a store applies: DefaultPageSize when unset, capped
// at MaxPageSize.
func (o ListOptions) Size() int {
	switch {
	case o.PageSize <= 0:
		return DefaultPageSize
	case o.PageSize > MaxPageSize:
		return MaxPageSize
	}
	return o.PageSize
}

// EncodePageToken makes the token of the page that follows the connector
// called last. Stores list in name order, so the last name is a cursor.
func EncodePageToken(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(last))
}

// After decodes PageToken into the name the next page starts after; "" when
// there is no token, ErrInvalidPageToken for one no store issued.
func (o ListOptions) After() (string, error) {
	if o.PageToken == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(o.PageToken)
	if err != nil || len(b) == 0 || !utf8.Valid(b) {
		return "", ErrInvalidPageToken
	}
	return string(b), nil
}
