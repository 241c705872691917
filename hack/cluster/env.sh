# env.sh — the single-node test cluster's names, addresses and folders, sourced by
# the other hack/cluster scripts. Everything the cluster writes lives under
# CLUSTER_STATE and CLUSTER_RUN; its addresses are private to this machine: the
# API server and the kubelet listen on a dummy interface (no link to any network),
# everything else on 127.0.0.1, pods on a bridge of their own.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
K8S_VERSION="${K8S_VERSION:-1.37.2}"
K8S_BIN="${K8S_BIN:-$ROOT/bin/k8s/$K8S_VERSION-linux-amd64}"
KUBECTL="$K8S_BIN/kubectl"
HELM="${HELM:-$ROOT/bin/helm-v3.22.0}"
CLUSTER_STATE="${CLUSTER_STATE:-/var/lib/cascadeflow-cluster}"
CLUSTER_RUN="${CLUSTER_RUN:-/run/cascadeflow-cluster}"
CLUSTER_LOGS="${CLUSTER_LOGS:-$CLUSTER_STATE/logs}"
PKI="$CLUSTER_STATE/pki"
KUBECONFIG_FILE="$CLUSTER_STATE/admin.kubeconfig"
CONTAINERD_SOCK="$CLUSTER_RUN/containerd.sock"
NODE_NAME=cfnode
NODE_IF=cfnode0            # the portless bridge holding NODE_IP
NODE_IP=10.250.0.1
APISERVER_PORT=16443
ETCD_CLIENT=127.0.0.1:23790
ETCD_PEER=127.0.0.1:23800
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SVC_IP=10.96.0.1
POD_CIDR=10.244.0.0/24
POD_BRIDGE=cfbr0
# The tag of every locally built image (the chart's defaults name the published ones).
IMAGE_TAG="${IMAGE_TAG:-cluster}"
PAUSE_IMAGE="docker.io/cascadeflow/pause:$IMAGE_TAG"
CTR=(ctr --address "$CONTAINERD_SOCK" -n k8s.io)
log() { echo "[cluster $(date -u +%H:%M:%S)] $*" >&2; }
kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
