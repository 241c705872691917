#!/usr/bin/env bash
# deps.sh — install the node's runtime from Debian's packages when missing:
# containerd (with ctr and the runc shim), runc, the CNI plugins, iptables
# (kube-proxy) and openssl (the cluster's certificates).
set -euo pipefail
source "$(dirname "$0")/env.sh"
need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
command -v iptables >/dev/null || need+=(iptables)
command -v conntrack >/dev/null || need+=(conntrack)
command -v openssl >/dev/null || need+=(openssl)
if ((${#need[@]})); then
  log "installing ${need[*]} from Debian's packages"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
