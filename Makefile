# cascadeflow-operator — every task a newcomer or CI needs.
SHELL := /usr/bin/env bash
GO ?= go
BIN := $(CURDIR)/bin
PROXY_ADDR ?= 127.0.0.1:8080
# The admin listener: /metrics, /debug/rules and the status page (http://$(ADMIN_ADDR)/status).
ADMIN_ADDR ?= 127.0.0.1:8081
RULES ?= config/samples/rules-demo.yaml

# Operator tooling. controller-gen is pinned; envtest's etcd and kube-apiserver are
# built from the Go module proxy by hack/build-envtest-assets.sh and cached in bin/k8s.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
# staticcheck, pinned (v0.8.2 is release 2026.2.2, built for Go 1.26) and installed into bin/.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := $(BIN)/staticcheck-$(STATICCHECK_VERSION)
ENVTEST_K8S_VERSION ?= 1.37.2
ENVTEST_ASSETS_DIR := $(BIN)/k8s
KUBEBUILDER_ASSETS ?= $(ENVTEST_ASSETS_DIR)/$(ENVTEST_K8S_VERSION)-$(shell $(GO) env GOOS)-$(shell $(GO) env GOARCH)
# Helm, pinned and built with the Go toolchain into bin/. The chart's CRD and manager ClusterRole
# rules are copies of config/ (helm-sync, run by `make manifests`); test/helm fails when they differ.
HELM_VERSION ?= v3.22.0
HELM := $(BIN)/helm-$(HELM_VERSION)
# What helm's own release build stamps in: its version, and the Kubernetes version (that of the
# client-go helm $(HELM_VERSION) is built with) assumed by `helm template` and `helm lint`.
HELM_K8S_MINOR ?= 37
HELM_LDFLAGS := -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
  -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(HELM_K8S_MINOR) \
  -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(HELM_K8S_MINOR)
CHART := charts/cascadeflow-operator
# Images for docker-build; the chart's image.repository / proxyImage.repository default to these names.
IMG_TAG ?= 0.1.0
MANAGER_IMG ?= cascadeflow/operator:$(IMG_TAG)
PROXY_IMG ?= cascadeflow/proxy:$(IMG_TAG)
# Stamped into both binaries (proxy --version, manager --version).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO_LDFLAGS := -X github.com/cascadeflow/cascadeflow-operator/internal/version.Version=$(VERSION)
GENERATED := api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac/role.yaml $(CHART)/files
# announce WHAT,DURATION: one line before a one-time build of a tool into bin/ (the recipes
# run only when the tool is missing, so a warm run prints nothing).
announce = @echo "building $(1) into bin/ (first time, ~$(2))…"

.PHONY: all build run test reliability lint fmt vet staticcheck manifests generate envtest-assets verify-generated bench-operator helm-sync helm-lint docker-build

all: build

build: ## Build the proxy and manager binaries into bin/.
	$(GO) build -ldflags "$(GO_LDFLAGS)" -o $(BIN)/proxy ./cmd/proxy
	$(GO) build -ldflags "$(GO_LDFLAGS)" -o $(BIN)/manager ./cmd/manager

run: ## Run the proxy on 127.0.0.1:8080, its status page and metrics on 127.0.0.1:8081 (demo mode against a built-in fake upstream when no vendor key is set).
	$(GO) build -ldflags "$(GO_LDFLAGS)" -o $(BIN)/proxy ./cmd/proxy
	$(BIN)/proxy --listen $(PROXY_ADDR) --admin-listen $(ADMIN_ADDR) --rules $(RULES) --log-format text

lint: fmt vet staticcheck ## gofmt, go vet and staticcheck (its default checks).

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files --others --exclude-standard '*.go' 2>/dev/null)); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

$(STATICCHECK):
	$(call announce,staticcheck $(STATICCHECK_VERSION),1 min)
	@mkdir -p $(BIN)/.staticcheck
	@GOBIN=$(BIN)/.staticcheck $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@mv $(BIN)/.staticcheck/staticcheck $@

# In CI (CI=true) the test run also fails when generated files are stale.
test: lint helm-lint envtest-assets $(if $(CI),verify-generated) ## Unit and envtest suites with the race detector (a real etcd + kube-apiserver); helm lint and template.
	@echo "running every test suite with the race detector (~2½ min warm; the status page's browser test needs chromium) …"
	HELM="$(HELM)" KUBEBUILDER_ASSETS="$(KUBEBUILDER_ASSETS)" $(GO) test -race -count=1 ./...

reliability: ## The hardening tests alone (hostile clients, failing upstreams, shutdown), with the race detector; also part of make test.
	$(GO) test -race -count=1 -run Hardening ./...

$(CONTROLLER_GEN):
	$(call announce,controller-gen $(CONTROLLER_TOOLS_VERSION),1 min)
	@mkdir -p $(BIN)/.controller-gen
	@GOBIN=$(BIN)/.controller-gen $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	@mv $(BIN)/.controller-gen/controller-gen $@

manifests: $(CONTROLLER_GEN) ## Regenerate the CRD (config/crd/bases) and the manager ClusterRole (config/rbac/role.yaml) from markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd:allowDangerousTypes=true paths="./api/...;./controllers/..." \
	  output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	@$(MAKE) --no-print-directory helm-sync

generate: $(CONTROLLER_GEN) ## Regenerate deepcopy functions (api/v1alpha1/zz_generated.deepcopy.go).
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths="./api/..."

envtest-assets: ## Build etcd and kube-apiserver for envtest into bin/k8s (cached; a no-op when present). It says what it builds and how long it takes; stdout is only the assets path.
	@K8S_VERSION=$(ENVTEST_K8S_VERSION) GO=$(GO) hack/build-envtest-assets.sh $(ENVTEST_ASSETS_DIR) >/dev/null

verify-generated: manifests generate ## Fail when generated files differ from what is committed.
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
	  echo "generated files are stale; run 'make manifests generate' and commit:"; \
	  git status --porcelain -- $(GENERATED); git --no-pager diff --stat -- $(GENERATED); exit 1; fi

.PHONY: eval
eval: ## Replay every cascade-eval file through the proxy, static gate and online quality loop (~3 min); write docs/eval/README.md and docs/eval/<file>/. Skips without the data (EVAL_DATA or CASCADE_EVAL_DATA overrides ../shared/data/cascade-eval, e.g. with a rule's quality samples export; EVAL_OUT the output folder; EVAL_FLAGS more flags, e.g. -judge-noise 0.2).
	$(GO) run ./bench/eval -out $(or $(EVAL_OUT),docs/eval) $(if $(EVAL_DATA),-data $(EVAL_DATA)) $(EVAL_FLAGS)

.PHONY: bench
bench: ## Data-plane benchmark (~4.5 min): direct vs bare httputil.ReverseProxy vs the proxy in pass-through; writes bench/results/.
	GO=$(GO) bench/passthrough/run.sh

bench-operator: envtest-assets ## Scale benchmark: 1,000 CascadeRoutes against a real API server (bench/operator/README.md).
	$(GO) build -o $(BIN)/manager ./cmd/manager
	KUBEBUILDER_ASSETS="$(KUBEBUILDER_ASSETS)" $(GO) run ./bench/operator -routes 1000 -manager $(BIN)/manager -out bench/results/operator.json

$(HELM):
	$(call announce,helm $(HELM_VERSION),3 min)
	@mkdir -p $(BIN)/.helm
	@GOBIN=$(BIN)/.helm $(GO) install -trimpath -ldflags "$(HELM_LDFLAGS)" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	@mv $(BIN)/.helm/helm $@

helm-sync: ## Copy the generated CRD and manager ClusterRole from config/ into the Helm chart.
	rm -f $(CHART)/files/crds/*.yaml
	cp config/crd/bases/*.yaml $(CHART)/files/crds/
	cp config/rbac/role.yaml $(CHART)/files/rbac/role.yaml

helm-lint: $(HELM) ## helm lint --strict and helm template (defaults and every toggle on) of the chart.
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) -f $(CHART)/ci/all-on-values.yaml
	$(HELM) template cascadeflow $(CHART) --namespace cascadeflow-system >/dev/null
	$(HELM) template cascadeflow $(CHART) --namespace cascadeflow-system -f $(CHART)/ci/all-on-values.yaml >/dev/null

docker-build: ## Build the operator and proxy images (needs docker; none runs on the dev machines or CI).
	docker build -f Dockerfile.manager --build-arg VERSION=$(IMG_TAG) -t $(MANAGER_IMG) .
	docker build -f Dockerfile.proxy --build-arg VERSION=$(IMG_TAG) -t $(PROXY_IMG) .

.PHONY: load-teams
load-teams: ## Client-key limits under load (2-3 min): two proxies on one redis-server, 200 clients on 10 keys; budgets, a per-minute rate limit across a whole minute, Redis killed and restarted mid-run.
	CASCADEFLOW_LOAD_TEAMS=1 $(GO) test -count=1 -timeout 10m -run '^TestTeamsLoad$$' -v ./test/e2e/

.PHONY: e2e-claude
e2e-claude: ## Claude Code end to end: install the pinned CLI from npm (cached in bin/claude-code), run every scenario through a real proxy and the fake upstream; one PASS/FAIL line each.
	GO=$(GO) test/claudecode/run.sh

.PHONY: bench-sessions
bench-sessions: ## Session benchmark (~7 min): the pinned Claude Code CLI runs scripted multi-turn sessions through pass-through, per-request and per-turn cascades against the prompt-caching fake; table in bin/claude-code/bench-sessions.md. SESSION_RECORD=FILE also records one session's requests (turn classifier testdata).
	TEST=TestSessionBench SESSION_BENCH=1 SESSION_BENCH_OUT=$(CURDIR)/bin/claude-code/bench-sessions.md \
		SESSION_RECORD=$(if $(SESSION_RECORD),$(abspath $(SESSION_RECORD))) GO=$(GO) test/claudecode/run.sh

# A real single-node cluster (hack/cluster): containerd, runc and the CNI plugins from Debian's
# packages; etcd and every Kubernetes component built from the Go module proxy into bin/k8s.
CLUSTER_KUBE_BINS := kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl
.PHONY: cluster-bins cluster-up cluster-down cluster-e2e

cluster-bins: ## Build etcd and the Kubernetes components the test cluster runs into bin/k8s (cached; ~20 min on a cold Go build cache, ~4 min on a warm one).
	@K8S_VERSION=$(ENVTEST_K8S_VERSION) KUBE_BINS="$(CLUSTER_KUBE_BINS)" GO=$(GO) hack/build-envtest-assets.sh $(ENVTEST_ASSETS_DIR) >/dev/null

cluster-up: cluster-bins $(HELM) ## Start the single-node test cluster (root) and import the local images; KUBECONFIG=/var/lib/cascadeflow-cluster/admin.kubeconfig.
	hack/cluster/deps.sh
	hack/cluster/up.sh
	GO=$(GO) hack/cluster/images.sh

cluster-down: ## Stop the test cluster and remove everything it left (processes, mounts, interfaces, iptables chains, cgroups, folders).
	hack/cluster/down.sh

cluster-e2e: cluster-bins $(HELM) ## Cluster end to end (root): start it, helm install the chart from local images, traffic through an Ingress, key rotation under load, scale, upgrade, uninstall; then remove the cluster. Writes bin/cluster/report.md.
	hack/cluster/deps.sh
	HELM=$(HELM) GO=$(GO) hack/cluster/e2e.sh 2>&1 | tee $(BIN)/cluster-e2e.log; exit $${PIPESTATUS[0]}
