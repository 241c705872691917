#!/usr/bin/env bash
# down.sh — stop the test cluster of up.sh and remove every trace of it: its
# processes, pods' processes, mounts, network namespaces, interfaces, iptables
# chains, cgroups, sysctls and folders. Safe to run twice, or after a failed up.sh.
set -uo pipefail
source "$(dirname "$0")/env.sh"

# stop NAME: SIGTERM the process of $CLUSTER_RUN/NAME.pid, SIGKILL after 10 s.
stop() {
  local f="$CLUSTER_RUN/$1.pid" pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$f"
}

# The kubelet first, so it restarts nothing while the pods go.
stop kubelet
stop kube-proxy
# The pods' processes: everything in the kubelet's cgroups.
for _ in 1 2 3; do
  pids=$(cat /sys/fs/cgroup/pids/kubepods/cgroup.procs $(find /sys/fs/cgroup/pids/kubepods -mindepth 1 -name cgroup.procs 2>/dev/null) 2>/dev/null | sort -u)
  [[ -z $pids ]] && break
  kill -9 $pids 2>/dev/null
  sleep 0.5
done
# containerd's shims (they carry our socket's path on their command line), then containerd.
shims=$(pgrep -f -- "-address $CONTAINERD_SOCK" || true)
[[ -n $shims ]] && kill -9 $shims 2>/dev/null
stop containerd
for c in kube-controller-manager kube-scheduler kube-apiserver etcd; do stop "$c"; done

# kube-proxy's iptables chains.
if [[ -x $K8S_BIN/kube-proxy ]]; then
  "$K8S_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
fi
# What remains of KUBE-* chains (the kubelet's own: KUBE-FIREWALL, KUBE-KUBELET-CANARY,
# KUBE-IPTABLES-HINT), in both families: the jumps to them first, then the chains.
for ipt in iptables ip6tables; do
  command -v "$ipt" >/dev/null || continue
  for table in filter nat mangle; do
    "$ipt" -t "$table" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j KUBE-' | grep -vE '^-A KUBE-' | sed 's/^-A /-D /' |
      while read -r rule; do eval "$ipt -t $table $rule" 2>/dev/null; done
    for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/ {print $2}'); do
      "$ipt" -t "$table" -F "$chain" 2>/dev/null
    done
    for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/ {print $2}'); do
      "$ipt" -t "$table" -X "$chain" 2>/dev/null
    done
  done
done
# Network namespaces the CNI made for our pods (up.sh noted those that were there before).
if [[ -d /run/netns ]]; then
  for ns in /run/netns/cni-*; do
    [[ -e $ns ]] || continue
    grep -qxF "$(basename "$ns")" "$CLUSTER_STATE/netns.before" 2>/dev/null && continue
    umount "$ns" 2>/dev/null; rm -f "$ns"
  done
fi
# Mounts under our folders (overlay root filesystems, Secret volumes, shm), deepest first.
for dir in "$CLUSTER_RUN" "$CLUSTER_STATE"; do
  awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
done
ip link del "$POD_BRIDGE" 2>/dev/null
ip link del "$NODE_IF" 2>/dev/null
# The kubelet's cgroups and containerd's, deepest first.
for h in /sys/fs/cgroup/*/; do
  for g in kubepods k8s.io; do
    [[ -d $h$g ]] && find "$h$g" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
done
if [[ -f $CLUSTER_STATE/sysctl.saved ]]; then
  while IFS== read -r key value; do
    echo "$value" > "/proc/sys/${key//./\/}" 2>/dev/null
  done < "$CLUSTER_STATE/sysctl.saved"
fi
rm -rf "$CLUSTER_RUN" "$CLUSTER_STATE"
log "cluster removed"
