package render

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/proxy/routequality"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

var update = flag.Bool("update", false, "rewrite testdata/*.out.yaml from the current output (review the diff!)")

var testOpts = Options{ProxyImage: "cascadeflow/proxy:test"}

// storedVersions stands for a route's vendor-key Secrets as the API server
// would report them, each at resourceVersion rv.
func storedVersions(cr *v1alpha1.CascadeRoute, rv string) []SecretVersion {
	var out []SecretVersion
	for _, n := range KeySecretNames(cr) {
		out = append(out, SecretVersion{Name: n, UID: types.UID("uid-of-" + n), ResourceVersion: rv})
	}
	return out
}

func readRoute(t *testing.T, path string) *v1alpha1.CascadeRoute {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cr v1alpha1.CascadeRoute
	if err := yaml.UnmarshalStrict(data, &cr); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &cr
}

// renderDocument is what a golden file holds: every rendered object as a YAML
// document, or the translation error.
func renderDocument(t *testing.T, cr *v1alpha1.CascadeRoute) []byte {
	t.Helper()
	set, err := Rules(cr)
	if err != nil {
		return []byte("error: |\n  " + strings.ReplaceAll(err.Error(), "\n", "\n  ") + "\n")
	}
	objs, err := All(cr, set, testOpts, KeySecretsVersion(storedVersions(cr, "1")))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for i, o := range objs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	ins, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			got := renderDocument(t, readRoute(t, in))
			out := strings.TrimSuffix(in, ".in.yaml") + ".out.yaml"
			if *update {
				if err := os.WriteFile(out, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run go test ./controllers/render -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendered output (go test ./controllers/render -update, then review the diff):\n%s",
					out, lineDiff(string(want), string(got)))
			}
		})
	}
}

// lineDiff shows the first differing lines, enough to see what changed.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl
		}
	}
	return "(no line differs)"
}

// The ConfigMap must hold a file the proxy's own strict decoder accepts, and
// its annotation must be the hash of what it decodes to.
func TestConfigMapDecodesWithTheProxyContract(t *testing.T) {
	cr := readRoute(t, "testdata/claude-code.in.yaml")
	set, err := Rules(cr)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := ConfigMap(cr, set)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := rules.Decode([]byte(cm.Data[RulesKey]))
	if err != nil {
		t.Fatalf("proxy would refuse the rendered rules: %v\n%s", err, cm.Data[RulesKey])
	}
	if got := cm.Annotations[RulesHashAnnotation]; got != loaded.Hash() || len(got) != 64 {
		t.Errorf("hash annotation %q, want the loaded set's hash %q", got, loaded.Hash())
	}
	r := loaded.Match("OPUS")
	if r == nil || r.Draft.Model != "claude-haiku-5-5" || r.Verifier.Model != "claude-opus-5-5" || r.EffectiveThreshold() != 0.72 {
		t.Errorf("rule for opus = %+v", r)
	}
	if r.DraftTimeout.Duration.Seconds() != 30 || r.Gate.Judge.Timeout.Duration.Seconds() != 5 || *r.Gate.MinAnswerChars != 20 {
		t.Errorf("durations or gate lost in translation: %+v", r)
	}
	if k := loaded.ProviderByName("anthropic").APIKey; k == nil || k.Env != "CASCADEFLOW_KEY_ANTHROPIC" {
		t.Errorf("anthropic key source = %+v", k)
	}
	if k := loaded.ProviderByName("anthropic-batch").APIKey; k == nil || k.Env != "CASCADEFLOW_KEY_ANTHROPIC_BATCH" {
		t.Errorf("anthropic-batch key source = %+v", k)
	}
	// Same CR, same bytes: nothing depends on map order.
	for i := 0; i < 20; i++ {
		again, _ := ConfigMap(cr, set)
		if again.Data[RulesKey] != cm.Data[RulesKey] {
			t.Fatal("rules encoding is not deterministic")
		}
	}
}

// A rule edit must not touch the pod template (it would restart every proxy pod).
func TestPodTemplateIgnoresRules(t *testing.T) {
	a := readRoute(t, "testdata/claude-code.in.yaml")
	b := a.DeepCopy()
	b.Spec.Rules[0].Draft.Model = "claude-sonnet-5-5"
	b.Spec.Rules[0].Threshold = nil
	b.Spec.Rules = append(b.Spec.Rules, v1alpha1.Rule{Name: "extra", Models: []string{"x"},
		Draft:    v1alpha1.Target{Provider: "anthropic", Model: "m"},
		Verifier: v1alpha1.Target{Provider: "anthropic", Model: "n"}})
	b.Spec.Prices = nil
	b.Spec.DefaultRoute = nil
	b.Generation++

	setA, errA := Rules(a)
	setB, errB := Rules(b)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if setA.Hash() == setB.Hash() {
		t.Fatal("test is broken: the rules did not change")
	}
	ta, tb := Deployment(a, testOpts).Spec.Template, Deployment(b, testOpts).Spec.Template
	if !reflect.DeepEqual(ta, tb) {
		t.Errorf("pod template changed on a rule-only edit:\n%v\n%v", ta, tb)
	}

	// A changed Secret reference is a real pod change (env comes from it).
	c := a.DeepCopy()
	c.Spec.Providers[0].APIKeySecretRef.Key = "rotated"
	if reflect.DeepEqual(ta, Deployment(c, testOpts).Spec.Template) {
		t.Error("pod template ignores the API key Secret reference")
	}

	// Through All, with the key Secrets at one version: still no change.
	keys := KeySecretsVersion(storedVersions(a, "7"))
	da, db := deploymentOf(t, a, keys), deploymentOf(t, b, keys)
	if !reflect.DeepEqual(da.Spec.Template, db.Spec.Template) {
		t.Errorf("pod template changed on a rule-only edit:\n%v\n%v", da.Spec.Template, db.Spec.Template)
	}
	if got := da.Spec.Template.Annotations[KeySecretsVersionAnnotation]; got != keys || len(got) != 64 {
		t.Errorf("key-Secrets annotation %q, want %q", got, keys)
	}
	// A new version of a key Secret is a new pod template: that is the restart.
	rotated := deploymentOf(t, a, KeySecretsVersion(storedVersions(a, "8")))
	if reflect.DeepEqual(da.Spec.Template, rotated.Spec.Template) {
		t.Error("pod template ignores a new version of the key Secret")
	}
}

func deploymentOf(t *testing.T, cr *v1alpha1.CascadeRoute, keysVersion string) *appsv1.Deployment {
	t.Helper()
	set, err := Rules(cr)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := All(cr, set, testOpts, keysVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok {
			return d
		}
	}
	t.Fatal("All rendered no Deployment")
	return nil
}

func TestKeySecretsVersion(t *testing.T) {
	a := SecretVersion{Name: "anthropic", UID: "u1", ResourceVersion: "10"}
	b := SecretVersion{Name: "openai", UID: "u2", ResourceVersion: "20"}
	// sha256 of "anthropic/u1/10\nopenai/u2/20\n", computed with sha256sum.
	const want = "4026ee1132bc3c7015f00bfd1b6146732da5a2f0d06dea6f472a3c4f2f3bf40a"
	if got := KeySecretsVersion([]SecretVersion{b, a}); got != want {
		t.Errorf("digest %s, want %s", got, want)
	}
	if KeySecretsVersion([]SecretVersion{a, b}) != KeySecretsVersion([]SecretVersion{b, a}) {
		t.Error("digest depends on the order of the Secrets")
	}
	if KeySecretsVersion(nil) != "" {
		t.Error("no key Secrets must give no annotation")
	}
	seen := map[string]string{KeySecretsVersion([]SecretVersion{a, b}): "original"}
	for name, changed := range map[string]SecretVersion{
		"new resourceVersion (data written)": {Name: "anthropic", UID: "u1", ResourceVersion: "11"},
		"new UID (deleted and re-created)":   {Name: "anthropic", UID: "u3", ResourceVersion: "10"},
		"another Secret":                     {Name: "anthropic-2", UID: "u1", ResourceVersion: "10"},
	} {
		d := KeySecretsVersion([]SecretVersion{changed, b})
		if prev, dup := seen[d]; dup {
			t.Errorf("%s gives the same digest as %s", name, prev)
		}
		seen[d] = name
	}
}

// The client-keys Secret is hot-reloaded from its mount: it must not be part
// of what restarts pods, unless a provider reads its vendor key from it too.
func TestKeySecretNamesLeaveOutClientKeys(t *testing.T) {
	cr := readRoute(t, "testdata/exposed.in.yaml")
	if cr.Spec.Proxy.ClientKeysSecretRef == nil {
		t.Fatal("test is broken: exposed.in.yaml has no client-keys Secret")
	}
	ck := cr.Spec.Proxy.ClientKeysSecretRef.Name
	if names := KeySecretNames(cr); slices.Contains(names, ck) || len(names) == 0 {
		t.Errorf("KeySecretNames = %v (client keys %q)", names, ck)
	}
	if names := SecretNames(cr); !slices.Contains(names, ck) {
		t.Errorf("SecretNames = %v lacks the client-keys Secret %q (it must still be watched)", names, ck)
	}
	shared := cr.DeepCopy()
	shared.Spec.Providers[0].APIKeySecretRef.Name = ck
	if names := KeySecretNames(shared); !slices.Contains(names, ck) {
		t.Errorf("KeySecretNames = %v lacks %q, which a provider reads its key from", names, ck)
	}
}

func TestSetKeySecretsVersion(t *testing.T) {
	d := Deployment(readRoute(t, "testdata/claude-code.in.yaml"), testOpts)
	SetKeySecretsVersion(d, "abc")
	if KeySecretsVersionOf(d) != "abc" {
		t.Errorf("annotations %v", d.Spec.Template.Annotations)
	}
	SetKeySecretsVersion(d, "")
	if d.Spec.Template.Annotations != nil {
		t.Errorf("annotations %v after clearing, want none", d.Spec.Template.Annotations)
	}
}

func TestDeploymentHardening(t *testing.T) {
	cr := readRoute(t, "testdata/openai.in.yaml")
	d := Deployment(cr, testOpts)
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("containers = %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !*sc.RunAsNonRoot ||
		!reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context = %+v", sc)
	}
	if psc := pod.SecurityContext; psc == nil || !*psc.RunAsNonRoot || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context = %+v", psc)
	}
	if *pod.TerminationGracePeriodSeconds != 300 {
		t.Errorf("grace = %d, want the spec's 300", *pod.TerminationGracePeriodSeconds)
	}
	for _, m := range c.VolumeMounts {
		if m.SubPath != "" {
			t.Errorf("mount %s uses subPath: updates would never reach the pod", m.Name)
		}
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" ||
		c.ReadinessProbe.HTTPGet.Port.StrVal != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("probes/ports: %+v %+v %+v", c.ReadinessProbe, c.LivenessProbe, c.Ports)
	}
	wantArgs := []string{"--listen=0.0.0.0:8080", "--admin-listen=0.0.0.0:9090", "--rules=/etc/cascadeflow/rules.yaml",
		"--rules-configmap=default/openai-rules", "--demo=off", "--drain-delay=5s", "--shutdown-timeout=293s",
		"--client-keys-dir=/var/run/cascadeflow/client-keys", "--quality-publish", "--quality-route=openai"}
	if !reflect.DeepEqual(c.Args, wantArgs) {
		t.Errorf("args = %q, want %q", c.Args, wantArgs)
	}
	if c.Image != "registry.example/cascadeflow/proxy:v0.1.0" || *d.Spec.Replicas != 3 {
		t.Errorf("image %q replicas %d", c.Image, *d.Spec.Replicas)
	}
	if got := c.Resources.Limits[corev1.ResourceMemory]; got.Cmp(resource.MustParse("512Mi")) != 0 {
		t.Errorf("memory limit = %v", got.String())
	}
	// Besides the pod's identity (for publishing), only the provider with a
	// Secret gets an env var; pass-through needs none.
	if len(c.Env) != 3 || c.Env[0].Name != "POD_NAME" || c.Env[1].Name != "POD_NAMESPACE" || c.Env[2].Name != "CASCADEFLOW_KEY_LOCAL_VLLM" ||
		c.Env[2].ValueFrom.SecretKeyRef.Name != "vllm" || c.Env[2].ValueFrom.SecretKeyRef.Key != "token" || c.Env[2].Value != "" {
		t.Errorf("env = %+v", c.Env)
	}
	if len(d.Spec.Template.Annotations) != 0 {
		t.Errorf("pod template annotations %v: a rules hash here would restart pods on every rule edit", d.Spec.Template.Annotations)
	}
	// All adds the key-Secrets version, and nothing else.
	keys := KeySecretsVersion(storedVersions(cr, "1"))
	if got := deploymentOf(t, cr, keys).Spec.Template.Annotations; !reflect.DeepEqual(got, map[string]string{KeySecretsVersionAnnotation: keys}) {
		t.Errorf("pod template annotations %v, want only the key-Secrets version", got)
	}
}

func TestDefaultsWithoutProxySpec(t *testing.T) {
	cr := readRoute(t, "testdata/minimal.in.yaml")
	d := Deployment(cr, testOpts)
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != testOpts.ProxyImage || *d.Spec.Replicas != 1 || *d.Spec.Template.Spec.TerminationGracePeriodSeconds != 60 {
		t.Errorf("image %q replicas %d grace %d", c.Image, *d.Spec.Replicas, *d.Spec.Template.Spec.TerminationGracePeriodSeconds)
	}
	for _, e := range c.Env {
		if e.Name != "POD_NAME" && e.Name != "POD_NAMESPACE" {
			t.Errorf("pass-through provider got env %v", e)
		}
	}
	svc := Service(cr)
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.Ports[0].Port != 8080 {
		t.Errorf("service %+v", svc.Spec)
	}
	if got, want := Endpoint(cr), "http://passthrough-proxy.default.svc:8080"; got != want {
		t.Errorf("endpoint %q, want %q", got, want)
	}
}

func TestOwnedObjectsShareOwnerAndLabels(t *testing.T) {
	cr := readRoute(t, "testdata/claude-code.in.yaml")
	set, err := Rules(cr)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := All(cr, set, testOpts, "")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, o := range objs {
		kinds[o.GetObjectKind().GroupVersionKind().Kind] = true
		refs := o.GetOwnerReferences()
		if len(refs) != 1 || refs[0].UID != cr.UID || refs[0].Kind != "CascadeRoute" ||
			refs[0].APIVersion != "routing.cascadeflow.io/v1alpha1" || !*refs[0].Controller {
			t.Errorf("%T owner refs = %+v", o, refs)
		}
		if o.GetNamespace() != "team-a" || o.GetLabels()[RouteLabel] != "claude-code" {
			t.Errorf("%T %s/%s labels %v", o, o.GetNamespace(), o.GetName(), o.GetLabels())
		}
	}
	for _, k := range []string{"ConfigMap", "Deployment", "Service", "ServiceAccount", "Role", "RoleBinding"} {
		if !kinds[k] {
			t.Errorf("no %s rendered", k)
		}
	}
	role := Role(cr)
	if !reflect.DeepEqual(role.Rules[0].ResourceNames, []string{"claude-code-rules"}) ||
		!reflect.DeepEqual(role.Rules[0].Verbs, []string{"get", "list", "watch"}) {
		t.Errorf("role rules = %+v", role.Rules)
	}
	if got := SecretNames(cr); !reflect.DeepEqual(got, []string{"vendor-keys"}) {
		t.Errorf("SecretNames = %v", got)
	}
}

func TestInvalidRulesAreRefused(t *testing.T) {
	cases := map[string][]string{
		"testdata/invalid-duplicate-model.in.yaml":     {`rules[1].models[0]: model "GPT-5" is already served by rule "one"`},
		"testdata/invalid-undeclared-provider.in.yaml": {`rules[0].draft.provider: names undeclared provider "b"`, "rules[0].threshold: must be in [0, 1]", `defaultRoute.provider: names undeclared provider "c"`},
		// Misspelt gate settings the API server cannot catch for an older
		// CRD, and values it does not check.
		"testdata/invalid-gate.in.yaml": {`rules[0].gate.weights: unknown signal "hedgin" (known: truncation,`,
			`rules[0].gate.complexityThresholds: unknown complexity level "extreme" (known: simple, moderate, hard)`,
			`rules[0].gate.options: unknown option "hedge_penalt" (known: veto_cap,`,
			"rules[0].gate.options[repetition_ngram]: must be an integer in [1, 16], got 2.5"},
	}
	for path, wants := range cases {
		_, err := Rules(readRoute(t, path))
		if err == nil {
			t.Errorf("%s: accepted", path)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", path, err, w)
			}
		}
	}
}

func TestShutdownTimingsFitTheGracePeriod(t *testing.T) {
	for grace, want := range map[int64][2]int64{60: {5, 53}, 11: {5, 4}, 10: {0, 8}, 2: {0, 1}, 1: {0, 1}} {
		drain, shutdown := shutdownTimings(grace)
		if drain != want[0] || shutdown != want[1] {
			t.Errorf("grace %ds: drain %ds shutdown %ds, want %v", grace, drain, shutdown, want)
		}
		if grace >= 3 && drain+shutdown >= grace {
			t.Errorf("grace %ds: drain+shutdown %ds leaves no margin before SIGKILL", grace, drain+shutdown)
		}
	}
}

func TestKeyEnvName(t *testing.T) {
	for in, want := range map[string]string{"anthropic": "CASCADEFLOW_KEY_ANTHROPIC", "local-vllm-2": "CASCADEFLOW_KEY_LOCAL_VLLM_2"} {
		if got := KeyEnvName(in); got != want {
			t.Errorf("KeyEnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

// The quality and secondOpinion blocks reach the proxy field for field:
// the rules file decodes strictly and resolves to the declared settings.
func TestQualityRendersIntoTheRulesContract(t *testing.T) {
	cr := readRoute(t, "testdata/quality.in.yaml")
	set, err := Rules(cr)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := ConfigMap(cr, set)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := rules.Decode([]byte(cm.Data[RulesKey]))
	if err != nil {
		t.Fatalf("proxy would refuse the rendered rules: %v", err)
	}
	s := routequality.Resolve(loaded.Match("claude-opus-5-5"))
	if s.Target != 0.95 || s.Confidence != 0.9 || s.MinSamples != 50 || !s.Learn || s.ColdStart != rules.ColdStartVerifier ||
		s.Explore != 0.2 || s.AuditRate != 0.1 || s.MaxCostShare != 0.15 || s.Comparer != rules.ComparerJudge ||
		s.JudgeRate != 0.5 || s.Judge == nil || s.Judge.Model != "gpt-5.2-mini" || s.JudgeTimeout != 30*time.Second || !s.KeepText {
		t.Errorf("quality settings lost in translation: %+v", s)
	}
	if len(s.Opinions) != 1 || s.Opinions[0].Provider != "openai" || s.Opinions[0].Model != "gpt-5.2-nano" || s.OpinionWait != 1500*time.Millisecond {
		t.Errorf("second opinions lost in translation: %+v", s)
	}
	if routequality.Resolve(loaded.Match("claude-sonnet-5-5")).Active() {
		t.Error("a rule without quality fields runs a quality loop")
	}
}

// Every route's pods publish (samples with a quality loop, usage always):
// they get the publishing arguments, their own name and the right to write
// ConfigMaps, with or without a quality loop.
func TestEveryRoutePublishes(t *testing.T) {
	held := readRoute(t, "testdata/quality.in.yaml")
	plain := held.DeepCopy()
	for i := range plain.Spec.Rules {
		plain.Spec.Rules[i].Quality, plain.Spec.Rules[i].SecondOpinion = nil, nil
	}
	for _, cr := range []*v1alpha1.CascadeRoute{held, plain} {
		c := Deployment(cr, testOpts).Spec.Template.Spec.Containers[0]
		args := strings.Join(c.Args, " ")
		hasArgs := strings.Contains(args, "--quality-publish") && strings.Contains(args, "--quality-route="+cr.Name)
		hasEnv := slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
			return e.Name == "POD_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name"
		})
		writes := slices.ContainsFunc(Role(cr).Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Verbs, "create") })
		if !hasArgs || !hasEnv || !writes {
			t.Errorf("quality loop %v: args %v, POD_NAME %v, ConfigMap writes %v", QualityLoop(cr), hasArgs, hasEnv, writes)
		}
	}
}

func TestDeploymentOTelEnv(t *testing.T) {
	cr := readRoute(t, "testdata/openai.in.yaml")
	cr.Spec.Proxy.Env = []corev1.EnvVar{
		{Name: "OTEL_SERVICE_NAME", Value: "route-own"},
		{Name: "OTEL_EXPORTER_OTLP_HEADERS", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "collector"}, Key: "headers"}}},
		{Name: "CASCADEFLOW_KEY_OPENAI", Value: "sk-smuggled"}, // refused by the CRD; dropped here too
	}
	opts := testOpts
	opts.ProxyEnv = []corev1.EnvVar{{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: "http://otel:4318"}, {Name: "OTEL_SERVICE_NAME", Value: "default"}}
	env := map[string]corev1.EnvVar{}
	for _, e := range Deployment(cr, opts).Spec.Template.Spec.Containers[0].Env {
		if _, dup := env[e.Name]; dup {
			t.Fatalf("%s set twice", e.Name)
		}
		env[e.Name] = e
	}
	if env["OTEL_SERVICE_NAME"].Value != "route-own" || env["OTEL_EXPORTER_OTLP_ENDPOINT"].Value != "http://otel:4318" ||
		env["OTEL_EXPORTER_OTLP_HEADERS"].ValueFrom == nil {
		t.Fatalf("OTEL env = %+v", env)
	}
	if e := env["CASCADEFLOW_KEY_OPENAI"]; e.Value == "sk-smuggled" {
		t.Fatalf("a route's env overrode a provider key")
	}
}
