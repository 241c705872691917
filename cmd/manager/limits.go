package main

import (
	"flag"
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
)

// limitsRedisFlags name a default Redis for the client-key limits of every
// route with clientKeys that names none itself (spec.proxy.limits.redis):
// the Redis the Helm chart deploys, or one of the cluster's. Its Secrets are
// read in each route's namespace (a pod reads no other).
type limitsRedisFlags struct {
	address        string
	username       string
	tls            bool
	passwordSecret string
	passwordKey    string
	caSecret       string
	caKey          string
}

// redisAddress is the CRD's pattern for spec.proxy.limits.redis.address.
var redisAddress = regexp.MustCompile(`^[^\s/]+:[0-9]{1,5}$`)

func (l *limitsRedisFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&l.address, "limits-redis", "", "host:port of the Redis the proxies of routes with clientKeys share their limits through when the route names none (spec.proxy.limits.redis)")
	fs.StringVar(&l.username, "limits-redis-username", "", "Redis ACL user name for --limits-redis")
	fs.BoolVar(&l.tls, "limits-redis-tls", false, "connect to --limits-redis over TLS")
	fs.StringVar(&l.passwordSecret, "limits-redis-password-secret", "", "Secret holding the --limits-redis password, in each route's namespace")
	fs.StringVar(&l.passwordKey, "limits-redis-password-key", "password", "the password's key in --limits-redis-password-secret")
	fs.StringVar(&l.caSecret, "limits-redis-ca-secret", "", "Secret holding the PEM CA bundle of --limits-redis's certificate, in each route's namespace (implies TLS)")
	fs.StringVar(&l.caKey, "limits-redis-ca-key", "ca.crt", "the CA bundle's key in --limits-redis-ca-secret")
}

func (l *limitsRedisFlags) validate() error {
	if l.address == "" {
		if l.username != "" || l.tls || l.passwordSecret != "" || l.caSecret != "" {
			return fmt.Errorf("--limits-redis-username, --limits-redis-tls, --limits-redis-password-secret and --limits-redis-ca-secret need --limits-redis")
		}
		return nil
	}
	var errs []string
	if !redisAddress.MatchString(l.address) || len(l.address) > 512 {
		errs = append(errs, fmt.Sprintf("--limits-redis %q is not host:port", l.address))
	}
	for _, s := range [][2]string{{"--limits-redis-password-secret", l.passwordSecret}, {"--limits-redis-ca-secret", l.caSecret}} {
		if s[1] != "" {
			if bad := validation.IsDNS1123Subdomain(s[1]); len(bad) > 0 {
				errs = append(errs, fmt.Sprintf("%s %q: %s", s[0], s[1], strings.Join(bad, ", ")))
			}
		}
	}
	for _, k := range [][2]string{{"--limits-redis-password-key", l.passwordKey}, {"--limits-redis-ca-key", l.caKey}} {
		if bad := validation.IsConfigMapKey(k[1]); len(bad) > 0 {
			errs = append(errs, fmt.Sprintf("%s %q: %s", k[0], k[1], strings.Join(bad, ", ")))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// spec is the default Redis for the renderer; nil without --limits-redis.
func (l *limitsRedisFlags) spec() *v1alpha1.RedisSpec {
	if l.address == "" {
		return nil
	}
	r := &v1alpha1.RedisSpec{Address: l.address, Username: l.username, TLS: l.tls}
	if l.passwordSecret != "" {
		r.PasswordSecretRef = &v1alpha1.SecretKeyRef{Name: l.passwordSecret, Key: l.passwordKey}
	}
	if l.caSecret != "" {
		r.CASecretRef = &v1alpha1.SecretKeyRef{Name: l.caSecret, Key: l.caKey}
	}
	return r
}
