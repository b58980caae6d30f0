package mint_test

import (
	"context"
	"sync"
	"testing"

	"connectors.dev/connectors/shared/clock"
	"connectors.dev/connectors/shared/connector"
	"connectors.dev/connectors/shared/mint"
	"connectors.dev/connectors/shared/testenv"
)

// TestRenewMintsOncePerRefusedCredential: when an API refuses a token,
// every caller on every instance that reports that same token gets one new
// token between them (one provider request), and a caller reporting the
// old token after the renewal gets the new one without another request.
// The checks of Token apply first.
func TestRenewMintsOncePerRefusedCredential(t *testing.T) {
	testenv.OnEach(t, func(t *testing.T, b testenv.Backends) {
		clk := clock.NewFake()
		p := newProvider(t, "")
		createConnector(t, b, &connector.Input{Name: ptr("Api"), URL: ptr(p.URL), GrantType: ptr("client_credentials"),
			ClientID: ptr("c"), ClientSecret: ptr("s"), Agents: ptr([]string{"agent-1"})})
		a, c := instance(t, b, clk, "a"), instance(t, b, clk, "c")
		ctx := context.Background()
		first, err := a.Token(ctx, "Api", "agent-1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Token(ctx, "Api", "agent-1"); err != nil {
			t.Fatal(err)
		}
		if n := p.Calls.Load(); n != 1 {
			t.Fatalf("%d provider calls before the refusal", n)
		}
		var wg sync.WaitGroup
		got := make(chan string, 40)
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				svc := a
				if i%2 == 1 {
					svc = c
				}
				cred, _, err := svc.Renew(ctx, "Api", "agent-1", first)
				if err != nil {
					t.Error(err)
					return
				}
				got <- cred.AccessToken
			}()
		}
		wg.Wait()
		close(got)
		var renewed string
		for tok := range got {
			if tok == first.AccessToken {
				t.Fatal("a renewal answered the refused token")
			}
			if renewed != "" && tok != renewed {
				t.Fatalf("two new tokens: %s and %s", renewed, tok)
			}
			renewed = tok
		}
		if n := p.Calls.Load(); n != 2 {
			t.Fatalf("%d provider calls, want 2 (the first mint and one renewal)", n)
		}
		// Token now answers the new one on both instances.
		for _, svc := range []*mint.Service{a, c} {
			if cred, err := svc.Token(ctx, "Api", "agent-1"); err != nil || cred.AccessToken != renewed {
				t.Fatalf("after renewal: %v %v", cred, err)
			}
		}
		// The same checks as Token.
		if _, _, err := a.Renew(ctx, "Api", "intruder", first); err == nil {
			t.Fatal("renewed for an agent not among the connector's")
		}
	})
}
