package provider_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/proxy/llm"
	"github.com/cascadeflow/cascadeflow-operator/proxy/provider"
)

func TestRedactor(t *testing.T) {
	r := provider.NewRedactor("sk-ant-secret-1", "sk-oai-secret-2", "short", "")
	e := r.Error(&llm.Error{Kind: llm.ErrAuthentication, Message: "bad key sk-ant-secret-1 (and sk-oai-secret-2)",
		Err: errors.New("body begins \"sk-oai-secret-2\"")})
	if strings.Contains(e.Message, "secret") || strings.Contains(e.Err.Error(), "secret") {
		t.Errorf("not redacted: %q / %v", e.Message, e.Err)
	}
	if e.Message != "bad key [REDACTED] (and [REDACTED])" {
		t.Errorf("message %q", e.Message)
	}
	if got := r.String("a short word"); got != "a short word" {
		t.Errorf("a value under 8 bytes was redacted: %q", got)
	}
	var none *provider.Redactor
	if none.String("x sk-ant-secret-1") != "x sk-ant-secret-1" || none.Error(nil) != nil {
		t.Error("a nil Redactor changed something")
	}
	if provider.NewRedactor("", "tiny") != nil {
		t.Error("a Redactor with nothing to hide is not nil")
	}
}
