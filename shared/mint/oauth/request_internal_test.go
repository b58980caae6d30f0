package oauth

import (
	"net/http"
	"net/url"
	"testing"
)

func TestBasicCredentialsMatchesNetHTTP(t *testing.T) {
	// url.QueryEscape both parts, then net/http's own Basic encoding.
	id, sec := "a:b%c+d/e@f&g=h ü", "s:%+/@&= ü"
	req, _ := http.NewRequest(http.MethodPost, "http://x/", nil)
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(sec))
	if got, want := "Basic "+basicCredentials(id, sec), req.Header.Get("Authorization"); got != want {
		t.Errorf("basicCredentials = %q, want %q", got, want)
	}
}
