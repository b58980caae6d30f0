package backend

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"connectors.dev/connectors/shared/config"
	"connectors.dev/connectors/shared/connector/firestore"
	"connectors.dev/connectors/shared/events"
	"connectors.dev/connectors/shared/events/pubsub"
	"connectors.dev/connectors/shared/events/webhook"
	"connectors.dev/connectors/shared/netguard"
	"connectors.dev/connectors/shared/secret/secretmanager"
)

// Event settings (docs/configuration.md).
const (
	envEventsTopic       = "CONNECTORS_EVENTS_TOPIC"
	envWebhookURL        = "CONNECTORS_WEBHOOK_URL"
	envWebhookSecretName = "CONNECTORS_WEBHOOK_SECRET_NAME"
)

// eventsFromEnv returns the relay delivering the connectors' outbox to the
// topic and the webhook the environment names, or nil when it names
// neither (events off). Nothing is dialled until the first publish.
func eventsFromEnv(getenv func(string) string, cfg config.Config, store *firestore.Store, secrets *secretmanager.Store, log *slog.Logger) (*events.Relay, error) {
	topic := strings.TrimSpace(getenv(envEventsTopic))
	hook := strings.TrimSpace(getenv(envWebhookURL))
	secretRef := strings.TrimSpace(getenv(envWebhookSecretName))
	source := "//connectors/projects/" + cfg.Project
	var pubs events.Multi
	if topic != "" {
		pubs = append(pubs, &pubsub.Publisher{Project: cfg.Project, Topic: topic, Source: source})
	}
	switch {
	case hook == "" && secretRef != "":
		return nil, fmt.Errorf("%s is set but %s is not: set both, or neither", envWebhookSecretName, envWebhookURL)
	case hook != "" && secretRef == "":
		return nil, fmt.Errorf("%s is set but %s is not: the webhook is always signed", envWebhookURL, envWebhookSecretName)
	case hook != "":
		if err := webhook.CheckURL(hook, cfg.AllowInsecureURLs); err != nil {
			return nil, fmt.Errorf("%s: %w", envWebhookURL, err)
		}
		name, err := secretmanager.VersionName(cfg.Project, secretRef)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envWebhookSecretName, err)
		}
		pubs = append(pubs, &webhook.Sender{
			URL:    hook,
			Source: source,
			Secret: func(ctx context.Context) (string, error) {
				b, err := secrets.Access(ctx, name)
				return string(b), err
			},
			Policy: netguard.Policy{AllowLoopback: cfg.AllowInsecureURLs, AllowPrivate: cfg.AllowPrivateNetworks},
		})
	}
	if len(pubs) == 0 {
		return nil, nil
	}
	return &events.Relay{Outbox: store, Publisher: pubs, Log: log}, nil
}
