package render

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
)

// The operator's default Redis (--limits-redis, the chart's Redis) goes to
// routes with clientKeys that name no Redis; a route's own wins, and routes
// without clientKeys get none.
func TestDefaultLimitsRedis(t *testing.T) {
	def := &v1alpha1.RedisSpec{Address: "cf-redis.ops.svc:6379", PasswordSecretRef: &v1alpha1.SecretKeyRef{Name: "cf-redis", Key: "password"}}
	opts := Options{ProxyImage: "cascadeflow/proxy:test", LimitsRedis: def}
	route := func(keys bool, lim *v1alpha1.LimitsSpec) *v1alpha1.CascadeRoute {
		cr := &v1alpha1.CascadeRoute{}
		cr.Name, cr.Namespace = "r", "team"
		cr.Spec.Proxy.ClientKeysSecretRef = &v1alpha1.LocalSecretRef{Name: "keys"}
		if keys {
			cr.Spec.ClientKeys = []v1alpha1.ClientKey{{Name: "alice", SecretKey: "alice"}}
		}
		cr.Spec.Proxy.Limits = lim
		return cr
	}
	proxy := func(cr *v1alpha1.CascadeRoute) (args []string, password *corev1.SecretKeySelector) {
		c := Deployment(cr, opts).Spec.Template.Spec.Containers[0]
		for _, e := range c.Env {
			if e.Name == LimitsRedisPasswordEnv {
				password = e.ValueFrom.SecretKeyRef
			}
		}
		return c.Args, password
	}

	cr := route(true, &v1alpha1.LimitsSpec{FailPolicy: "closed"})
	args, pw := proxy(cr)
	if !slices.Contains(args, "--limits-redis=cf-redis.ops.svc:6379") || !slices.Contains(args, "--limits-fail-policy=closed") {
		t.Errorf("args %v: want the default Redis and the route's fail policy", args)
	}
	if pw == nil || pw.Name != "cf-redis" || pw.Key != "password" {
		t.Errorf("password from %+v", pw)
	}
	if names := opts.SecretNames(cr); !slices.Contains(names, "cf-redis") || slices.Contains(SecretNames(cr), "cf-redis") {
		t.Errorf("Options.SecretNames %v should add the default's Secret to SecretNames %v", names, SecretNames(cr))
	}
	if cr.Spec.Proxy.Limits.Redis != nil {
		t.Error("the default was written into the route's spec")
	}

	own := route(true, &v1alpha1.LimitsSpec{Redis: &v1alpha1.RedisSpec{Address: "mine:6379"}})
	if args, pw := proxy(own); !slices.Contains(args, "--limits-redis=mine:6379") || slices.Contains(args, "--limits-redis=cf-redis.ops.svc:6379") || pw != nil {
		t.Errorf("a route's own Redis: args %v, password %+v", args, pw)
	}
	if slices.Contains(opts.SecretNames(own), "cf-redis") {
		t.Error("a route with its own Redis watches the default's Secret")
	}

	for _, bare := range []*v1alpha1.CascadeRoute{route(false, nil), route(true, nil)} {
		args, _ := proxy(bare)
		hasRedis := slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--limits-redis=") })
		if want := len(bare.Spec.ClientKeys) > 0; hasRedis != want {
			t.Errorf("clientKeys %d: --limits-redis in args %v, want %v", len(bare.Spec.ClientKeys), hasRedis, want)
		}
	}
	noDefault := Deployment(route(true, nil), Options{ProxyImage: "x"}).Spec.Template.Spec.Containers[0].Args
	if slices.ContainsFunc(noDefault, func(a string) bool { return strings.HasPrefix(a, "--limits-redis") }) {
		t.Errorf("without a default, a route naming no Redis gets one: %v", noDefault)
	}
}
