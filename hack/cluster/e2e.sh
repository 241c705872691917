#!/usr/bin/env bash
# e2e.sh — the whole cluster end to end, cleaning up after itself: start the
# cluster (up.sh), import the images (images.sh), run the Ingress controller and
# the fake vendor as pods, run test/cluster's scenario, and remove the cluster
# (down.sh) whatever happened. Prints how long each phase took; the scenario's
# table of steps, requests and failures is written to bin/cluster/report.md.
set -euo pipefail
source "$(dirname "$0")/env.sh"
GO="${GO:-go}"
# One cluster per machine: its addresses, ports and folders are fixed.
exec 9>/run/cascadeflow-cluster.lock
flock -n 9 || { log "another cluster run holds /run/cascadeflow-cluster.lock"; exit 1; }
t0=$(date +%s)
phase_start=$t0
phases=()
phase() { local now; now=$(date +%s); phases+=("$1: $((now - phase_start))s"); phase_start=$now; }
finish() {
  local rc=$?
  if [[ $rc != 0 ]]; then phase "failed step"; fi
  if [[ $rc != 0 && -d $CLUSTER_LOGS ]]; then
    log "failed; cluster state and the last lines of each component's log:"
    kc get pods -A -o wide >&2 2>/dev/null || true
    kc get events -A --sort-by=.lastTimestamp 2>/dev/null | tail -25 >&2 || true
    for f in "$CLUSTER_LOGS"/*.log; do echo "--- $f" >&2; tail -15 "$f" >&2; done
  fi
  if [[ -z ${KEEP_CLUSTER:-} ]]; then "$(dirname "$0")/down.sh"; phase "cluster down"; fi
  log "phases: $(IFS=,; echo "${phases[*]}")"
  log "total $(( $(date +%s) - t0 ))s, exit $rc"
  exit $rc
}
trap finish EXIT

# A cluster left by an interrupted run goes first.
"$(dirname "$0")/down.sh" >/dev/null 2>&1 || true
"$(dirname "$0")/up.sh"
phase "cluster up"
"$(dirname "$0")/images.sh"
phase "images"
kc apply -f "$ROOT/test/cluster/manifests/" >/dev/null
kc -n ingress rollout status deployment/ingress --timeout=2m >/dev/null
kc -n fake-vendor rollout status deployment/fakevendor --timeout=2m >/dev/null
phase "ingress and fake vendor pods"
mkdir -p "$ROOT/bin/cluster"
(cd "$ROOT" && CASCADEFLOW_CLUSTER_KUBECONFIG="$KUBECONFIG_FILE" KUBECTL="$KUBECTL" HELM="$HELM" IMAGE_TAG="$IMAGE_TAG" \
  CLUSTER_REPORT="$ROOT/bin/cluster/report.md" "$GO" test -count=1 -v -timeout 20m -run TestClusterScenario ./test/cluster/)
phase "scenario"
