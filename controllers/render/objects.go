package render

import (
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

const (
	// RulesKey is the ConfigMap data key holding the rules file.
	RulesKey = "rules.yaml"
	// RulesHashAnnotation on the ConfigMap carries rules.Set.Hash of its rules file.
	RulesHashAnnotation = "routing.cascadeflow.io/rules-hash"
	// RouteLabel on every owned object names the CascadeRoute it serves.
	RouteLabel = "routing.cascadeflow.io/cascaderoute"
	// ManagedByLabel = ManagedByValue marks every owned object; the operator
	// caches only objects so marked.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "cascadeflow-operator"

	// ProxyPort is the port the proxy container serves the API (and probes) on.
	ProxyPort = 8080
	// AdminPort serves /metrics and /debug/rules (and probes), apart from the
	// API so that an Ingress to the Service never exposes them; scrape pods on it.
	AdminPort = 9090
	// RulesDir is where the rules ConfigMap is mounted, as a whole directory:
	// a subPath mount would never see updates.
	RulesDir = "/etc/cascadeflow"
	// ClientKeysDir is where the client-keys Secret is mounted, when set.
	ClientKeysDir = "/var/run/cascadeflow/client-keys"

	containerName = "proxy"
	// The UID distroless "nonroot" images use; set explicitly so runAsNonRoot
	// holds even for images that declare a user by name.
	nonRootUID = 65532

	defaultGracePeriod = 60
)

// Object is what every rendered object is: named and typed (a client.Object).
type Object interface {
	metav1.Object
	runtime.Object
}

// All renders every object a CascadeRoute owns, in the order they should be
// applied: the rules ConfigMap first (it exists before pods mount it), the
// Ingress last (the Service it points at exists before it is exposed). The
// Ingress is left out when ExposureOf refuses it. keysVersion is the
// KeySecretsVersion of the route's vendor-key Secrets as they are now: it
// goes on the pod template, so that new keys start new pods.
func All(cr *v1alpha1.CascadeRoute, set *rules.Set, opts Options, keysVersion string) ([]Object, error) {
	cm, err := ConfigMap(cr, set)
	if err != nil {
		return nil, err
	}
	dep := Deployment(cr, opts)
	SetKeySecretsVersion(dep, keysVersion)
	objs := []Object{cm, ServiceAccount(cr), Role(cr), RoleBinding(cr), dep, Service(cr)}
	if NeedsDisruptionBudget(cr) {
		objs = append(objs, PodDisruptionBudget(cr))
	}
	if Autoscaled(cr) {
		objs = append(objs, HorizontalPodAutoscaler(cr))
	}
	if ExposureOf(cr).Ingress.Allowed {
		objs = append(objs, Ingress(cr))
	}
	return objs, nil
}

// Unwanted lists the optional objects a CascadeRoute must not have in its
// current spec (named as All would name them, without content), so that the
// reconciler deletes them: an Ingress that was removed or is refused, an
// autoscaler that was switched off, a disruption budget no longer needed,
// the quality archive of a route whose last quality block was removed.
func Unwanted(cr *v1alpha1.CascadeRoute) []Object {
	var out []Object
	meta := func() metav1.ObjectMeta { return metav1.ObjectMeta{Name: ProxyName(cr), Namespace: cr.Namespace} }
	if !ExposureOf(cr).Ingress.Allowed {
		out = append(out, &networkingv1.Ingress{TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"}, ObjectMeta: meta()})
	}
	if !Autoscaled(cr) {
		out = append(out, &autoscalingv2.HorizontalPodAutoscaler{TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"}, ObjectMeta: meta()})
	}
	if !NeedsDisruptionBudget(cr) {
		out = append(out, &policyv1.PodDisruptionBudget{TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"}, ObjectMeta: meta()})
	}
	if !QualityLoop(cr) {
		out = append(out, &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: QualityArchiveName(cr), Namespace: cr.Namespace}})
	}
	return out
}

// Options are the operator-wide settings the renderers need.
type Options struct {
	// ProxyImage is used when spec.proxy.image is empty.
	ProxyImage string
	// ProxyEnv is set in every proxy container (OTEL_* variables: tracing
	// for every route); a route's spec.proxy.env overrides a name it sets.
	ProxyEnv []corev1.EnvVar
	// LimitsRedis is the Redis the proxies of routes with clientKeys share
	// their limits through when the route names none (spec.proxy.limits.redis);
	// its Secrets are read from each route's namespace.
	LimitsRedis *v1alpha1.RedisSpec
}

// ConfigMapName names the rules ConfigMap of a CascadeRoute.
func ConfigMapName(cr *v1alpha1.CascadeRoute) string { return cr.Name + "-rules" }

// ProxyName names the Deployment, Service, ServiceAccount, Role and RoleBinding of a CascadeRoute.
func ProxyName(cr *v1alpha1.CascadeRoute) string { return cr.Name + "-proxy" }

// ServicePort is the Service port with its default applied.
func ServicePort(cr *v1alpha1.CascadeRoute) int32 {
	if p := cr.Spec.Proxy.Service.Port; p != 0 {
		return p
	}
	return ProxyPort
}

// Endpoint is the in-cluster base URL of the proxy Service.
func Endpoint(cr *v1alpha1.CascadeRoute) string {
	return fmt.Sprintf("http://%s.%s.svc:%d", ProxyName(cr), cr.Namespace, ServicePort(cr))
}

// DesiredReplicas is spec.proxy.replicas with its default applied. An
// autoscaled route's count is the autoscaler's: see MinReplicas.
func DesiredReplicas(cr *v1alpha1.CascadeRoute) int32 {
	if r := cr.Spec.Proxy.Replicas; r != nil {
		return *r
	}
	return 1
}

// SelectorLabels select the proxy pods of one CascadeRoute. They never change
// (a Deployment's selector is immutable).
func SelectorLabels(cr *v1alpha1.CascadeRoute) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     "cascadeflow-proxy",
		"app.kubernetes.io/instance": cr.Name,
	}
}

func labels(cr *v1alpha1.CascadeRoute) map[string]string {
	l := SelectorLabels(cr)
	l["app.kubernetes.io/component"] = "proxy"
	l["app.kubernetes.io/part-of"] = "cascadeflow"
	l[ManagedByLabel] = ManagedByValue
	l[RouteLabel] = cr.Name
	return l
}

func objectMeta(cr *v1alpha1.CascadeRoute, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:      name,
		Namespace: cr.Namespace,
		Labels:    labels(cr),
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion:         v1alpha1.GroupVersion.String(),
			Kind:               "CascadeRoute",
			Name:               cr.Name,
			UID:                cr.UID,
			Controller:         ptr.To(true),
			BlockOwnerDeletion: ptr.To(true),
		}},
	}
}

// ConfigMap holds the rules file, deterministically encoded, with its hash as an annotation.
func ConfigMap(cr *v1alpha1.CascadeRoute, set *rules.Set) (*corev1.ConfigMap, error) {
	data, err := rules.EncodeYAML(set)
	if err != nil {
		return nil, fmt.Errorf("render rules ConfigMap: %w", err)
	}
	meta := objectMeta(cr, ConfigMapName(cr))
	meta.Annotations = map[string]string{RulesHashAnnotation: set.Hash()}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: meta,
		Data:       map[string]string{RulesKey: string(data)},
	}, nil
}

// Deployment runs the proxy. Its pod template depends on the providers'
// Secret references and spec.proxy only (All adds the vendor-key Secrets'
// version), never on the rules: a rule edit changes the ConfigMap alone,
// which the proxy reloads without a restart. The one exception is turning
// the quality loop on or off (the first quality or secondOpinion block
// added, the last one removed): pods then start or stop publishing their
// quality samples, which takes arguments and the pod's own name.
func Deployment(cr *v1alpha1.CascadeRoute, opts Options) *appsv1.Deployment {
	px := &cr.Spec.Proxy
	image := px.Image
	if image == "" {
		image = opts.ProxyImage
	}
	grace := int64(defaultGracePeriod)
	if px.TerminationGracePeriodSeconds != nil {
		grace = *px.TerminationGracePeriodSeconds
	}
	drain, shutdown := shutdownTimings(grace)
	args := []string{
		fmt.Sprintf("--listen=0.0.0.0:%d", ProxyPort),
		fmt.Sprintf("--admin-listen=0.0.0.0:%d", AdminPort),
		"--rules=" + RulesDir + "/" + RulesKey,
		"--rules-configmap=" + cr.Namespace + "/" + ConfigMapName(cr),
		// Never answer from the built-in fake upstream in a cluster, even
		// when no provider key resolves.
		"--demo=off",
		fmt.Sprintf("--drain-delay=%ds", drain),
		fmt.Sprintf("--shutdown-timeout=%ds", shutdown),
	}
	mounts := []corev1.VolumeMount{
		{Name: "rules", MountPath: RulesDir, ReadOnly: true},
		{Name: "tmp", MountPath: "/tmp"},
	}
	volumes := []corev1.Volume{
		{Name: "rules", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: ConfigMapName(cr)},
		}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			SizeLimit: ptr.To(resource.MustParse("64Mi")),
		}}},
	}
	if ck := px.ClientKeysSecretRef; ck != nil {
		args = append(args, "--client-keys-dir="+ClientKeysDir)
		mounts = append(mounts, corev1.VolumeMount{Name: "client-keys", MountPath: ClientKeysDir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "client-keys", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: ck.Name},
		}})
	}
	var env []corev1.EnvVar
	if lim := opts.Limits(cr); lim != nil {
		largs, lenv, lmounts, lvols := limitsArgs(lim)
		args, env, mounts, volumes = append(args, largs...), append(env, lenv...), append(mounts, lmounts...), append(volumes, lvols...)
	}
	// Each pod publishes its quality samples and its usage (request
	// counters, budget state) to a ConfigMap named after itself, in its
	// namespace: the operator sums them into the route's status.
	args = append(args, "--quality-publish", "--quality-route="+cr.Name)
	env = append(env,
		corev1.EnvVar{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
		corev1.EnvVar{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}},
	)
	env = append(env, proxyEnv(opts.ProxyEnv, cr.Spec.Proxy.Env)...)
	for _, p := range cr.Spec.Providers {
		if ref := p.APIKeySecretRef; ref != nil {
			env = append(env, corev1.EnvVar{Name: KeyEnvName(p.Name), ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name},
					Key:                  ref.Key,
				},
			}})
		}
	}
	// No CPU limit: CFS throttling would stall streams in bursts. The memory
	// limit stops a runaway pod before it starves its node.
	resources := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("128Mi"),
		},
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
	}
	if px.Resources != nil {
		resources = *px.Resources.DeepCopy()
	}
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP,
			}},
			PeriodSeconds:    period,
			TimeoutSeconds:   2,
			SuccessThreshold: 1,
			FailureThreshold: 3,
		}
	}
	// An autoscaled Deployment's replica count belongs to the autoscaler:
	// leaving it out of the applied configuration keeps server-side apply
	// from resetting what the autoscaler chose.
	var replicas *int32
	if !Autoscaled(cr) {
		replicas = ptr.To(DesiredReplicas(cr))
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(cr, ProxyName(cr)),
		Spec: appsv1.DeploymentSpec{
			Replicas:             replicas,
			RevisionHistoryLimit: ptr.To[int32](3),
			Selector:             &metav1.LabelSelector{MatchLabels: SelectorLabels(cr)},
			// Keep serving capacity during a rollout: start a new pod before stopping an old one.
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromInt32(1)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels(cr)},
				Spec: corev1.PodSpec{
					ServiceAccountName: ProxyName(cr),
					// The proxy watches its ConfigMap through the API, so it needs its token.
					AutomountServiceAccountToken: ptr.To(true),
					// Thousands of Services in a namespace would otherwise become
					// thousands of environment variables in every proxy pod.
					EnableServiceLinks:            ptr.To(false),
					TerminationGracePeriodSeconds: &grace,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To[int64](nonRootUID),
						RunAsGroup:     ptr.To[int64](nonRootUID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            containerName,
						Image:           image,
						ImagePullPolicy: px.ImagePullPolicy,
						Args:            args,
						Env:             env,
						Ports: []corev1.ContainerPort{
							{Name: "http", ContainerPort: ProxyPort, Protocol: corev1.ProtocolTCP},
							{Name: "admin", ContainerPort: AdminPort, Protocol: corev1.ProtocolTCP},
						},
						ReadinessProbe: probe("/readyz", 5),
						LivenessProbe:  probe("/healthz", 10),
						Resources:      resources,
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							RunAsNonRoot:             ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						VolumeMounts: mounts,
					}},
					Volumes: volumes,
					// Prefer one node per pod, so a node failure takes few
					// streams with it; still schedule when nodes are scarce.
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew:           1,
						TopologyKey:       corev1.LabelHostname,
						WhenUnsatisfiable: corev1.ScheduleAnyway,
						LabelSelector:     &metav1.LabelSelector{MatchLabels: SelectorLabels(cr)},
					}},
				},
			},
		},
	}
}

// shutdownTimings splits a pod's termination grace period: keep serving for
// drain seconds while readiness fails (so the Service stops routing new
// requests here), then give in-flight streams up to shutdown seconds, leaving
// a little margin before the kubelet's SIGKILL.
func shutdownTimings(grace int64) (drain, shutdown int64) {
	if grace > 10 {
		drain = 5
	}
	shutdown = grace - drain - 2
	if shutdown < 1 {
		shutdown = 1
	}
	return drain, shutdown
}

// Service exposes the proxy pods on spec.proxy.service.port. A NodePort or
// LoadBalancer type that ExposureOf refuses is rendered as ClusterIP.
func Service(cr *v1alpha1.CascadeRoute) *corev1.Service {
	typ := cr.Spec.Proxy.Service.Type
	if typ == "" || !ExposureOf(cr).Service.Allowed {
		typ = corev1.ServiceTypeClusterIP
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(cr, ProxyName(cr)),
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: SelectorLabels(cr),
			Ports: []corev1.ServicePort{{
				Name:       "http",
				Port:       ServicePort(cr),
				TargetPort: intstr.FromString("http"),
				Protocol:   corev1.ProtocolTCP,
			}},
		},
	}
}

// ServiceAccount is the proxy pods' identity, used to watch the rules ConfigMap.
func ServiceAccount(cr *v1alpha1.CascadeRoute) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: objectMeta(cr, ProxyName(cr)),
	}
}

// Role lets the proxy read and watch its own rules ConfigMap, and write the
// ConfigMap it publishes its samples and usage in (<route>-quality-<pod>).
// resourceNames restricts list and watch too, as long as the proxy selects
// the object with fieldSelector metadata.name=<name>. The published
// ConfigMaps' names are not known in advance and create cannot be
// restricted by name, so that rule covers the namespace's ConfigMaps,
// without list, watch or delete.
func Role(cr *v1alpha1.CascadeRoute) *rbacv1.Role {
	rules := []rbacv1.PolicyRule{{
		APIGroups:     []string{""},
		Resources:     []string{"configmaps"},
		ResourceNames: []string{ConfigMapName(cr)},
		Verbs:         []string{"get", "list", "watch"},
	}, {
		APIGroups: []string{""},
		Resources: []string{"configmaps"},
		Verbs:     []string{"get", "create", "update", "patch"},
	}}
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: objectMeta(cr, ProxyName(cr)),
		Rules:      rules,
	}
}

// QualityArchiveName names the ConfigMap holding a route's merged quality
// samples (key samples.json), written by the operator.
func QualityArchiveName(cr *v1alpha1.CascadeRoute) string { return cr.Name + "-quality" }

// QualitySamplesPrefix starts the name of every ConfigMap a proxy pod of the
// route publishes its samples in: the prefix, then the pod's name.
func QualitySamplesPrefix(cr *v1alpha1.CascadeRoute) string { return cr.Name + "-quality-" }

// RoleBinding grants Role to ServiceAccount.
func RoleBinding(cr *v1alpha1.CascadeRoute) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: objectMeta(cr, ProxyName(cr)),
		RoleRef: rbacv1.RoleRef{
			APIGroup: rbacv1.GroupName,
			Kind:     "Role",
			Name:     ProxyName(cr),
		},
		Subjects: []rbacv1.Subject{{
			Kind:      rbacv1.ServiceAccountKind,
			Name:      ProxyName(cr),
			Namespace: cr.Namespace,
		}},
	}
}

// SecretNames lists, sorted and without repeats, the Secrets a CascadeRoute
// references: its vendor-key Secrets and its client-keys Secret.
func SecretNames(cr *v1alpha1.CascadeRoute) []string {
	names := KeySecretNames(cr)
	if ck := cr.Spec.Proxy.ClientKeysSecretRef; ck != nil && !slices.Contains(names, ck.Name) {
		names = append(names, ck.Name)
		slices.Sort(names)
	}
	for _, name := range limitsSecretNames(cr.Spec.Proxy.Limits) {
		if !slices.Contains(names, name) {
			names = append(names, name)
			slices.Sort(names)
		}
	}
	return names
}

// QualityArchiveRole is the value of routequality.LabelRole on a route's
// quality archive, to tell it from the samples ConfigMaps pods publish.
const QualityArchiveRole = "quality-archive"

// QualityArchive is the ConfigMap of a route's merged quality samples.
// data maps keys to their (already encoded) content.
func QualityArchive(cr *v1alpha1.CascadeRoute, data map[string]string) *corev1.ConfigMap {
	meta := objectMeta(cr, QualityArchiveName(cr))
	meta.Labels["routing.cascadeflow.io/role"] = QualityArchiveRole
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: meta,
		Data:       data,
	}
}

// UsageLedgerName names the ConfigMap holding a route's usage ledger (key
// retired.json): the request counters of proxy pods that are gone, written
// by the operator.
func UsageLedgerName(cr *v1alpha1.CascadeRoute) string { return cr.Name + "-usage" }

// UsageLedgerRole is the value of routequality.LabelRole on a route's usage ledger.
const UsageLedgerRole = "usage-ledger"

// UsageLedger is the ConfigMap of a route's usage ledger. data maps keys to
// their (already encoded) content.
func UsageLedger(cr *v1alpha1.CascadeRoute, data map[string]string) *corev1.ConfigMap {
	meta := objectMeta(cr, UsageLedgerName(cr))
	meta.Labels["routing.cascadeflow.io/role"] = UsageLedgerRole
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: meta,
		Data:       data,
	}
}

// proxyEnv merges the operator's default proxy variables with a route's
// own (which win), keeping only OTEL_* names: the others are the
// operator's (provider keys, the pod's identity).
func proxyEnv(defaults, route []corev1.EnvVar) []corev1.EnvVar {
	var out []corev1.EnvVar
	set := make(map[string]bool, len(route))
	for _, e := range route {
		if strings.HasPrefix(e.Name, "OTEL_") && !set[e.Name] {
			set[e.Name] = true
			out = append(out, *e.DeepCopy())
		}
	}
	for _, e := range defaults {
		if strings.HasPrefix(e.Name, "OTEL_") && !set[e.Name] {
			set[e.Name] = true
			out = append(out, *e.DeepCopy())
		}
	}
	return out
}
