package main

import (
	"io"
	"reflect"
	"testing"

	"github.com/cascadeflow/cascadeflow-operator/api/v1alpha1"
)

func TestLimitsRedisFlags(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	if err != nil || c.limitsRedis.spec() != nil {
		t.Fatalf("no --limits-redis: %v, %+v", err, c.limitsRedis.spec())
	}
	c, err = parseFlags([]string{"--limits-redis=cf-redis.ops.svc:6379", "--limits-redis-password-secret=cf-redis",
		"--limits-redis-ca-secret=redis-ca", "--limits-redis-username=proxy"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := &v1alpha1.RedisSpec{Address: "cf-redis.ops.svc:6379", Username: "proxy",
		PasswordSecretRef: &v1alpha1.SecretKeyRef{Name: "cf-redis", Key: "password"},
		CASecretRef:       &v1alpha1.SecretKeyRef{Name: "redis-ca", Key: "ca.crt"}}
	if got := c.limitsRedis.spec(); !reflect.DeepEqual(got, want) {
		t.Errorf("spec %+v, want %+v", got, want)
	}
	for _, bad := range [][]string{
		{"--limits-redis=redis"},                    // no port
		{"--limits-redis=http://redis:6379"},        // a URL
		{"--limits-redis-password-secret=cf-redis"}, // no address
		{"--limits-redis=r:6379", "--limits-redis-password-secret=Not_A_Name"},
		{"--limits-redis=r:6379", "--limits-redis-password-secret=s", "--limits-redis-password-key=a/b"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%v) accepted", bad)
		}
	}
}
