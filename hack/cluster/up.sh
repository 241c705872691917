#!/usr/bin/env bash
# up.sh — start the single-node test cluster: containerd (CRI, overlayfs, runc,
# bridge CNI) from Debian's packages; etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet and kube-proxy (iptables mode) from bin/k8s. Waits until
# the node is Ready. The admin kubeconfig is $CLUSTER_STATE/admin.kubeconfig.
# down.sh undoes all of it. Needs root, and the images of images.sh for pods to
# start (the pause image at least: the kubelet's sandboxes use it).
set -euo pipefail
source "$(dirname "$0")/env.sh"

[[ $(id -u) == 0 ]] || { log "needs root (containerd, kubelet, iptables)"; exit 1; }
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
  [[ -x $K8S_BIN/$b ]] || { log "missing $K8S_BIN/$b: run make cluster-bins"; exit 1; }
done
for b in containerd containerd-shim-runc-v2 runc ctr iptables openssl; do
  command -v "$b" >/dev/null || { log "missing $b: run hack/cluster/deps.sh"; exit 1; }
done
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
  { log "missing CNI plugins in /usr/lib/cni: run hack/cluster/deps.sh"; exit 1; }

mkdir -p "$CLUSTER_STATE" "$CLUSTER_RUN" "$CLUSTER_LOGS" "$PKI"
started=$(date +%s)

# start NAME CMD...: run CMD in the background in its own session, log to
# $CLUSTER_LOGS/NAME.log, pid in $CLUSTER_RUN/NAME.pid.
start() {
  local name=$1; shift
  setsid "$@" >>"$CLUSTER_LOGS/$name.log" 2>&1 < /dev/null 9>&- &
  echo $! > "$CLUSTER_RUN/$name.pid"
}
# wait_for WHAT SECONDS CMD...: retry CMD until it succeeds.
wait_for() {
  local what=$1 limit=$2; shift 2
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s) > deadline )); then
      log "$what not up after ${limit}s; the last lines of its log:"
      tail -30 "$CLUSTER_LOGS/$what.log" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}

# ------------------------------------------------------------------ host network
[[ -f $CLUSTER_STATE/netns.before ]] || { ls /run/netns 2>/dev/null | grep '^cni-' > "$CLUSTER_STATE/netns.before" || true; }
# An interface of its own for the API server and the kubelet: reachable from the
# host and from pods (through the pod bridge's gateway), from nowhere else. A
# bridge with no ports, as this kernel has no dummy driver (CONFIG_DUMMY unset).
if ! ip link show "$NODE_IF" >/dev/null 2>&1; then
  ip link add "$NODE_IF" type bridge
  ip addr add "$NODE_IP/32" dev "$NODE_IF"
  ip link set "$NODE_IF" up
fi
# Pods reach Services through kube-proxy's NAT: forwarding on, and bridged
# traffic through iptables (else replies between pods on the bridge skip the NAT).
# The previous values are restored by down.sh.
if [[ ! -f $CLUSTER_STATE/sysctl.saved ]]; then
  { echo "net.ipv4.ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"
    echo "net.bridge.bridge-nf-call-iptables=$(cat /proc/sys/net/bridge/bridge-nf-call-iptables)"; } > "$CLUSTER_STATE/sysctl.saved"
fi
echo 1 > /proc/sys/net/ipv4/ip_forward
echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables

# ------------------------------------------------------------------ certificates
if [[ ! -f $PKI/admin.crt ]]; then
  log "writing a CA and certificates into $PKI"
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=cascadeflow-cluster-ca" 2>/dev/null
    sign() { # sign NAME SUBJECT [SAN]
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
      local ext; ext=$(mktemp)
      printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n' > "$ext"
      [[ -n ${3:-} ]] && echo "subjectAltName=$3" >> "$ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 30 -extfile "$ext" 2>/dev/null
      rm -f "$1.csr" "$ext"
    }
    sign apiserver "/CN=kube-apiserver" "IP:$KUBERNETES_SVC_IP,IP:$NODE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
    sign admin "/O=system:masters/CN=cascadeflow-cluster-admin"
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
fi
"$KUBECTL" config --kubeconfig "$KUBECONFIG_FILE" set-cluster local --server "https://$NODE_IP:$APISERVER_PORT" --certificate-authority "$PKI/ca.crt" --embed-certs >/dev/null
"$KUBECTL" config --kubeconfig "$KUBECONFIG_FILE" set-credentials admin --client-certificate "$PKI/admin.crt" --client-key "$PKI/admin.key" --embed-certs >/dev/null
"$KUBECTL" config --kubeconfig "$KUBECONFIG_FILE" set-context local --cluster local --user admin >/dev/null
"$KUBECTL" config --kubeconfig "$KUBECONFIG_FILE" use-context local >/dev/null

# ------------------------------------------------------------------ containerd
mkdir -p "$CLUSTER_STATE/cni/net.d" "$CLUSTER_STATE/cni/ipam"
cat > "$CLUSTER_STATE/cni/net.d/10-cascadeflow.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "cascadeflow", "plugins": [
  {"type": "bridge", "bridge": "$POD_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$CLUSTER_STATE/cni/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
# runc, through a wrapper: root on these machines lacks CAP_SYS_RESOURCE (it is
# not in the bounding set), so no process may lower its oom_score_adj, and runc
# fails ("failed to update /proc/self/oom_score_adj: Permission denied") on the
# -998 the kubelet asks for every pod sandbox. The wrapper raises negative
# values to 0 in the bundle's config.json; nothing else changes.
cat > "$CLUSTER_STATE/runc" <<'SH'
#!/bin/sh
prev=
for a in "$@"; do
  if [ "$prev" = --bundle ] && [ -f "$a/config.json" ]; then
    sed -i 's/"oomScoreAdj":-[0-9]*/"oomScoreAdj":0/' "$a/config.json"
  fi
  prev=$a
done
exec runc "$@"
SH
chmod +x "$CLUSTER_STATE/runc"
cat > "$CLUSTER_STATE/containerd.toml" <<TOML
version = 2
root = "$CLUSTER_STATE/containerd"
state = "$CLUSTER_RUN/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CLUSTER_RUN/containerd.sock.ttrpc"
[debug]
  address = "$CLUSTER_RUN/containerd-debug.sock"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$CLUSTER_STATE/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$CLUSTER_STATE/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CLUSTER_STATE/cni/net.d"
TOML
if ! "${CTR[@]}" version >/dev/null 2>&1; then
  log "starting containerd"
  start containerd containerd --config "$CLUSTER_STATE/containerd.toml"
  wait_for containerd 30 "${CTR[@]}" version
fi

# ------------------------------------------------------------------ control plane
if ! curl -sf "http://$ETCD_CLIENT/health" >/dev/null 2>&1; then
  log "starting etcd"
  start etcd "$K8S_BIN/etcd" --name cfnode --data-dir "$CLUSTER_STATE/etcd" \
    --listen-client-urls "http://$ETCD_CLIENT" --advertise-client-urls "http://$ETCD_CLIENT" \
    --listen-peer-urls "http://$ETCD_PEER" --initial-advertise-peer-urls "http://$ETCD_PEER" \
    --initial-cluster "cfnode=http://$ETCD_PEER" --unsafe-no-fsync --quota-backend-bytes 2147483648
  wait_for etcd 30 curl -sf "http://$ETCD_CLIENT/health"
fi
if ! kc get --raw /readyz >/dev/null 2>&1; then
  log "starting kube-apiserver"
  start kube-apiserver "$K8S_BIN/kube-apiserver" --etcd-servers "http://$ETCD_CLIENT" \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" --client-ca-file "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/admin.crt" --kubelet-client-key "$PKI/admin.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --authorization-mode Node,RBAC --allow-privileged=true \
    --kubelet-preferred-address-types InternalIP \
    --profiling=false --storage-media-type application/vnd.kubernetes.protobuf
  wait_for kube-apiserver 120 kc get --raw /readyz
fi
if [[ ! -f $CLUSTER_RUN/kube-controller-manager.pid ]] || ! kill -0 "$(cat "$CLUSTER_RUN/kube-controller-manager.pid")" 2>/dev/null; then
  log "starting kube-controller-manager and kube-scheduler"
  start kube-controller-manager "$K8S_BIN/kube-controller-manager" --kubeconfig "$KUBECONFIG_FILE" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --profiling=false
  start kube-scheduler "$K8S_BIN/kube-scheduler" --kubeconfig "$KUBECONFIG_FILE" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false
fi

# ------------------------------------------------------------------ node
cat > "$CLUSTER_STATE/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine mounts cgroup v1 hierarchies (a hybrid layout); the kubelet refuses
# them unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
address: $NODE_IP
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
failSwapOn: false
# The disk is shared with other work: never evict or collect images for its use.
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
serializeImagePulls: false
maxPods: 60
YAML
if ! curl -sf http://127.0.0.1:10248/healthz >/dev/null 2>&1; then
  log "starting kubelet and kube-proxy"
  start kubelet "$K8S_BIN/kubelet" --config "$CLUSTER_STATE/kubelet.yaml" --kubeconfig "$KUBECONFIG_FILE" \
    --root-dir "$CLUSTER_STATE/kubelet" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP"
  start kube-proxy "$K8S_BIN/kube-proxy" --kubeconfig "$KUBECONFIG_FILE" --hostname-override "$NODE_NAME" \
    --proxy-mode iptables --cluster-cidr "$POD_CIDR" --conntrack-max-per-core 0 \
    --metrics-bind-address 127.0.0.1:10249 --healthz-bind-address 127.0.0.1:10256
fi
wait_for kubelet 120 kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
wait_for kube-proxy 60 curl -sf http://127.0.0.1:10256/healthz
log "cluster up in $(( $(date +%s) - started ))s: KUBECONFIG=$KUBECONFIG_FILE"
