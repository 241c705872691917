package helm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
)

var (
	repoRoot = filepath.Join("..", "..")
	chartDir = filepath.Join(repoRoot, "charts", "cascadeflow-operator")
)

const (
	release   = "cf"
	namespace = "cascadeflow-system"
	fullname  = "cf-cascadeflow-operator"
)

// helmBinary finds helm: $HELM (set by `make test`, which builds the pinned
// version into bin/), else bin/helm-*, else PATH. Without one the test skips,
// except when $HELM names a file that is not there.
func helmBinary(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		if _, err := os.Stat(h); err != nil {
			t.Fatalf("HELM=%s: %v", h, err)
		}
		return h
	}
	if found, _ := filepath.Glob(filepath.Join(repoRoot, "bin", "helm-v*")); len(found) > 0 {
		abs, err := filepath.Abs(found[len(found)-1])
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	if h, err := exec.LookPath("helm"); err == nil {
		return h
	}
	t.Skip("helm not found: run through `make test`, which builds the pinned helm into bin/")
	return ""
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), errors.New(err.Error() + ": " + stderr.String())
	}
	return string(out), nil
}

// rendered is the output of helm template, by kind and name.
type rendered map[string]*unstructured.Unstructured

func (r rendered) get(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	o, ok := r[kind+"/"+name]
	if !ok {
		t.Fatalf("%s %s not rendered; have %v", kind, name, r.keys())
	}
	return o
}

func (r rendered) keys() []string {
	var k []string
	for key := range r {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

// into converts a rendered object into a typed one.
func into[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, &v, true); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return &v
}

func decodeDocuments(t *testing.T, data string) []*unstructured.Unstructured {
	t.Helper()
	dec := k8syaml.NewYAMLOrJSONDecoder(strings.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decode rendered YAML: %v", err)
		}
		if obj != nil {
			out = append(out, &unstructured.Unstructured{Object: obj})
		}
	}
}

func template(t *testing.T, args ...string) rendered {
	t.Helper()
	out, err := helm(t, append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v", args, err)
	}
	r := rendered{}
	for _, o := range decodeDocuments(t, out) {
		key := o.GetKind() + "/" + o.GetName()
		if _, dup := r[key]; dup {
			t.Fatalf("%s rendered twice", key)
		}
		r[key] = o
	}
	return r
}

// configObject reads the one object of a YAML file under config/.
func configObject(t *testing.T, rel string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	docs := decodeDocuments(t, string(data))
	if len(docs) != 1 {
		t.Fatalf("%s: want one object, got %d", rel, len(docs))
	}
	return docs[0]
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// The chart's copies must be exactly config/'s generated files: `make
// manifests` refreshes both; an edit to one side only fails here.
func TestChartCopiesOfGeneratedFilesMatchConfig(t *testing.T) {
	bases, err := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(bases) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	copies, _ := filepath.Glob(filepath.Join(chartDir, "files", "crds", "*.yaml"))
	pairs := map[string]string{filepath.Join(repoRoot, "config", "rbac", "role.yaml"): filepath.Join(chartDir, "files", "rbac", "role.yaml")}
	for _, b := range bases {
		pairs[b] = filepath.Join(chartDir, "files", "crds", filepath.Base(b))
	}
	if len(copies) != len(bases) {
		t.Errorf("chart has %d CRD files, config/crd/bases %d: run `make helm-sync`", len(copies), len(bases))
	}
	for src, dst := range pairs {
		a, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Errorf("%v: run `make helm-sync`", err)
			continue
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: run `make helm-sync` (or `make manifests`)", dst, src)
		}
	}
}

func TestChartRendersConfigCRDAndRBAC(t *testing.T) {
	r := template(t)

	want := configObject(t, "config/crd/bases/routing.cascadeflow.io_cascaderoutes.yaml")
	crd := r.get(t, "CustomResourceDefinition", want.GetName())
	if !jsonEqual(crd.Object["spec"], want.Object["spec"]) {
		t.Error("the chart's CRD spec differs from config/crd/bases (after helm's fromYaml/toYaml round trip)")
	}
	if crd.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
		t.Error("the CRD is not kept on uninstall (crds.keep defaults to true)")
	}

	role := into[rbacv1.ClusterRole](t, r.get(t, "ClusterRole", fullname+"-manager"))
	wantRole := into[rbacv1.ClusterRole](t, configObject(t, "config/rbac/role.yaml"))
	if !reflect.DeepEqual(role.Rules, wantRole.Rules) {
		t.Errorf("manager ClusterRole rules differ from config/rbac/role.yaml:\nchart:  %+v\nconfig: %+v", role.Rules, wantRole.Rules)
	}
	for _, pair := range []struct{ kind, name, config string }{
		{"Role", fullname + "-leader-election", "config/rbac/leader_election_role.yaml"},
		{"ClusterRole", fullname + "-cascaderoute-editor", "config/rbac/cascaderoute_editor_role.yaml"},
		{"ClusterRole", fullname + "-cascaderoute-viewer", "config/rbac/cascaderoute_viewer_role.yaml"},
	} {
		got := r.get(t, pair.kind, pair.name)
		want := configObject(t, pair.config)
		if !jsonEqual(got.Object["rules"], want.Object["rules"]) {
			t.Errorf("%s %s rules differ from %s", pair.kind, pair.name, pair.config)
		}
		for k, v := range want.GetLabels() {
			if strings.HasPrefix(k, "rbac.authorization.k8s.io/") && got.GetLabels()[k] != v {
				t.Errorf("%s %s lacks aggregation label %s=%s", pair.kind, pair.name, k, v)
			}
		}
	}

	sa := r.get(t, "ServiceAccount", fullname)
	for _, b := range []struct{ kind, name string }{{"ClusterRoleBinding", fullname + "-manager"}, {"RoleBinding", fullname + "-leader-election"}} {
		binding := r.get(t, b.kind, b.name)
		subjects, _, _ := unstructured.NestedSlice(binding.Object, "subjects")
		want := []any{map[string]any{"kind": "ServiceAccount", "name": sa.GetName(), "namespace": namespace}}
		if !jsonEqual(subjects, want) {
			t.Errorf("%s subjects = %v, want the chart's ServiceAccount", b.kind, subjects)
		}
	}
	if ns := r.get(t, "Role", fullname+"-leader-election").GetNamespace(); ns != namespace {
		t.Errorf("leader-election Role in namespace %q, want the release namespace only", ns)
	}
}

func TestChartManagerDeployment(t *testing.T) {
	r := template(t)
	d := into[appsv1.Deployment](t, r.get(t, "Deployment", fullname))
	checkManagerDeployment(t, d)

	svc := into[corev1.Service](t, r.get(t, "Service", fullname+"-metrics"))
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("metrics Service selects %s=%s, which the manager pods lack", k, v)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "metrics" {
		t.Errorf("metrics Service ports %+v", svc.Spec.Ports)
	}
	if _, ok := r["ServiceMonitor/"+fullname]; ok {
		t.Error("ServiceMonitor rendered by default (it needs the prometheus-operator CRDs)")
	}
}

func TestChartDashboardConfigMap(t *testing.T) {
	r := template(t)
	cm := into[corev1.ConfigMap](t, r.get(t, "ConfigMap", fullname+"-dashboard"))
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("labels %v lack grafana_dashboard=1", cm.Labels)
	}
	want, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var got, wantJSON any
	if err := json.Unmarshal([]byte(cm.Data["cascadeflow.json"]), &got); err != nil {
		t.Fatalf("dashboard in the ConfigMap is not JSON: %v", err)
	}
	_ = json.Unmarshal(want, &wantJSON)
	if !reflect.DeepEqual(got, wantJSON) {
		t.Error("the ConfigMap's dashboard differs from dashboards/cascadeflow.json")
	}
	if _, ok := template(t, "--set", "dashboard.enabled=false")["ConfigMap/"+fullname+"-dashboard"]; ok {
		t.Error("dashboard.enabled=false still renders the ConfigMap")
	}
}

// With every option on, the monitors appear and the PodMonitor selects the
// pods the operator really renders, on the port that serves /metrics.
func TestChartAllOptionsOn(t *testing.T) {
	r := template(t, "-f", filepath.Join(chartDir, "ci", "all-on-values.yaml"))
	r.get(t, "ServiceMonitor", fullname)
	pm := r.get(t, "PodMonitor", fullname+"-proxies")
	sel, _, _ := unstructured.NestedStringMap(pm.Object, "spec", "selector", "matchLabels")
	endpoints, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	if len(sel) == 0 || len(endpoints) != 1 {
		t.Fatalf("PodMonitor selector %v endpoints %v", sel, endpoints)
	}
	cr := &v1alpha1.CascadeRoute{}
	cr.Name, cr.Namespace = "team", "team-ns"
	proxy := render.Deployment(cr, render.Options{ProxyImage: "cascadeflow/proxy:test"})
	for k, v := range sel {
		if proxy.Spec.Template.Labels[k] != v {
			t.Errorf("PodMonitor selects %s=%s; the operator's proxy pods have %v", k, v, proxy.Spec.Template.Labels)
		}
	}
	port := endpoints[0].(map[string]any)["port"]
	found := false
	for _, p := range proxy.Spec.Template.Spec.Containers[0].Ports {
		found = found || p.Name == port
	}
	if !found {
		t.Errorf("PodMonitor scrapes port %v, which the proxy container does not name", port)
	}
	cm := r.get(t, "ConfigMap", fullname+"-dashboard")
	if cm.GetNamespace() != "monitoring" {
		t.Errorf("dashboard.namespace ignored: %s", cm.GetNamespace())
	}
	d := into[appsv1.Deployment](t, r.get(t, "Deployment", fullname))
	if !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--kube-api-qps=50") {
		t.Error("manager.extraArgs not passed")
	}
	if len(d.Spec.Template.Spec.TopologySpreadConstraints) != 1 {
		t.Error("topologySpreadConstraints not passed")
	}
}

func TestChartToggles(t *testing.T) {
	r := template(t, "--set", "crds.install=false", "--set", "rbac.create=false", "--set", "rbac.aggregateToDefaultRoles=false",
		"--set", "serviceAccount.create=false", "--set", "serviceAccount.name=existing", "--set", "metrics.enabled=false")
	for _, kind := range []string{"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount", "Service"} {
		for key := range r {
			if strings.HasPrefix(key, kind+"/") {
				t.Errorf("%s rendered although switched off", key)
			}
		}
	}
	d := into[appsv1.Deployment](t, r.get(t, "Deployment", fullname))
	if d.Spec.Template.Spec.ServiceAccountName != "existing" {
		t.Errorf("serviceAccountName %q", d.Spec.Template.Spec.ServiceAccountName)
	}
	if !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--metrics-bind-address=0") {
		t.Error("metrics.enabled=false does not turn the metrics server off")
	}

	one := template(t, "--set", "replicaCount=1", "--set", "leaderElection.enabled=false")
	if _, ok := one["Role/"+fullname+"-leader-election"]; ok {
		t.Error("leader-election Role rendered with leader election off")
	}
}

// Values that would make a broken install are refused at template time.
func TestChartRefusesBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"--set", "metrics.prot=9090"},                                       // typo: additionalProperties false
		{"--set", "manager.logLevel=verbose"},                                // not a manager log level
		{"--set", "dashboard.labels.grafana_dashboard=1"},                    // a number: label values are strings
		{"--set", "leaderElection.leaseDuration=15"},                         // not a duration
		{"--set", "replicaCount=3", "--set", "leaderElection.enabled=false"}, // two leaders
		{"--set", "serviceAccount.create=false"},                             // no name for the existing one
	} {
		if _, err := helm(t, append([]string{"template", release, chartDir}, args...)...); err == nil {
			t.Errorf("helm template %v succeeded", args)
		}
	}
}

func TestChartLintStrict(t *testing.T) {
	for _, values := range []string{"", filepath.Join(chartDir, "ci", "all-on-values.yaml")} {
		args := []string{"lint", "--strict", chartDir}
		if values != "" {
			args = append(args, "-f", values)
		}
		if out, err := helm(t, args...); err != nil {
			t.Errorf("helm %v: %v\n%s", args, err, out)
		}
	}
}

// The rendered args must be flags the manager binary accepts: it exits with 2
// on a flag error and with 1 when, flags parsed, it finds no kubeconfig.
func TestChartArgsAcceptedByManager(t *testing.T) {
	r := template(t, "-f", filepath.Join(chartDir, "ci", "all-on-values.yaml"))
	d := into[appsv1.Deployment](t, r.get(t, "Deployment", fullname))
	bin := buildManager(t)
	args := append(slices.Clone(d.Spec.Template.Spec.Containers[0].Args), "--kubeconfig="+filepath.Join(t.TempDir(), "missing"))
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "kubeconfig") {
		t.Errorf("manager %v: %v (want exit 1 on the missing kubeconfig, after the flags parsed)\n%s", args, err, out)
	}
}

// buildManager builds cmd/manager once per test binary.
func buildManager(t *testing.T) string {
	t.Helper()
	managerOnce.Do(func() {
		managerBin = filepath.Join(binDir, "manager")
		cmd := exec.Command("go", "build", "-o", managerBin, "./cmd/manager")
		cmd.Dir = repoRoot
		if b, err := cmd.CombinedOutput(); err != nil {
			managerErr = fmt.Errorf("build manager: %v\n%s", err, b)
		}
	})
	if managerErr != nil {
		t.Fatal(managerErr)
	}
	return managerBin
}

var (
	binDir      string
	managerOnce sync.Once
	managerBin  string
	managerErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cascadeflow-helm-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// checkManagerDeployment checks the manager Deployment the chart makes with
// its default values (rendered, or read back from an API server).
func checkManagerDeployment(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	if d.Namespace != namespace {
		t.Errorf("namespace %q", d.Namespace)
	}
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2 (one leader, one standby)", *d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if pod.ServiceAccountName != fullname {
		t.Errorf("serviceAccountName %q", pod.ServiceAccountName)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("selector label %s=%s not on the pod template", k, v)
		}
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != "cascadeflow/operator:0.1.0" {
		t.Errorf("image %q, want the chart's appVersion tag", c.Image)
	}
	for _, arg := range []string{
		"--leader-elect", "--leader-election-namespace=" + namespace,
		"--health-probe-bind-address=:8081", "--metrics-bind-address=:8080",
		"--proxy-image=cascadeflow/proxy:0.1.0",
	} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args %v lack %s", c.Args, arg)
		}
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" ||
		c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: liveness %+v readiness %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["probes"] != 8081 || ports["metrics"] != 8080 {
		t.Errorf("ports %v", ports)
	}
	if c.LivenessProbe.HTTPGet.Port.String() != "probes" {
		t.Errorf("liveness probe port %s", c.LivenessProbe.HTTPGet.Port.String())
	}
	// The restricted Pod Security Standard, field by field.
	psc, sc := pod.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot:
		t.Error("pod does not set runAsNonRoot")
	case psc.RunAsUser == nil || *psc.RunAsUser == 0:
		t.Error("pod runs as root")
	case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("no RuntimeDefault seccomp profile")
	case sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("root filesystem is writable")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("privilege escalation allowed")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
		t.Error("capabilities not dropped")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v", c.Resources)
	}

}
