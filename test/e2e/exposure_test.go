package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"github.com/cascadeflow/cascadeflow-operator/test/testrig"
)

// Secrets of this test: none may appear in any object but their own Secrets,
// nor in the operator's log.
const (
	exposureVendorKey = "sk-e2e-EXPOSURE-vendor-key-do-not-leak-7"
	clientKeyAlice    = "cfk-e2e-client-alice-do-not-leak-1"
	clientKeyBob      = "cfk-e2e-client-bob-do-not-leak-2"
)

const exposureSecrets = `apiVersion: v1
kind: Secret
metadata: {name: vendor, namespace: exposure}
stringData:
  api-key: ` + exposureVendorKey + `
---
apiVersion: v1
kind: Secret
metadata: {name: client-keys, namespace: exposure}
stringData:
  alice: ` + clientKeyAlice + `
  bob: ` + clientKeyBob + `
`

// exposedRoute is a route behind an Ingress; auth adds the client keys,
// allowUnauthenticated the opt-in, autoscaling an HPA from 2 to 5 pods.
func exposedRoute(name string, auth, allowUnauthenticated, autoscaling bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: routing.cascadeflow.io/v1alpha1
kind: CascadeRoute
metadata: {name: %s, namespace: exposure}
spec:
  providers:
  - name: anthropic
    type: anthropic
    baseURL: https://api.anthropic.com
    apiKeySecretRef: {name: vendor, key: api-key}
  rules:
  - name: opus
    models: [claude-opus-5-5]
    draft: {provider: anthropic, model: claude-haiku-5-5}
    verifier: {provider: anthropic, model: claude-opus-5-5}
  proxy:
    service: {port: 80}
    ingress:
      className: nginx
      host: %s.llm.example.com
      tls: {secretName: %s-tls}
      allowUnauthenticated: %t
      annotations:
        cert-manager.io/cluster-issuer: letsencrypt
        nginx.ingress.kubernetes.io/proxy-read-timeout: "7200"
`, name, name, name, allowUnauthenticated)
	if auth {
		b.WriteString("    clientKeysSecretRef: {name: client-keys}\n")
	}
	if autoscaling {
		b.WriteString("    autoscaling: {minReplicas: 2, maxReplicas: 5, targetCPUUtilizationPercentage: 60}\n")
	}
	return b.String()
}

// jsonPath reads one field with kubectl get -o jsonpath.
func (c *cluster) jsonPath(t *testing.T, kind, name, path string) string {
	t.Helper()
	return c.kubectl(t, "", "-n", "exposure", "get", kind, name, "-o", "jsonpath="+path)
}

// exists reports whether kubectl finds the object (and fails on other errors).
func (c *cluster) exists(t *testing.T, kind, name string) bool {
	t.Helper()
	out := c.kubectl(t, "", "-n", "exposure", "get", kind, "--field-selector=metadata.name="+name, "-o", "name")
	return strings.TrimSpace(out) != ""
}

// condition is "status/reason" of a route's condition.
func (c *cluster) condition(t *testing.T, route, typ string) string {
	t.Helper()
	return c.jsonPath(t, "cascaderoute", route, fmt.Sprintf(`{.status.conditions[?(@.type=="%s")].status}/{.status.conditions[?(@.type=="%s")].reason}`, typ, typ))
}

func TestExposureEndToEnd(t *testing.T) {
	c := startCluster(t)
	managerBin := testrig.Build(t, t.TempDir(), "cmd/manager")
	// Debug logging: the most the operator ever says, all of it searched for keys below.
	manager := testrig.Start(t, []string{"KUBECONFIG=" + c.Kubeconfig}, managerBin,
		"--metrics-bind-address=0", "--health-probe-bind-address="+testrig.FreeAddr(t), "--log-level=debug")
	c.kubectl(t, "", "create", "namespace", "exposure")
	c.kubectl(t, exposureSecrets, "apply", "-f", "-")

	// 1. With client keys: Deployment, Service, Ingress, HPA and PDB.
	c.kubectl(t, exposedRoute("secure", true, false, true), "apply", "-f", "-")
	testrig.WaitFor(t, "the secure route's Ingress", 30*time.Second, func() bool { return c.exists(t, "ingress", "secure-proxy") })
	for path, want := range map[string]string{
		`{.spec.ingressClassName}`:                                                  "nginx",
		`{.spec.rules[0].host}`:                                                     "secure.llm.example.com",
		`{.spec.rules[0].http.paths[0].path}`:                                       "/",
		`{.spec.rules[0].http.paths[0].pathType}`:                                   "Prefix",
		`{.spec.rules[0].http.paths[0].backend.service.name}`:                       "secure-proxy",
		`{.spec.rules[0].http.paths[0].backend.service.port.number}`:                "80",
		`{.spec.tls[0].hosts[0]}`:                                                   "secure.llm.example.com",
		`{.spec.tls[0].secretName}`:                                                 "secure-tls",
		`{.metadata.annotations.nginx\.ingress\.kubernetes\.io/proxy-buffering}`:    "off",
		`{.metadata.annotations.nginx\.ingress\.kubernetes\.io/proxy-read-timeout}`: "7200",
		`{.metadata.annotations.nginx\.ingress\.kubernetes\.io/proxy-send-timeout}`: "3600",
		`{.metadata.annotations.nginx\.ingress\.kubernetes\.io/proxy-body-size}`:    "32m",
		`{.metadata.annotations.cert-manager\.io/cluster-issuer}`:                   "letsencrypt",
		`{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}`:   "CascadeRoute/secure",
	} {
		if got := c.jsonPath(t, "ingress", "secure-proxy", path); got != want {
			t.Errorf("Ingress %s = %q, want %q", path, got, want)
		}
	}
	for kind, checks := range map[string]map[string]string{
		"service": {`{.spec.ports[0].port}`: "80", `{.spec.ports[0].targetPort}`: "http", `{.spec.type}`: "ClusterIP"},
		"deployment": {
			`{.spec.template.spec.volumes[?(@.name=="client-keys")].secret.secretName}`:                                       "client-keys",
			`{.spec.template.spec.containers[0].env[?(@.valueFrom.secretKeyRef.key=="api-key")].valueFrom.secretKeyRef.name}`: "vendor",
			`{.spec.template.spec.topologySpreadConstraints[0].topologyKey}`:                                                  "kubernetes.io/hostname",
			`{.spec.template.spec.topologySpreadConstraints[0].whenUnsatisfiable}`:                                            "ScheduleAnyway",
			`{.spec.template.spec.containers[0].resources.requests.cpu}`:                                                      "100m",
			`{.spec.template.spec.containers[0].resources.limits.memory}`:                                                     "512Mi",
			`{.metadata.managedFields[?(@.manager=="cascadeflow-operator")].fieldsV1.f:spec.f:replicas}`:                      "", // left to the HPA
		},
		"hpa": {
			`{.spec.minReplicas}/{.spec.maxReplicas}`:                 "2/5",
			`{.spec.metrics[0].resource.target.averageUtilization}`:   "60",
			`{.spec.scaleTargetRef.kind}/{.spec.scaleTargetRef.name}`: "Deployment/secure-proxy",
		},
		"pdb": {`{.spec.maxUnavailable}`: "1", `{.spec.selector.matchLabels.app\.kubernetes\.io/instance}`: "secure"},
	} {
		testrig.WaitFor(t, kind+" secure-proxy", 30*time.Second, func() bool { return c.exists(t, kind, "secure-proxy") })
		for path, want := range checks {
			if got := c.jsonPath(t, kind, "secure-proxy", path); got != want {
				t.Errorf("%s %s = %q, want %q", kind, path, got, want)
			}
		}
	}
	if args := c.jsonPath(t, "deployment", "secure-proxy", `{.spec.template.spec.containers[0].args}`); !strings.Contains(args, "--client-keys-dir=/var/run/cascadeflow/client-keys") {
		t.Errorf("proxy args %s do not require client keys", args)
	}
	testrig.WaitFor(t, "secure route Degraded=False", 30*time.Second, func() bool {
		return c.condition(t, "secure", "Degraded") == "False/AsExpected"
	})

	// 2. Without authentication: refused, no Ingress.
	c.kubectl(t, exposedRoute("open", false, false, false), "apply", "-f", "-")
	testrig.WaitFor(t, "open route Degraded=True/InsecureExposure", 30*time.Second, func() bool {
		return c.condition(t, "open", "Degraded") == "True/InsecureExposure"
	})
	if got := c.condition(t, "open", "Ready"); got != "False/InsecureExposure" {
		t.Errorf("open route Ready = %s", got)
	}
	if !c.exists(t, "deployment", "open-proxy") || !c.exists(t, "service", "open-proxy") {
		t.Error("the refused route does not serve inside the cluster")
	}
	time.Sleep(time.Second) // a late Ingress would be a failure too
	if c.exists(t, "ingress", "open-proxy") {
		t.Fatal("Ingress created for a route without client authentication")
	}
	msg := c.jsonPath(t, "cascaderoute", "open", `{.status.conditions[?(@.type=="Degraded")].message}`)
	if !strings.Contains(msg, "Ingress refused") || !strings.Contains(msg, "allowUnauthenticated") {
		t.Errorf("Degraded message %q", msg)
	}

	// 3. The explicit opt-in: the Ingress is created, the condition and a Warning stay.
	c.kubectl(t, exposedRoute("open", false, true, false), "apply", "-f", "-")
	testrig.WaitFor(t, "the opted-in Ingress", 30*time.Second, func() bool { return c.exists(t, "ingress", "open-proxy") })
	testrig.WaitFor(t, "the opted-in condition", 30*time.Second, func() bool {
		return strings.Contains(c.jsonPath(t, "cascaderoute", "open", `{.status.conditions[?(@.type=="Degraded")].message}`), "Ingress created without client authentication")
	})
	if got := c.condition(t, "open", "Degraded"); got != "True/InsecureExposure" {
		t.Errorf("opted-in route Degraded = %s", got)
	}
	// Control for the managed-fields check above: without autoscaling the operator owns the count.
	if got := c.jsonPath(t, "deployment", "open-proxy", `{.metadata.managedFields[?(@.manager=="cascadeflow-operator")].fieldsV1.f:spec.f:replicas}`); got == "" {
		t.Error("the operator does not own replicas of a route without autoscaling: the managed-fields check proves nothing")
	}
	if c.exists(t, "hpa", "open-proxy") || c.exists(t, "pdb", "open-proxy") {
		t.Error("HPA or PDB for a single-replica route that did not ask for autoscaling")
	}
	testrig.WaitFor(t, "the InsecureExposure Warning events", 30*time.Second, func() bool {
		out := c.kubectl(t, "", "-n", "exposure", "get", "events.events.k8s.io", "--field-selector=regarding.name=open",
			"-o", `jsonpath={range .items[*]}{.type}/{.reason}/{.action}{"\n"}{end}`)
		return strings.Contains(out, "Warning/InsecureExposure/Degraded") && strings.Contains(out, "Warning/InsecureExposure/CreateIngress")
	})

	// 4. Removing spec.proxy.ingress deletes the Ingress.
	c.kubectl(t, "", "-n", "exposure", "patch", "cascaderoute", "secure", "--type=json", "-p", `[{"op":"remove","path":"/spec/proxy/ingress"}]`)
	testrig.WaitFor(t, "the secure Ingress to be deleted", 30*time.Second, func() bool { return !c.exists(t, "ingress", "secure-proxy") })

	// 5. No key anywhere but in its own Secrets.
	if d := os.Getenv("E2E_LOG_DIR"); d != "" {
		_ = os.WriteFile(filepath.Join(d, "exposure-manager.log"), []byte(manager.Output()), 0o644)
	}
	objects, secrets := dumpAPIObjects(t, c)
	needles := map[string]string{"vendor key": exposureVendorKey, "client key alice": clientKeyAlice, "client key bob": clientKeyBob}
	for what, key := range needles {
		// Control: the search finds the key where it is (kubectl apply keeps
		// stringData in the Secret's last-applied annotation).
		if !containsKey(secrets, key) {
			t.Fatalf("control failed: %s not found in the Secrets, so the search below proves nothing", what)
		}
		if containsKey(objects, key) {
			t.Errorf("%s found in an API object other than its Secret", what)
		}
		if containsKey(manager.Output(), key) {
			t.Errorf("%s found in the manager log", what)
		}
	}
	if !strings.Contains(manager.Output(), "secure") || len(manager.Output()) < 1000 {
		t.Errorf("manager log looks empty (%d bytes): the search would prove nothing", len(manager.Output()))
	}
	t.Logf("searched %d bytes of API objects and %d bytes of manager log for 3 keys", len(objects), len(manager.Output()))
}

// containsKey looks for a key as it is and base64-encoded.
func containsKey(haystack, key string) bool {
	return strings.Contains(haystack, key) || strings.Contains(haystack, base64.StdEncoding.EncodeToString([]byte(key)))
}

// dumpAPIObjects lists every object of every listable resource of the API
// server as JSON: Secrets apart, everything else together.
func dumpAPIObjects(t *testing.T, c *cluster) (objects, secrets string) {
	t.Helper()
	ctx := context.Background()
	dc, err := discovery.NewDiscoveryClientForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := dc.ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	var all, sec strings.Builder
	seen := map[string]bool{}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, res := range list.APIResources {
			if strings.Contains(res.Name, "/") || !contains(res.Verbs, "list") {
				continue
			}
			gvr := gv.WithResource(res.Name)
			items, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
			if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
				continue
			}
			if err != nil {
				t.Fatalf("list %s: %v", gvr, err)
			}
			data, err := json.Marshal(items)
			if err != nil {
				t.Fatal(err)
			}
			seen[res.Name] = true
			if gvr.Group == "" && res.Name == "secrets" {
				sec.Write(data)
				continue
			}
			all.Write(data)
		}
	}
	for _, must := range []string{"configmaps", "deployments", "services", "ingresses", "events", "cascaderoutes",
		"horizontalpodautoscalers", "poddisruptionbudgets", "serviceaccounts", "roles", "secrets"} {
		if !seen[must] {
			t.Errorf("%s were not searched", must)
		}
	}
	return all.String(), sec.String()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
