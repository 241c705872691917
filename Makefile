# cascadeflow-operator — every task a newcomer or CI needs.
SHELL := /usr/bin/env bash
GO ?= go
BIN := $(CURDIR)/bin
PROXY_ADDR ?= 127.0.0.1:8080
RULES ?= config/samples/rules-demo.yaml

.PHONY: all build run test lint fmt vet

all: build

build: ## Build the proxy and manager binaries into bin/.
	$(GO) build -o $(BIN)/proxy ./cmd/proxy

run: build ## Run the proxy on 127.0.0.1:8080 (demo mode against a built-in fake upstream when no vendor key is set).
	$(BIN)/proxy --listen $(PROXY_ADDR) --rules $(RULES)

lint: fmt vet ## gofmt + go vet.

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files --others --exclude-standard '*.go' 2>/dev/null)); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test: lint ## Unit tests with the race detector.
	$(GO) test -race -count=1 ./...
