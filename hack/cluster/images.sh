#!/usr/bin/env bash
# images.sh — build the static binaries the test cluster runs and import each as
# an image into the cluster's containerd, with no registry and no container
# engine: test/cluster/cmd/ociimage writes an OCI archive (one layer: the binary,
# a nonroot user, /tmp, CA certificates) that `ctr images import` loads.
#   docker.io/cascadeflow/operator:$IMAGE_TAG    the manager (cmd/manager)
#   docker.io/cascadeflow/proxy:$IMAGE_TAG       the proxy (cmd/proxy)
#   docker.io/cascadeflow/fakevendor:$IMAGE_TAG  the fake vendor API (test/cluster/cmd/fakevendor)
#   docker.io/cascadeflow/pause:$IMAGE_TAG       the pod sandbox (test/cluster/cmd/pause)
#   docker.io/cascadeflow/ingress:$IMAGE_TAG     the Ingress controller (test/cluster/cmd/ingress)
set -euo pipefail
source "$(dirname "$0")/env.sh"
GO="${GO:-go}"
out="$ROOT/bin/cluster"
mkdir -p "$out/images"
version="$(git -C "$ROOT" describe --tags --always --dirty 2>/dev/null || echo dev)"
ldflags="-s -w -X github.com/cascadeflow/cascadeflow-operator/internal/version.Version=$version"

declare -A pkgs=([manager]=./cmd/manager [proxy]=./cmd/proxy [fakevendor]=./test/cluster/cmd/fakevendor [pause]=./test/cluster/cmd/pause [ingress]=./test/cluster/cmd/ingress)
declare -A names=([manager]=operator [proxy]=proxy [fakevendor]=fakevendor [pause]=pause [ingress]=ingress)
(cd "$ROOT" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags "$ldflags" -o "$out/" "${pkgs[@]}")
(cd "$ROOT" && "$GO" build -o "$out/ociimage" ./test/cluster/cmd/ociimage)
for b in "${!names[@]}"; do
  ref="docker.io/cascadeflow/${names[$b]}:$IMAGE_TAG"
  "$out/ociimage" -binary "$out/$b" -name "$ref" -out "$out/images/$b.tar"
  "${CTR[@]}" images import "$out/images/$b.tar" >/dev/null
  log "imported $ref"
done
