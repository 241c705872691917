package helm

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/controllers/render"
	"github.com/cascadeflow/cascadeflow-operator/proxy/teams"
	"github.com/cascadeflow/cascadeflow-operator/test/testrig"
)

const redisName = fullname + "-redis"

// templateAll renders the chart keeping objects of one name in several
// namespaces apart (the password Secret's copies).
func templateAll(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(t, append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v", args, err)
	}
	return decodeDocuments(t, out)
}

func TestChartLimitsRedisOffByDefault(t *testing.T) {
	for key := range template(t) {
		if strings.HasSuffix(key, "/"+redisName) {
			t.Errorf("%s rendered with limitsRedis.enabled=false", key)
		}
	}
}

// The chart's Redis: a Secret with a generated password (copied into the
// routes' namespaces), read by the server from the Secret only, a Service
// selecting its pod, and a configuration that never evicts a counter.
func TestChartLimitsRedis(t *testing.T) {
	docs := templateAll(t, "--set", "limitsRedis.enabled=true", "--set", "limitsRedis.auth.routeNamespaces={platform,payments}")
	r := rendered{}
	secrets := map[string]string{}
	for _, o := range docs {
		if o.GetKind() == "Secret" {
			s := into[corev1.Secret](t, o)
			secrets[o.GetNamespace()] = string(s.Data["password"])
			continue
		}
		r[o.GetKind()+"/"+o.GetName()] = o
	}
	want := secrets[namespace]
	if len(want) < 32 {
		t.Fatalf("password Secret in %s: %q", namespace, want)
	}
	for _, ns := range []string{"platform", "payments"} {
		if secrets[ns] != want {
			t.Errorf("the copy in %s holds another password than the original", ns)
		}
	}
	// The password is in the Secrets only: no other object carries it, in clear or base64.
	for _, o := range docs {
		if o.GetKind() == "Secret" {
			continue
		}
		raw, _ := json.Marshal(o.Object)
		for _, form := range []string{want, base64.StdEncoding.EncodeToString([]byte(want))} {
			if strings.Contains(string(raw), form) {
				t.Errorf("%s %s holds the Redis password", o.GetKind(), o.GetName())
			}
		}
	}

	sts := into[appsv1.StatefulSet](t, r.get(t, "StatefulSet", redisName))
	if *sts.Spec.Replicas != 1 {
		t.Errorf("replicas %d: the counters need one primary", *sts.Spec.Replicas)
	}
	pod := sts.Spec.Template.Spec
	c := pod.Containers[0]
	var ref *corev1.SecretKeySelector
	for _, e := range c.Env {
		if e.Value != "" && strings.Contains(strings.ToLower(e.Name), "pass") {
			t.Errorf("env %s has an inline value", e.Name)
		}
		if e.Name == "REDIS_PASSWORD" && e.ValueFrom != nil {
			ref = e.ValueFrom.SecretKeyRef
		}
	}
	if ref == nil || ref.Name != redisName || ref.Key != "password" {
		t.Errorf("REDIS_PASSWORD from %+v, want Secret %s key password", ref, redisName)
	}
	if line := passwordOnCommandLine(c.Args[len(c.Args)-1]); line != "" {
		t.Errorf("the password reaches a command line: %q", line)
	}
	for _, bad := range []string{"exec redis-server c --requirepass \"$REDIS_PASSWORD\" - <<EOF\nEOF", "<<EOF\nEOF\nredis-cli -a $REDIS_PASSWORD"} {
		if passwordOnCommandLine(bad) == "" {
			t.Errorf("passwordOnCommandLine misses %q", bad)
		}
	}
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Error("Redis runs with a writable root filesystem or as root")
	}
	if !hasVolume(pod.Volumes, "data", func(v corev1.Volume) bool { return v.EmptyDir != nil }) || len(sts.Spec.VolumeClaimTemplates) != 0 {
		t.Error("without persistence the data volume should be an emptyDir")
	}

	svc := into[corev1.Service](t, r.get(t, "Service", redisName))
	for k, v := range svc.Spec.Selector {
		if sts.Spec.Template.Labels[k] != v {
			t.Errorf("Service selects %s=%s, which the Redis pod lacks", k, v)
		}
	}
	for k, v := range sts.Spec.Selector.MatchLabels {
		if sts.Spec.Template.Labels[k] != v {
			t.Errorf("StatefulSet selects %s=%s, which its pod lacks", k, v)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 6379 || svc.Spec.Ports[0].TargetPort.String() != c.Ports[0].Name {
		t.Errorf("Service ports %+v, container ports %+v", svc.Spec.Ports, c.Ports)
	}
	manager := into[appsv1.Deployment](t, r.get(t, "Deployment", fullname))
	if selects(svc.Spec.Selector, manager.Spec.Template.Labels) {
		t.Error("the Redis Service also selects the manager pods")
	}

	conf := into[corev1.ConfigMap](t, r.get(t, "ConfigMap", redisName)).Data["redis.conf"]
	for _, line := range []string{"appendonly yes", "maxmemory-policy noeviction", "port 6379", "dir /data"} {
		if !slices.Contains(strings.Split(conf, "\n"), line) {
			t.Errorf("redis.conf lacks %q:\n%s", line, conf)
		}
	}
}

// passwordOnCommandLine returns the line of a shell script that uses
// $REDIS_PASSWORD outside the here-document feeding redis-server's standard
// input (a command's arguments show in ps; redis-server's own are hidden
// only once it renames its process title).
func passwordOnCommandLine(script string) string {
	inHereDoc := false
	for _, line := range strings.Split(script, "\n") {
		switch {
		case strings.HasSuffix(line, "<<EOF"):
			inHereDoc = true
			if strings.Contains(line, "REDIS_PASSWORD") {
				return line
			}
		case line == "EOF":
			inHereDoc = false
		case strings.Contains(line, "REDIS_PASSWORD") && !inHereDoc:
			return line
		}
	}
	return ""
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func hasVolume(vols []corev1.Volume, name string, ok func(corev1.Volume) bool) bool {
	for _, v := range vols {
		if v.Name == name {
			return ok(v)
		}
	}
	return false
}

func TestChartLimitsRedisOptions(t *testing.T) {
	r := template(t, "--set", "limitsRedis.enabled=true", "--set", "limitsRedis.persistence.enabled=true",
		"--set", "limitsRedis.persistence.size=5Gi", "--set", "limitsRedis.persistence.storageClass=fast",
		"--set", "limitsRedis.auth.existingSecret=my-redis", "--set", "limitsRedis.auth.secretKey=pw",
		"--set", "limitsRedis.tls.existingSecret=redis-tls")
	if _, ok := r["Secret/"+redisName]; ok {
		t.Error("a password Secret rendered although auth.existingSecret is set")
	}
	sts := into[appsv1.StatefulSet](t, r.get(t, "StatefulSet", redisName))
	pvcs := sts.Spec.VolumeClaimTemplates
	if len(pvcs) != 1 || pvcs[0].Name != "data" || pvcs[0].Spec.Resources.Requests.Storage().String() != "5Gi" ||
		pvcs[0].Spec.StorageClassName == nil || *pvcs[0].Spec.StorageClassName != "fast" {
		t.Errorf("volumeClaimTemplates %+v", pvcs)
	}
	pod := sts.Spec.Template.Spec
	if hasVolume(pod.Volumes, "data", func(corev1.Volume) bool { return true }) {
		t.Error("an emptyDir data volume beside the claim")
	}
	if !hasVolume(pod.Volumes, "tls", func(v corev1.Volume) bool { return v.Secret != nil && v.Secret.SecretName == "redis-tls" }) {
		t.Errorf("TLS Secret not mounted: %+v", pod.Volumes)
	}
	for _, e := range pod.Containers[0].Env {
		if e.Name == "REDIS_PASSWORD" && (e.ValueFrom.SecretKeyRef.Name != "my-redis" || e.ValueFrom.SecretKeyRef.Key != "pw") {
			t.Errorf("password from %+v, want my-redis/pw", e.ValueFrom.SecretKeyRef)
		}
	}
	conf := into[corev1.ConfigMap](t, r.get(t, "ConfigMap", redisName)).Data["redis.conf"]
	for _, line := range []string{"port 0", "tls-port 6379", "tls-cert-file /tls/tls.crt"} {
		if !slices.Contains(strings.Split(conf, "\n"), line) {
			t.Errorf("redis.conf with TLS lacks %q", line)
		}
	}

	for _, args := range [][]string{
		{"--set", "limitsRedis.enabled=true", "--set", "limitsRedis.auth.existingSecret=x", "--set", "limitsRedis.auth.routeNamespaces={a}"},
		{"--set", "limitsRedis.enabled=true", "--set", "limitsRedis.maxMemory=lots"},
		{"--set", "limitsRedis.enabled=true", "--set", "limitsRedis.auth.routeNamespaces={Not_A_Namespace}"},
	} {
		if _, err := helm(t, append([]string{"template", release, chartDir}, args...)...); err == nil {
			t.Errorf("helm template %v succeeded", args)
		}
	}
}

// crdRedisAddressPattern is the pattern the CRD gives spec.proxy.limits.redis.address.
func crdRedisAddressPattern(t *testing.T) *regexp.Regexp {
	t.Helper()
	crd := configObject(t, filepath.Join("charts", "cascadeflow-operator", "files", "crds", "routing.cascadeflow.io_cascaderoutes.yaml"))
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		p, ok, _ := unstructured.NestedString(v.(map[string]any), "schema", "openAPIV3Schema", "properties", "spec", "properties",
			"proxy", "properties", "limits", "properties", "redis", "properties", "address", "pattern")
		if ok {
			return regexp.MustCompile(p)
		}
	}
	t.Fatal("the CRD has no pattern for spec.proxy.limits.redis.address")
	return nil
}

// managerLimitsRedis reads the default Redis the chart gives the manager
// (--limits-redis flags) into the spec the renderer gets from them.
func managerLimitsRedis(t *testing.T, d *appsv1.Deployment) *v1alpha1.RedisSpec {
	t.Helper()
	flags := map[string]string{}
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		if name, value, _ := strings.Cut(strings.TrimPrefix(a, "--"), "="); strings.HasPrefix(name, "limits-redis") {
			flags[name] = value
		}
	}
	if flags["limits-redis"] == "" {
		return nil
	}
	r := &v1alpha1.RedisSpec{Address: flags["limits-redis"], Username: flags["limits-redis-username"]}
	_, r.TLS = flags["limits-redis-tls"]
	if s := flags["limits-redis-password-secret"]; s != "" {
		r.PasswordSecretRef = &v1alpha1.SecretKeyRef{Name: s, Key: flags["limits-redis-password-key"]}
	}
	if s := flags["limits-redis-ca-secret"]; s != "" {
		r.CASecretRef = &v1alpha1.SecretKeyRef{Name: s, Key: cmp.Or(flags["limits-redis-ca-key"], "ca.crt")}
	}
	return r
}

// A CascadeRoute with clientKeys, in a namespace the chart copied the
// password into, gets proxy pods that reach the chart's Redis without naming
// it: the manager's --limits-redis is the Service's address (valid for the
// CRD too), and the password comes from the copy in the route's namespace.
func TestChartLimitsRedisWiresIntoRoutes(t *testing.T) {
	docs := templateAll(t, "--set", "limitsRedis.enabled=true", "--set", "limitsRedis.auth.routeNamespaces={platform}")
	var svc *corev1.Service
	var manager *appsv1.Deployment
	copied := false
	for _, o := range docs {
		switch {
		case o.GetKind() == "Service" && o.GetName() == redisName:
			svc = into[corev1.Service](t, o)
		case o.GetKind() == "Deployment" && o.GetName() == fullname:
			manager = into[appsv1.Deployment](t, o)
		case o.GetKind() == "Secret" && o.GetName() == redisName && o.GetNamespace() == "platform":
			copied = true
		}
	}
	if svc == nil || manager == nil || !copied {
		t.Fatalf("Service rendered %v, manager %v, password copied into platform %v", svc != nil, manager != nil, copied)
	}
	address := fmt.Sprintf("%s.%s.svc:%d", svc.Name, svc.Namespace, svc.Spec.Ports[0].Port)
	if !crdRedisAddressPattern(t).MatchString(address) {
		t.Fatalf("%s does not pass the CRD's address pattern", address)
	}
	def := managerLimitsRedis(t, manager)
	if def == nil || def.Address != address || def.PasswordSecretRef == nil || def.PasswordSecretRef.Name != redisName || def.PasswordSecretRef.Key != "password" {
		t.Fatalf("the manager's default Redis %+v, want %s with Secret %s key password", def, address, redisName)
	}

	cr := &v1alpha1.CascadeRoute{}
	cr.Name, cr.Namespace = "claude-code", "platform"
	cr.Spec.ClientKeys = []v1alpha1.ClientKey{{Name: "alice", SecretKey: "alice"}}
	cr.Spec.Proxy.ClientKeysSecretRef = &v1alpha1.LocalSecretRef{Name: "keys"}
	opts := render.Options{ProxyImage: "cascadeflow/proxy:test", LimitsRedis: def}
	c := render.Deployment(cr, opts).Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--limits-redis="+address) {
		t.Errorf("proxy args %v lack --limits-redis=%s", c.Args, address)
	}
	var ref *corev1.SecretKeySelector
	for _, e := range c.Env {
		if e.Name == render.LimitsRedisPasswordEnv && e.ValueFrom != nil {
			ref = e.ValueFrom.SecretKeyRef
		}
	}
	if ref == nil || ref.Name != redisName || ref.Key != "password" {
		t.Errorf("proxy's %s from %+v", render.LimitsRedisPasswordEnv, ref)
	}
	if !slices.Contains(opts.SecretNames(cr), redisName) {
		t.Errorf("the operator does not watch the password Secret: %v", opts.SecretNames(cr))
	}

	// An existing Redis: its flags reach the manager as given.
	ext := into[appsv1.Deployment](t, template(t, "--set", "limitsRedis.external.address=redis.shared.svc:6380",
		"--set", "limitsRedis.external.passwordSecret=redis-auth", "--set", "limitsRedis.external.caSecret=redis-ca",
		"--set", "limitsRedis.external.username=proxy").get(t, "Deployment", fullname))
	want := &v1alpha1.RedisSpec{Address: "redis.shared.svc:6380", Username: "proxy",
		PasswordSecretRef: &v1alpha1.SecretKeyRef{Name: "redis-auth", Key: "password"},
		CASecretRef:       &v1alpha1.SecretKeyRef{Name: "redis-ca", Key: "ca.crt"}}
	if got := managerLimitsRedis(t, ext); !reflect.DeepEqual(got, want) {
		t.Errorf("external Redis: manager default %+v, want %+v", got, want)
	}
	if managerLimitsRedis(t, into[appsv1.Deployment](t, template(t).get(t, "Deployment", fullname))) != nil {
		t.Error("the manager gets a default Redis with limitsRedis off")
	}
	if _, err := helm(t, "template", release, chartDir, "--set", "limitsRedis.enabled=true", "--set", "limitsRedis.external.address=r:6379"); err == nil {
		t.Error("a chart Redis and an external one at once were accepted")
	}
}

// The chart's Redis command and configuration, run here: the server demands
// the password from the Secret (quotes, backslashes and shell syntax
// included), CONFIG is off, and the proxy's store counts through it.
func TestChartLimitsRedisServerRuns(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	r := template(t, "--set", "limitsRedis.enabled=true")
	sts := into[appsv1.StatefulSet](t, r.get(t, "StatefulSet", redisName))
	c := sts.Spec.Template.Spec.Containers[0]
	conf := into[corev1.ConfigMap](t, r.get(t, "ConfigMap", redisName)).Data["redis.conf"]

	// The pod's mount paths become temporary directories; it listens on loopback.
	dir := t.TempDir()
	confDir, dataDir := filepath.Join(dir, "etc"), filepath.Join(dir, "data")
	for _, d := range []string{confDir, dataDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	conf = strings.NewReplacer("dir /data", "dir "+dataDir, "port 6379", fmt.Sprintf("port %d", port), "bind * -::*", "bind 127.0.0.1").Replace(conf)
	if err := os.WriteFile(filepath.Join(confDir, "redis.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts["config"] == "" || mounts["data"] != "/data" {
		t.Fatalf("volume mounts %v", c.VolumeMounts)
	}
	script := strings.ReplaceAll(c.Args[0], mounts["config"]+"/", confDir+"/")
	password := `pa"ss\word $HOME ` + "`x`"
	cmd := exec.Command(c.Command[0], append(slices.Clone(c.Command[1:]), script)...)
	cmd.Env = append(os.Environ(), "REDIS_PASSWORD="+password)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	addr := fmt.Sprintf("127.0.0.1:%d", port)
	anon := redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true})
	defer anon.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var pingErr error
	for ctx.Err() == nil {
		if pingErr = anon.Ping(ctx).Err(); pingErr != nil && strings.Contains(pingErr.Error(), "NOAUTH") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pingErr == nil || !strings.Contains(pingErr.Error(), "NOAUTH") {
		t.Fatalf("Redis without the password: %v (want NOAUTH)\n%s", pingErr, out)
	}

	store, err := teams.NewRedis(teams.RedisConfig{Addr: addr, Password: password, Policy: teams.FailClosed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	checks := []teams.Check{{Key: "k", Limit: 10, Amount: 7, TTL: time.Minute}}
	if denied, err := store.Reserve(ctx, checks); err != nil || denied != -1 {
		t.Fatalf("first reserve: denied %d, %v", denied, err)
	}
	if denied, err := store.Reserve(ctx, checks); err != nil || denied != 0 {
		t.Fatalf("second reserve over the limit: denied %d, %v (want 0)", denied, err)
	}
	if v, err := store.Get(ctx, []string{"k"}); err != nil || v[0] != 7 {
		t.Errorf("counter %v, %v; want 7", v, err)
	}
	authed := redis.NewClient(&redis.Options{Addr: addr, Password: password, DisableIdentity: true})
	defer authed.Close()
	if err := authed.Do(ctx, "CONFIG", "GET", "requirepass").Err(); err == nil || !strings.Contains(strings.ToLower(err.Error()), "unknown command") {
		t.Errorf("CONFIG GET: %v (want an unknown command: a client could read or change the password)", err)
	}
}

// Installed into a real API server: the generated password is copied into
// the route namespace, survives helm upgrade (the chart reads it back), and
// a CascadeRoute naming the address and Secret the install notes print
// itself is accepted by the CRD's validation.
func TestHelmLimitsRedisInstallAndUpgrade(t *testing.T) {
	cluster := testrig.StartAPIServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(cluster.Config)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "platform"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env := helmEnv(t, cluster.Kubeconfig)
	values := []string{"--set", "limitsRedis.enabled=true", "--set", "limitsRedis.auth.routeNamespaces={platform}"}
	out := runHelm(t, env, append([]string{"install", release, chartDir, "--namespace", namespace, "--create-namespace"}, values...)...)
	address := regexp.MustCompile(`in Redis (\S+) `).FindStringSubmatch(out)
	secretRef := regexp.MustCompile(`from Secret (\S+) \(key (\S+)\)`).FindStringSubmatch(out)
	if address == nil || secretRef == nil || !strings.Contains(out, "copied that Secret into: platform") {
		t.Fatalf("the install notes do not say where the Redis and its password are:\n%s", out)
	}

	password := func(ns string) string {
		t.Helper()
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, secretRef[1], metav1.GetOptions{})
		if err != nil {
			t.Fatalf("Secret %s/%s: %v", ns, secretRef[1], err)
		}
		return string(s.Data[secretRef[2]])
	}
	first := password(namespace)
	if len(first) < 32 || password("platform") != first {
		t.Fatalf("password %d bytes; the copy in platform differs: %v", len(first), password("platform") != first)
	}
	runHelm(t, env, append([]string{"upgrade", release, chartDir, "--namespace", namespace}, values...)...)
	if got := password(namespace); got != first {
		t.Error("helm upgrade changed the Redis password (running proxies would lose Redis)")
	}
	if password("platform") != first {
		t.Error("helm upgrade changed the copy in platform")
	}

	testrig.WaitFor(t, "the CascadeRoute CRD", 30*time.Second, func() bool {
		_, err := cs.Discovery().ServerResourcesForGroupVersion("routing.cascadeflow.io/v1alpha1")
		return err == nil
	})
	route := decodeDocuments(t, fmt.Sprintf(`apiVersion: routing.cascadeflow.io/v1alpha1
kind: CascadeRoute
metadata: {name: limited, namespace: platform}
spec:
  providers:
  - {name: anthropic, type: anthropic, baseURL: http://127.0.0.1:9, passthroughAuth: true}
  defaultRoute: {provider: anthropic}
  clientKeys:
  - {name: alice, secretKey: alice, budget: {usd: 5}}
  proxy:
    clientKeysSecretRef: {name: keys}
    limits:
      redis:
        address: %s
        passwordSecretRef: {name: %s, key: %s}
`, address[1], secretRef[1], secretRef[2]))[0]
	c, err := client.New(cluster.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, route); err != nil {
		t.Fatalf("the API server refuses a route using the chart's Redis: %v", err)
	}
}
