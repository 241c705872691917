package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// validSpec is a spec the API server accepts; each case below breaks one thing.
const validSpec = `
providers:
- {name: anthropic, type: anthropic, baseURL: "https://api.anthropic.com", apiKeySecretRef: {name: keys, key: anthropic}}
- {name: openai, type: openai, baseURL: "https://api.openai.com/v1", passthroughAuth: true}
rules:
- {name: opus, models: [claude-opus-5-5], draft: {provider: anthropic, model: claude-haiku-5-5}, verifier: {provider: anthropic, model: claude-opus-5-5}}
- {name: gpt, models: [gpt-5.2], draft: {provider: openai, model: gpt-5-mini}, verifier: {provider: openai, model: gpt-5.2}}
`

func createRaw(t *testing.T, ns, name, spec string) error {
	t.Helper()
	var s map[string]any
	if err := yaml.Unmarshal([]byte(spec), &s); err != nil {
		t.Fatalf("test spec: %v", err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "routing.cascadeflow.io/v1alpha1",
		"kind":       "CascadeRoute",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec":       s,
	}}
	// Strict, as kubectl is: unknown fields are errors, not warnings.
	return k8s.Create(context.Background(), u, client.FieldValidation("Strict"))
}

func TestAPIServerRejectsInvalidSpecs(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	cases := []struct {
		name string
		spec string
		// every string must appear in the API server's error message
		want []string
	}{{
		name: "threshold above 1",
		spec: strings.Replace(validSpec, "model: claude-opus-5-5}}", "model: claude-opus-5-5}, threshold: 1.5}", 1),
		want: []string{"spec.rules[0].threshold", "threshold must be between 0 and 1"},
	}, {
		name: "negative threshold",
		spec: strings.Replace(validSpec, "model: claude-opus-5-5}}", "model: claude-opus-5-5}, threshold: -0.1}", 1),
		want: []string{"threshold must be between 0 and 1"},
	}, {
		name: "draft on an undeclared provider",
		spec: strings.Replace(validSpec, "draft: {provider: anthropic", "draft: {provider: gemini", 1),
		want: []string{"spec.rules", "rules[].draft.provider must name a provider declared in spec.providers"},
	}, {
		name: "verifier on an undeclared provider",
		spec: strings.Replace(validSpec, "verifier: {provider: openai", "verifier: {provider: azure", 1),
		want: []string{"rules[].verifier.provider must name a provider declared in spec.providers"},
	}, {
		name: "judge on an undeclared provider",
		spec: strings.Replace(validSpec, "model: gpt-5.2}}", "model: gpt-5.2}, gate: {judge: {provider: nobody, model: j}}}", 1),
		want: []string{"rules[].gate.judge.provider must name a provider declared in spec.providers"},
	}, {
		name: "default route to an undeclared provider",
		spec: validSpec + "defaultRoute: {provider: mistral}\n",
		want: []string{"spec.defaultRoute.provider", "defaultRoute.provider must name a provider declared in spec.providers"},
	}, {
		name: "one model in two rules",
		spec: strings.Replace(validSpec, "models: [gpt-5.2]", "models: [gpt-5.2, claude-opus-5-5]", 1),
		want: []string{"a model name may be served by only one rule"},
	}, {
		name: "a model twice in one rule, differing in case",
		spec: strings.Replace(validSpec, "models: [gpt-5.2]", "models: [gpt-5.2, GPT-5.2]", 1),
		want: []string{"spec.rules[1].models", "models must be unique, compared case-insensitively"},
	}, {
		name: "a model twice in one rule",
		spec: strings.Replace(validSpec, "models: [gpt-5.2]", "models: [gpt-5.2, gpt-5.2]", 1),
		want: []string{"spec.rules[1].models[1]", "Duplicate value"},
	}, {
		name: "two rules with one name",
		spec: strings.Replace(validSpec, "name: gpt,", "name: opus,", 1),
		want: []string{"spec.rules[1]", "Duplicate value"},
	}, {
		name: "two providers with one name",
		spec: strings.Replace(validSpec, "{name: openai, type: openai", "{name: anthropic, type: openai", 1),
		want: []string{"spec.providers[1]", "Duplicate value"},
	}, {
		name: "no providers",
		spec: "providers: []\n",
		want: []string{"spec.providers", "should have at least 1 items"},
	}, {
		name: "unknown provider type",
		spec: strings.Replace(validSpec, "type: openai", "type: gemini", 1),
		want: []string{"spec.providers[1].type", `Unsupported value: "gemini"`, `"anthropic", "openai"`},
	}, {
		name: "both a key Secret and pass-through",
		spec: strings.Replace(validSpec, "passthroughAuth: true}", "passthroughAuth: true, apiKeySecretRef: {name: k, key: v}}", 1),
		want: []string{"spec.providers[1]", "set exactly one of apiKeySecretRef and passthroughAuth: true"},
	}, {
		name: "neither a key Secret nor pass-through",
		spec: strings.Replace(validSpec, ", passthroughAuth: true}", "}", 1),
		want: []string{"spec.providers[1]", "set exactly one of apiKeySecretRef and passthroughAuth: true"},
	}, {
		name: "base URL that is not http(s)",
		spec: strings.Replace(validSpec, "https://api.openai.com/v1", "ftp://api.openai.com/v1", 1),
		want: []string{"spec.providers[1].baseURL", "baseURL must be an absolute http(s) URL without credentials"},
	}, {
		name: "base URL with credentials",
		spec: strings.Replace(validSpec, "https://api.openai.com/v1", "https://user:sk-secret@api.openai.com/v1", 1),
		want: []string{"spec.providers[1].baseURL", "without credentials"},
	}, {
		name: "credential header",
		spec: strings.Replace(validSpec, "passthroughAuth: true}", "passthroughAuth: true, headers: {X-Api-Key: sk-leak}}", 1),
		want: []string{"spec.providers[1].headers", "headers must not carry credentials; use apiKeySecretRef"},
	}, {
		name: "provider name that is not a DNS label",
		spec: strings.Replace(validSpec, "{name: openai,", "{name: Open_AI,", 1),
		want: []string{"spec.providers[1].name", "should match"},
	}, {
		name: "duration in words",
		spec: strings.Replace(validSpec, "model: gpt-5.2}}", "model: gpt-5.2}, draftTimeout: 5 minutes}", 1),
		want: []string{"spec.rules[1].draftTimeout", "should match"},
	}, {
		name: "negative price",
		spec: validSpec + "prices: {gpt-5.2: {input: -1, output: 10}}\n",
		want: []string{"spec.prices[gpt-5.2].input", "prices must not be negative"},
	}, {
		name: "gate complexity threshold above 1",
		spec: strings.Replace(validSpec, "model: gpt-5.2}}", "model: gpt-5.2}, gate: {complexityThresholds: {hard: 2}}}", 1),
		want: []string{"complexity thresholds must be between 0 and 1"},
	}, {
		name: "unknown mode",
		spec: strings.Replace(validSpec, "model: gpt-5.2}}", "model: gpt-5.2}, mode: yolo}", 1),
		want: []string{"spec.rules[1].mode", `Unsupported value: "yolo"`},
	}, {
		name: "rule without models",
		spec: strings.Replace(validSpec, "models: [gpt-5.2]", "models: []", 1),
		want: []string{"spec.rules[1].models", "should have at least 1 items"},
	}, {
		name: "negative replicas",
		spec: validSpec + "proxy: {replicas: -1}\n",
		want: []string{"spec.proxy.replicas", "should be greater than or equal to 0"},
	}, {
		name: "proxy env that is not OTEL_*",
		spec: validSpec + "proxy: {env: [{name: OTEL_SERVICE_NAME, value: x}, {name: CASCADEFLOW_KEY_A, value: sk}]}\n",
		want: []string{"spec.proxy.env", "only OTEL_* variables may be set"},
	}, {
		name: "ExternalName service",
		spec: validSpec + "proxy: {service: {type: ExternalName}}\n",
		want: []string{"spec.proxy.service.type", `Unsupported value: "ExternalName"`},
	}, {
		name: "ingress TLS without a host",
		spec: validSpec + "proxy: {ingress: {tls: {secretName: cert}}}\n",
		want: []string{"spec.proxy.ingress.tls", "tls needs a host"},
	}, {
		name: "ingress host that is not a DNS name",
		spec: validSpec + "proxy: {ingress: {host: LLM.Example.com}}\n",
		want: []string{"spec.proxy.ingress.host", "should match"},
	}, {
		name: "ingress path without a leading slash",
		spec: validSpec + "proxy: {ingress: {path: v1}}\n",
		want: []string{"spec.proxy.ingress.path", "path must start with /"},
	}, {
		name: "ingress path with a parent segment",
		spec: validSpec + "proxy: {ingress: {path: /a/../b}}\n",
		want: []string{"spec.proxy.ingress.path", "path must not contain //, /./, /../"},
	}, {
		name: "unknown ingress pathType",
		spec: validSpec + "proxy: {ingress: {pathType: Regex}}\n",
		want: []string{"spec.proxy.ingress.pathType", `Unsupported value: "Regex"`},
	}, {
		name: "snippet annotation",
		spec: validSpec + "proxy: {ingress: {annotations: {nginx.ingress.kubernetes.io/server-snippet: 'location / {}'}}}\n",
		want: []string{"spec.proxy.ingress.annotations", "snippet annotations inject raw controller configuration and are refused"},
	}, {
		name: "annotation key that is not a qualified name",
		spec: validSpec + "proxy: {ingress: {annotations: {'not a key': x}}}\n",
		want: []string{"spec.proxy.ingress.annotations", "annotation keys must be qualified names"},
	}, {
		name: "TLS Secret without a name",
		spec: validSpec + "proxy: {ingress: {host: a.example.com, tls: {}}}\n",
		want: []string{"spec.proxy.ingress.tls.secretName", "Required value"},
	}, {
		name: "autoscaling minimum above maximum",
		spec: validSpec + "proxy: {autoscaling: {minReplicas: 5, maxReplicas: 3}}\n",
		want: []string{"spec.proxy.autoscaling", "minReplicas must not exceed maxReplicas"},
	}, {
		name: "autoscaling without a maximum",
		spec: validSpec + "proxy: {autoscaling: {minReplicas: 2}}\n",
		want: []string{"spec.proxy.autoscaling.maxReplicas", "Required value"},
	}, {
		name: "autoscaling to zero",
		spec: validSpec + "proxy: {autoscaling: {minReplicas: 0, maxReplicas: 3}}\n",
		want: []string{"spec.proxy.autoscaling.minReplicas", "should be greater than or equal to 1"},
	}, {
		name: "autoscaling without a CPU request",
		spec: validSpec + "proxy: {autoscaling: {maxReplicas: 3}, resources: {requests: {memory: 128Mi}}}\n",
		want: []string{"spec.proxy.resources", "autoscaling scales on CPU utilisation, which needs a CPU request"},
	}, {
		name: "autoscaling with limits only",
		spec: validSpec + "proxy: {autoscaling: {maxReplicas: 3}, resources: {limits: {memory: 1Gi}}}\n",
		want: []string{"spec.proxy.resources", "needs a CPU request"},
	}, {
		name: "target CPU of 0 percent",
		spec: validSpec + "proxy: {autoscaling: {maxReplicas: 3, targetCPUUtilizationPercentage: 0}}\n",
		want: []string{"spec.proxy.autoscaling.targetCPUUtilizationPercentage", "should be greater than or equal to 1"},
	}, {
		name: "unknown field",
		spec: validSpec + "proxy: {replicaz: 2}\n",
		want: []string{`unknown field "spec.proxy.replicaz"`},
	}}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := createRaw(t, ns, fmt.Sprintf("bad-%d", i), tc.spec)
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.spec)
			}
			if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
				t.Fatalf("want an Invalid or BadRequest error, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}

	for _, name := range []string{"my.route", "1route", "route-"} {
		t.Run("name "+name+" cannot name a Service", func(t *testing.T) {
			err := createRaw(t, ns, name, validSpec)
			if err == nil || !strings.Contains(err.Error(), "metadata.name must be a DNS-1035 label") {
				t.Fatalf("got %v", err)
			}
		})
	}

	t.Run("name too long for owned objects", func(t *testing.T) {
		err := createRaw(t, ns, strings.Repeat("a", 58), validSpec)
		if err == nil || !strings.Contains(err.Error(), "metadata.name must be at most 57 characters") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestAPIServerAcceptsEdgeValues(t *testing.T) {
	needAPIServer(t)
	ns := namespace(t)
	for name, spec := range map[string]string{
		"integer-threshold-1": strings.Replace(validSpec, "model: claude-opus-5-5}}", "model: claude-opus-5-5}, threshold: 1}", 1),
		"threshold-0":         strings.Replace(validSpec, "model: claude-opus-5-5}}", "model: claude-opus-5-5}, threshold: 0}", 1),
		"no-rules":            "providers: [{name: a, type: openai, baseURL: 'http://vllm:8000/v1', passthroughAuth: true}]\ndefaultRoute: {provider: a}\n",
		"name-57-chars":       validSpec,
		"r2-d2":               validSpec,
		"ingress-defaults":    validSpec + "proxy: {ingress: {}}\n",
		"ingress-full": validSpec + "proxy: {clientKeysSecretRef: {name: ck}, ingress: {className: nginx, host: '*.llm.example.com', " +
			"path: /llm/v1, pathType: ImplementationSpecific, tls: {secretName: wildcard-tls}, allowUnauthenticated: false, " +
			"annotations: {cert-manager.io/cluster-issuer: letsencrypt, nginx.ingress.kubernetes.io/proxy-body-size: 64m, example: x}}}\n",
		"autoscaling-cpu-request": validSpec + "proxy: {autoscaling: {minReplicas: 2, maxReplicas: 2}, resources: {requests: {cpu: 200m}}}\n",
	} {
		n := name
		if name == "name-57-chars" {
			n = strings.Repeat("b", 57)
		}
		if err := createRaw(t, ns, n, spec); err != nil {
			t.Errorf("%s rejected: %v", name, err)
		}
	}
}
