package render

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
	"github.com/cascadeflow/cascadeflow-operator/proxy/rules"
)

const (
	// LimitsRedisPasswordEnv carries the Redis password into the proxy
	// container, from its Secret (never in the pod spec's text).
	LimitsRedisPasswordEnv = "CASCADEFLOW_LIMITS_REDIS_PASSWORD"
	// LimitsRedisCADir is where the Redis CA bundle's Secret key is mounted.
	LimitsRedisCADir = "/var/run/cascadeflow/limits-redis-ca"
)

// limitsArgs are the proxy flags, environment and volumes of spec.proxy.limits.
func limitsArgs(lim *v1alpha1.LimitsSpec) (args []string, env []corev1.EnvVar, mounts []corev1.VolumeMount, volumes []corev1.Volume) {
	if lim.FailPolicy != "" {
		args = append(args, "--limits-fail-policy="+lim.FailPolicy)
	}
	r := lim.Redis
	if r == nil {
		return args, nil, nil, nil
	}
	args = append(args, "--limits-redis="+r.Address)
	if r.Username != "" {
		args = append(args, "--limits-redis-username="+r.Username)
	}
	if ref := r.PasswordSecretRef; ref != nil {
		env = append(env, corev1.EnvVar{Name: LimitsRedisPasswordEnv, ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name}, Key: ref.Key},
		}})
	}
	if r.TLS || r.CASecretRef != nil {
		args = append(args, "--limits-redis-tls")
	}
	if ref := r.CASecretRef; ref != nil {
		args = append(args, "--limits-redis-ca-file="+LimitsRedisCADir+"/ca.crt")
		mounts = append(mounts, corev1.VolumeMount{Name: "limits-redis-ca", MountPath: LimitsRedisCADir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "limits-redis-ca", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: ref.Name, Items: []corev1.KeyToPath{{Key: ref.Key, Path: "ca.crt"}}},
		}})
	}
	return args, env, mounts, volumes
}

// Limits is what a route's proxies count client-key limits with: its own
// spec.proxy.limits, with the operator's default Redis (LimitsRedis) when
// the route declares clientKeys and names no Redis of its own.
func (o Options) Limits(cr *v1alpha1.CascadeRoute) *v1alpha1.LimitsSpec {
	own := cr.Spec.Proxy.Limits
	if o.LimitsRedis == nil || len(cr.Spec.ClientKeys) == 0 || (own != nil && own.Redis != nil) {
		return own
	}
	lim := &v1alpha1.LimitsSpec{}
	if own != nil {
		lim = own.DeepCopy()
	}
	lim.Redis = o.LimitsRedis.DeepCopy()
	return lim
}

// SecretNames lists, sorted and without repeats, the Secrets a CascadeRoute's
// proxies read: those it references (SecretNames) and those of the default
// Redis when it uses it (Limits).
func (o Options) SecretNames(cr *v1alpha1.CascadeRoute) []string {
	names := SecretNames(cr)
	for _, name := range limitsSecretNames(o.Limits(cr)) {
		if !slices.Contains(names, name) {
			names = append(names, name)
			slices.Sort(names)
		}
	}
	return names
}

// limitsSecretNames are the Secrets spec.proxy.limits references.
func limitsSecretNames(lim *v1alpha1.LimitsSpec) []string {
	if lim == nil || lim.Redis == nil {
		return nil
	}
	var names []string
	if ref := lim.Redis.PasswordSecretRef; ref != nil {
		names = append(names, ref.Name)
	}
	if ref := lim.Redis.CASecretRef; ref != nil {
		names = append(names, ref.Name)
	}
	return names
}

// clientKeys translates spec.clientKeys and spec.teams into the rules'.
func clientKeys(spec *v1alpha1.CascadeRouteSpec, set *rules.Set) {
	for _, k := range spec.ClientKeys {
		set.ClientKeys = append(set.ClientKeys, rules.ClientKey{
			Name: k.Name, Team: k.Team, SecretKey: k.SecretKey, Budget: budget(k.Budget),
			RequestsPerMinute: int(k.RequestsPerMinute), TokensPerMinute: int(k.TokensPerMinute),
			Models: append([]string(nil), k.Models...),
		})
	}
	for _, t := range spec.Teams {
		set.Teams = append(set.Teams, rules.Team{Name: t.Name, Budget: budget(t.Budget)})
	}
}

func budget(b *v1alpha1.Budget) *rules.Budget {
	if b == nil {
		return nil
	}
	return &rules.Budget{USD: b.USD, Period: b.Period, Enforcement: b.Enforcement}
}
