package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// The API server refuses client keys and limits that the proxy could not use.
func TestAPIServerValidatesClientKeys(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	const keyed = validSpec + "proxy: {clientKeysSecretRef: {name: client-keys}}\n"
	cases := []struct {
		name, spec string
		want       []string
	}{{
		name: "client keys without the client-keys Secret",
		spec: validSpec + "clientKeys: [{name: alice, secretKey: alice}]\n",
		want: []string{"spec.clientKeys", "clientKeysSecretRef, which must be set"},
	}, {
		name: "two entries reading one Secret key",
		spec: keyed + "clientKeys: [{name: alice, secretKey: a}, {name: bob, secretKey: a}]\n",
		want: []string{"each clientKeys entry must read its own secretKey"},
	}, {
		name: "a budget of zero",
		spec: keyed + "clientKeys: [{name: alice, secretKey: a, budget: {usd: 0}}]\n",
		want: []string{"a budget must be positive"},
	}, {
		name: "an unknown period",
		spec: keyed + "teams: [{name: t, budget: {usd: 5, period: year}}]\n",
		want: []string{"spec.teams[0].budget.period", "Unsupported value"},
	}, {
		name: "a secretKey that is a path",
		spec: keyed + "clientKeys: [{name: alice, secretKey: ../x}]\n",
		want: []string{"spec.clientKeys[0].secretKey"},
	}, {
		name: "a Redis address without a port",
		spec: strings.Replace(keyed, "proxy: {", "proxy: {limits: {redis: {address: redis}}, ", 1),
		want: []string{"spec.proxy.limits.redis.address"},
	}}
	for i, c := range cases {
		err := createRaw(t, ns, "ck-"+string(rune('a'+i)), c.spec)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q: %v", c.name, w, err)
			}
		}
	}
	ok := keyed + `clientKeys:
- {name: alice, team: payments, secretKey: alice, budget: {usd: 25, period: day}, requestsPerMinute: 60, models: [claude-opus-5-5]}
teams: [{name: payments, budget: {usd: 500}}]
`
	ok = strings.Replace(ok, "proxy: {", "proxy: {limits: {failPolicy: closed, redis: {address: 'redis:6379', passwordSecretRef: {name: r, key: p}}}, ", 1)
	if err := createRaw(t, ns, "ck-ok", ok); err != nil {
		t.Fatalf("a valid spec was refused: %v", err)
	}
	// The named keys reach the rules ConfigMap (names and limits, no key) and the status count.
	key := types.NamespacedName{Namespace: ns, Name: "ck-ok"}
	eventually(t, 20*time.Second, func() error {
		if n := getRoute(t, key).Status.ClientKeyCount; n != 1 {
			return fmt.Errorf("status.clientKeyCount = %d", n)
		}
		return nil
	})
}
