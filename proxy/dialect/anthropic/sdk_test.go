package anthropic

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// The official Go SDK is the judge of client compatibility: these helpers
// serve bytes on a loopback server and read them back through it.

// sdkServer answers every request with status, content type and body.
func sdkServer(t *testing.T, status int, contentType string, body []byte) *anthropicsdk.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	c := anthropicsdk.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("sk-test"), option.WithMaxRetries(0))
	return &c
}

var sdkParams = anthropicsdk.MessageNewParams{
	Model:     "claude-test",
	MaxTokens: 16,
	Messages:  []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("hi"))},
}

// sdkAccumulate streams transcript through the SDK and accumulates the
// Message as the SDK documents; it returns the message, the number of events
// the SDK yielded, and the stream's error.
func sdkAccumulate(t *testing.T, transcript []byte) (anthropicsdk.Message, int, error) {
	t.Helper()
	c := sdkServer(t, http.StatusOK, "text/event-stream", transcript)
	stream := c.Messages.NewStreaming(context.Background(), sdkParams)
	defer stream.Close()
	var msg anthropicsdk.Message
	n := 0
	for stream.Next() {
		n++
		if err := msg.Accumulate(stream.Current()); err != nil {
			return msg, n, err
		}
	}
	return msg, n, stream.Err()
}
