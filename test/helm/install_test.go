package helm

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadeflow/cascadeflow-operator/test/testrig"
)

// A vendor key that must reach the proxy Deployment only as a secretKeyRef.
const vendorKey = "sk-helm-e2e-VENDOR-KEY-must-not-leak"

// helmEnv keeps helm's config, cache and data out of the user's home.
func helmEnv(t *testing.T, kubeconfig string) []string {
	dir := t.TempDir()
	return append(os.Environ(), "KUBECONFIG="+kubeconfig,
		"HELM_CONFIG_HOME="+filepath.Join(dir, "config"), "HELM_CACHE_HOME="+filepath.Join(dir, "cache"),
		"HELM_DATA_HOME="+filepath.Join(dir, "data"))
}

func runHelm(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestHelmInstallIntoAPIServer installs the chart into a real API server and
// checks what it created; then runs the manager binary with the installed
// Deployment's own args and only the installed ServiceAccount's permissions,
// and checks it reconciles a CascadeRoute.
func TestHelmInstallIntoAPIServer(t *testing.T) {
	cluster := testrig.StartAPIServer(t) // no CRDs: the chart brings its own
	cfg, kubeconfig := cluster.Config, cluster.Kubeconfig
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(cfg)
	env := helmEnv(t, kubeconfig)

	out := runHelm(t, env, "install", release, chartDir, "--namespace", namespace, "--create-namespace")
	// NOTES.txt tells the user the next commands.
	for _, next := range []string{"kubectl -n default create secret generic anthropic-api-key", "kubectl -n default apply -f - <<'YAML'\n", "kubectl -n default port-forward service/claude-code-proxy"} {
		if !strings.Contains(out, next) {
			t.Errorf("helm install output lacks %q:\n%s", next, out)
		}
	}
	// The CascadeRoute NOTES.txt prints must be one the API server accepts.
	_, notesRoute, _ := strings.Cut(out, "<<'YAML'\n")
	notesRoute, _, found := strings.Cut(notesRoute, "\nYAML\n")
	if !found {
		t.Fatalf("no heredoc CascadeRoute in the install notes:\n%s", out)
	}
	if status := runHelm(t, env, "status", release, "--namespace", namespace); !strings.Contains(status, "STATUS: deployed") {
		t.Errorf("helm status:\n%s", status)
	}

	// The CRD is served.
	ext := dynamic.NewForConfigOrDie(cfg)
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	testrig.WaitFor(t, "the CascadeRoute CRD to be established", 30*time.Second, func() bool {
		u, err := ext.Resource(crdGVR).Get(ctx, "cascaderoutes.routing.cascadeflow.io", metav1.GetOptions{})
		if err != nil {
			return false
		}
		crd := into[apiextensionsv1.CustomResourceDefinition](t, u)
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true
			}
		}
		return false
	})
	crd, _ := ext.Resource(crdGVR).Get(ctx, "cascaderoutes.routing.cascadeflow.io", metav1.GetOptions{})
	if want := configObject(t, "config/crd/bases/routing.cascadeflow.io_cascaderoutes.yaml"); !sameCRDSpec(crd.Object["spec"], want.Object["spec"]) {
		t.Error("installed CRD spec differs from config/crd/bases")
	}

	d, err := cs.AppsV1().Deployments(namespace).Get(ctx, fullname, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkManagerDeployment(t, d)
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Get(ctx, fullname, metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
	if _, err := cs.CoreV1().Services(namespace).Get(ctx, fullname+"-metrics", metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
	if cm, err := cs.CoreV1().ConfigMaps(namespace).Get(ctx, fullname+"-dashboard", metav1.GetOptions{}); err != nil || cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap: %v %v", err, cm.GetLabels())
	}
	role, err := cs.RbacV1().ClusterRoles().Get(ctx, fullname+"-manager", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := into[rbacv1.ClusterRole](t, configObject(t, "config/rbac/role.yaml")); !reflect.DeepEqual(role.Rules, want.Rules) {
		t.Errorf("installed manager ClusterRole rules differ from config/rbac/role.yaml")
	}
	for _, get := range []func() error{
		func() error {
			_, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, fullname+"-manager", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := cs.RbacV1().Roles(namespace).Get(ctx, fullname+"-leader-election", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := cs.RbacV1().RoleBindings(namespace).Get(ctx, fullname+"-leader-election", metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); err != nil {
			t.Error(err)
		}
	}

	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	printed := decodeDocuments(t, notesRoute)
	if len(printed) != 1 || printed[0].GetKind() != "CascadeRoute" {
		t.Fatalf("install notes print %d objects, want one CascadeRoute", len(printed))
	}
	printed[0].SetNamespace("default")
	if err := c.Create(ctx, printed[0], client.DryRunAll); err != nil {
		t.Errorf("the CascadeRoute in the install notes is refused: %v", err)
	}

	t.Run("least privilege", func(t *testing.T) { checkServiceAccountPermissions(t, ctx, cs) })
	t.Run("manager runs with the chart's args and RBAC", func(t *testing.T) {
		runInstalledManager(t, ctx, cfg, kubeconfig, cs, d.Spec.Template.Spec.Containers[0].Args)
	})

	runHelm(t, env, "uninstall", release, "--namespace", namespace)
	testrig.WaitFor(t, "the manager Deployment to be deleted", 30*time.Second, func() bool {
		_, err := cs.AppsV1().Deployments(namespace).Get(ctx, fullname, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if _, err := ext.Resource(crdGVR).Get(ctx, "cascaderoutes.routing.cascadeflow.io", metav1.GetOptions{}); err != nil {
		t.Errorf("the CRD (and with it every CascadeRoute) was deleted on uninstall: %v", err)
	}
}

// sameCRDSpec compares CRD specs, ignoring fields the API server defaults
// (conversion strategy).
func sameCRDSpec(got, want any) bool {
	g, _ := got.(map[string]any)
	g = maps(g)
	delete(g, "conversion")
	w, _ := want.(map[string]any)
	w = maps(w)
	delete(w, "conversion")
	return jsonEqual(g, w)
}

func maps(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// checkServiceAccountPermissions asks the API server what the chart's
// ServiceAccount may do: what the operator needs, and not more.
func checkServiceAccountPermissions(t *testing.T, ctx context.Context, cs *kubernetes.Clientset) {
	sa := "system:serviceaccount:" + namespace + ":" + fullname
	for _, c := range []struct {
		verb, group, resource, sub, ns string
		allowed                        bool
	}{
		{"list", "routing.cascadeflow.io", "cascaderoutes", "", "", true},
		{"watch", "routing.cascadeflow.io", "cascaderoutes", "", "", true},
		{"patch", "routing.cascadeflow.io", "cascaderoutes", "status", "team", true},
		{"create", "apps", "deployments", "", "team", true},
		{"create", "", "configmaps", "", "team", true},
		{"create", "", "services", "", "team", true},
		{"create", "rbac.authorization.k8s.io", "roles", "", "team", true},
		{"get", "", "secrets", "", "team", true},
		{"create", "coordination.k8s.io", "leases", "", namespace, true},
		// Not needed, so not granted.
		{"update", "routing.cascadeflow.io", "cascaderoutes", "", "team", false},
		{"create", "", "secrets", "", "team", false},
		{"delete", "", "secrets", "", "team", false},
		{"create", "", "pods", "", "team", false},
		{"create", "", "pods", "exec", "team", false},
		{"create", "coordination.k8s.io", "leases", "", "team", false},
		{"create", "rbac.authorization.k8s.io", "clusterroles", "", "", false},
		{"delete", "apiextensions.k8s.io", "customresourcedefinitions", "", "", false},
		{"create", "", "namespaces", "", "", false},
	} {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   sa,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: c.verb, Group: c.group, Resource: c.resource, Subresource: c.sub, Namespace: c.ns,
			},
		}}
		res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status.Allowed != c.allowed {
			t.Errorf("%s %s/%s %s in %q: allowed=%v, want %v", c.verb, c.group, c.resource, c.sub, c.ns, res.Status.Allowed, c.allowed)
		}
	}
}

// runInstalledManager starts the manager binary with the installed
// Deployment's args (bind addresses moved to loopback) as the chart's
// ServiceAccount, through impersonation, and checks a CascadeRoute is
// reconciled and leader election works in the release namespace.
func runInstalledManager(t *testing.T, ctx context.Context, cfg *rest.Config, adminKubeconfig string, cs *kubernetes.Clientset, installedArgs []string) {
	kc, err := clientcmd.LoadFromFile(adminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range kc.AuthInfos {
		ai.Impersonate = "system:serviceaccount:" + namespace + ":" + fullname
		ai.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}
	}
	saKubeconfig := filepath.Join(t.TempDir(), "sa-kubeconfig")
	if err := clientcmd.WriteToFile(*kc, saKubeconfig); err != nil {
		t.Fatal(err)
	}

	probeAddr, metricsAddr := testrig.FreeAddr(t), testrig.FreeAddr(t)
	var args []string
	for _, a := range installedArgs {
		switch {
		case strings.HasPrefix(a, "--health-probe-bind-address="):
			a = "--health-probe-bind-address=" + probeAddr
		case strings.HasPrefix(a, "--metrics-bind-address="):
			a = "--metrics-bind-address=" + metricsAddr
		}
		args = append(args, a)
	}
	args = append(args, "--kubeconfig="+saKubeconfig)
	proxyImage := ""
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--proxy-image="); ok {
			proxyImage = v
		}
	}
	mgr := testrig.Start(t, nil, buildManager(t), args...)
	testrig.WaitFor(t, "the manager to be ready", 60*time.Second, func() bool {
		resp, err := http.Get("http://" + probeAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	team := "team"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: team}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets(team).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "anthropic-api-key"},
		StringData: map[string]string{"api-key": vendorKey},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	route := decodeDocuments(t, fmt.Sprintf(`apiVersion: routing.cascadeflow.io/v1alpha1
kind: CascadeRoute
metadata: {name: demo, namespace: %s}
spec:
  providers:
  - name: anthropic
    type: anthropic
    baseURL: http://127.0.0.1:9
    apiKeySecretRef: {name: anthropic-api-key, key: api-key}
  rules:
  - name: opus
    models: [claude-opus-5-5]
    draft: {provider: anthropic, model: claude-haiku-5-5}
    verifier: {provider: anthropic, model: claude-opus-5-5}
    threshold: 0.7
`, team))[0]
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, route); err != nil {
		t.Fatal(err)
	}

	// The operator applies the route's objects one after another: wait for all.
	testrig.WaitFor(t, "the proxy Deployment, Service and rules ConfigMap", 30*time.Second, func() bool {
		_, errD := cs.AppsV1().Deployments(team).Get(ctx, "demo-proxy", metav1.GetOptions{})
		_, errS := cs.CoreV1().Services(team).Get(ctx, "demo-proxy", metav1.GetOptions{})
		_, errC := cs.CoreV1().ConfigMaps(team).Get(ctx, "demo-rules", metav1.GetOptions{})
		return errD == nil && errS == nil && errC == nil
	})
	proxy, _ := cs.AppsV1().Deployments(team).Get(ctx, "demo-proxy", metav1.GetOptions{})
	if got := proxy.Spec.Template.Spec.Containers[0].Image; got != proxyImage || proxyImage == "" {
		t.Errorf("proxy image %q, want the chart's proxyImage %q", got, proxyImage)
	}
	testrig.WaitFor(t, "status Accepted=True on the CascadeRoute", 30*time.Second, func() bool {
		if err := c.Get(ctx, client.ObjectKeyFromObject(route), route); err != nil {
			return false
		}
		conds, _, _ := unstructured.NestedSlice(route.Object, "status", "conditions")
		for _, cond := range conds {
			m := cond.(map[string]any)
			if m["type"] == "Accepted" && m["status"] == "True" {
				return true
			}
		}
		return false
	})
	leases, err := cs.CoordinationV1().Leases(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	held := slices.ContainsFunc(leases.Items, func(l coordinationv1.Lease) bool {
		return l.Name == "cascadeflow-operator.routing.cascadeflow.io" && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != ""
	})
	if !held {
		t.Errorf("no held leader Lease in %s", namespace)
	}
	if strings.Contains(mgr.Output(), "forbidden") {
		t.Errorf("the manager was refused something with the chart's RBAC:\n%s", mgr.Output())
	}
	if strings.Contains(mgr.Output(), vendorKey) {
		t.Error("the manager logged the vendor key")
	}
	checkNoKeyInAPIObjects(t, ctx, cfg, vendorKey)
}

// checkNoKeyInAPIObjects lists every listable resource of the API server,
// Secrets excepted, and fails when key appears in any object.
func checkNoKeyInAPIObjects(t *testing.T, ctx context.Context, cfg *rest.Config, key string) {
	t.Helper()
	dc := discovery.NewDiscoveryClientForConfigOrDie(cfg)
	lists, err := dc.ServerPreferredResources()
	if err != nil {
		t.Fatal(err)
	}
	dyn := dynamic.NewForConfigOrDie(cfg)
	listed := 0
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") || (gv.Group == "" && r.Name == "secrets") {
				continue
			}
			objs, err := dyn.Resource(gv.WithResource(r.Name)).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue // e.g. aggregated APIs envtest does not serve
			}
			listed++
			b, err := objs.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(key)) {
				t.Errorf("the vendor key appears in %s %s", gv, r.Name)
			}
		}
	}
	if listed < 20 {
		t.Errorf("listed only %d resource types", listed)
	}
}
