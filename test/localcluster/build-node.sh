#!/usr/bin/env bash
# Builds the local node's binaries and caches them next to the control plane's
# (see build.sh, which calls this): kubelet and kube-proxy from the same
# k8s.io/kubernetes module, containerd and its runc shim, the CNI plugins,
# CoreDNS (own module, coredns/), the kube-router firewall and gVisor (runsc and
# its containerd shim). Every folder is named after its pinned version and a hash
# of what shapes it, so a complete folder is reused. Prints the node folder.
# runc, iptables and ipset are Debian's (the Makefile installs them).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache_root="${TDS_CACHE_DIR:-$HOME/.cache/tds}"
k8s_version="$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$here/go.mod")"
containerd_version="v2.4.2"
cni_version="v1.10.0"
kube_router_version="v2.1.0"
coredns_version="$(awk '$1=="require" && $2=="github.com/coredns/coredns"{print $3}' "$here/coredns/go.mod")"
gvisor_version="v0.0.0-20260905035102-160fafc42237"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"

timed() { # label command...
  local label="$1" start=$SECONDS; shift
  echo "building $label" >&2
  "$@"
  echo "built $label in $((SECONDS - start))s" >&2
}

# kubelet and kube-proxy: the same module, pins and version stamp as the control plane.
node_hash="$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-10)"
out="$cache_root/node-k8s-$k8s_version-$node_hash"
mkdir -p "$out"
# One build at a time per cache folder: concurrent suites on one machine wait for it
# instead of compiling the same binaries side by side.
exec 9>"$out.lock"
flock 9
minor="$(echo "$k8s_version" | cut -d. -f2)"
version_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  version_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  version_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
k8s_build() { (cd "$here" && go build -trimpath -ldflags="-s -w$version_ldflags" -o "$out/$1.tmp" "$2") && mv "$out/$1.tmp" "$out/$1"; }
for cmd in kubelet kube-proxy; do
  [ -x "$out/$cmd" ] || timed "$cmd $k8s_version" k8s_build "$cmd" "k8s.io/kubernetes/cmd/$cmd"
done

# go install of a pinned module version into its own folder.
install_into() { # folder tags packages...
  local dir="$1" tags="$2"; shift 2
  mkdir -p "$dir.tmp"
  GOBIN="$dir.tmp" go install -trimpath -tags "$tags" -ldflags='-s -w' "$@"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}
containerd_dir="$cache_root/containerd-$containerd_version"
[ -x "$containerd_dir/containerd-shim-runc-v2" ] || timed "containerd $containerd_version" install_into "$containerd_dir" \
  "no_btrfs no_devmapper no_zfs" \
  "github.com/containerd/containerd/v2/cmd/containerd@$containerd_version" \
  "github.com/containerd/containerd/v2/cmd/ctr@$containerd_version" \
  "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$containerd_version"
cni_dir="$cache_root/cni-plugins-$cni_version"
[ -x "$cni_dir/portmap" ] || timed "CNI plugins $cni_version" install_into "$cni_dir" "" \
  "github.com/containernetworking/plugins/plugins/main/bridge@$cni_version" \
  "github.com/containernetworking/plugins/plugins/main/loopback@$cni_version" \
  "github.com/containernetworking/plugins/plugins/ipam/host-local@$cni_version" \
  "github.com/containernetworking/plugins/plugins/meta/portmap@$cni_version"
# kube-router v2.1.0 is the only v2 version served and has reported security
# flaws: the harness runs only its NetworkPolicy firewall, inside the local environment.
kube_router_dir="$cache_root/kube-router-$kube_router_version"
[ -x "$kube_router_dir/kube-router" ] || timed "kube-router $kube_router_version" install_into "$kube_router_dir" "" \
  "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$kube_router_version"

coredns_hash="$(cat "$here/coredns/go.mod" "$here/coredns/go.sum" "$here/coredns/main.go" | sha256sum | cut -c1-10)"
coredns_dir="$cache_root/coredns-$coredns_version-$coredns_hash"
coredns_build() { mkdir -p "$coredns_dir" && (cd "$here/coredns" && go build -trimpath -ldflags='-s -w' -o "$coredns_dir/coredns.tmp" .) && mv "$coredns_dir/coredns.tmp" "$coredns_dir/coredns"; }
[ -x "$coredns_dir/coredns" ] || timed "coredns $coredns_version" coredns_build

# gVisor: its shim sets its own oom_score_adj to -999, which needs CAP_SYS_RESOURCE
# (missing from this machine's bounding set). The module is copied with that one
# value set to 0 and built through a local replace (Go allows no overlay into the
# module cache).
gvisor_patch='s/^\toomScoreMax = -999$/\toomScoreMax = 0/'
gvisor_hash="$(echo "$gvisor_patch" | sha256sum | cut -c1-10)"
gvisor_dir="$cache_root/gvisor-$gvisor_version-$gvisor_hash"
gvisor_build() {
  local work="$gvisor_dir.work" src
  rm -rf "$work" && mkdir -p "$work"
  src="$(go mod download -json "gvisor.dev/gvisor@$gvisor_version" | awk -F'"' '$2=="Dir"{print $4}')"
  cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
  sed -i "$gvisor_patch" "$work/src/pkg/shim/v1/manager.go"
  grep -q '^	oomScoreMax = 0$' "$work/src/pkg/shim/v1/manager.go" || { echo "gVisor shim patch did not apply" >&2; return 1; }
  cat > "$work/go.mod" <<MOD
module tds.dev/localcluster/gvisor

go 1.26.3

require gvisor.dev/gvisor $gvisor_version

replace gvisor.dev/gvisor => ./src
MOD
  printf '//go:build tools\npackage tools\nimport (\n\t_ "gvisor.dev/gvisor/runsc"\n\t_ "gvisor.dev/gvisor/shim"\n)\n' > "$work/tools.go"
  (cd "$work" && go mod tidy && mkdir -p bin \
    && go build -trimpath -ldflags='-s -w' -o bin/runsc gvisor.dev/gvisor/runsc \
    && go build -trimpath -ldflags='-s -w' -o bin/containerd-shim-runsc-v1 gvisor.dev/gvisor/shim)
  rm -rf "$gvisor_dir" && mv "$work/bin" "$gvisor_dir" && rm -rf "$work"
}
[ -x "$gvisor_dir/containerd-shim-runsc-v1" ] || timed "gVisor $gvisor_version" gvisor_build

# The pause process of every pod sandbox: a static C program (pause/pause.c).
pause_hash="$(sha256sum "$here/pause/pause.c" | cut -c1-10)"
pause_dir="$cache_root/pause-$pause_hash"
if [ ! -x "$pause_dir/pause" ]; then
  mkdir -p "$pause_dir"
  gcc -static -Os -s -Wall -Wextra -Werror -o "$pause_dir/pause.tmp" "$here/pause/pause.c"
  mv "$pause_dir/pause.tmp" "$pause_dir/pause"
fi

# One folder of links the harness puts first on PATH for containerd and kubelet.
bin="$out/bin"
mkdir -p "$bin"
for f in "$out/kubelet" "$out/kube-proxy" "$containerd_dir"/* "$kube_router_dir/kube-router" \
  "$coredns_dir/coredns" "$gvisor_dir"/* "$pause_dir/pause"; do
  ln -sfn "$f" "$bin/$(basename "$f")"
done
mkdir -p "$out/cni"
for f in "$cni_dir"/*; do ln -sfn "$f" "$out/cni/$(basename "$f")"; done
echo "$out"
