package render

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A provider's idleTimeout reaches the rules ConfigMap the proxy loads.
func TestHardeningIdleTimeoutRendered(t *testing.T) {
	cr := readRoute(t, "testdata/claude-code.in.yaml")
	cr.Spec.Providers[0].IdleTimeout = &metav1.Duration{Duration: 90 * time.Second}
	set, err := Rules(cr)
	if err != nil {
		t.Fatal(err)
	}
	if got := set.Providers[0].IdleTimeout.Duration; got != 90*time.Second {
		t.Fatalf("rules idleTimeout = %s, want 90s", got)
	}
	cm, err := ConfigMap(cr, set)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cm.Data[RulesKey], "idleTimeout: 1m30s") {
		t.Errorf("the rendered rules lack idleTimeout:\n%s", cm.Data[RulesKey])
	}
}
