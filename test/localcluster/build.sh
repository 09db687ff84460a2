#!/usr/bin/env bash
# Builds the local control plane's binaries from the Kubernetes Go modules and
# caches them outside the repository, in a folder named after the pinned versions.
# Prints the folder. Reuses a complete cache; rebuilds only what is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
k8s_version="$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$here/go.mod")"
versitygw_version="v1.8.0"
cache_root="${TDS_CACHE_DIR:-$HOME/.cache/tds}"
# The folder name carries a hash of everything that shapes the binaries, so a
# change to the pins or the launcher rebuilds instead of reusing stale binaries.
inputs_hash="$(cat "$here/build.sh" "$here/go.mod" "$here/go.sum" "$here/etcd/main.go" | sha256sum | cut -c1-10)"
out="$cache_root/k8s-$k8s_version-$inputs_hash"
mkdir -p "$out"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
# Stamp the version the way the Kubernetes release build does, so that
# `kubectl version` and the API server's /version report the pinned release.
minor="$(echo "$k8s_version" | cut -d. -f2)"
version_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  version_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  version_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

build() { # name package
  local name="$1" pkg="$2"
  if [ -x "$out/$name" ]; then return 0; fi
  echo "building $name ($pkg) into $out" >&2
  local start=$SECONDS
  (cd "$here" && go build -trimpath -ldflags="-s -w$version_ldflags" -o "$out/$name.tmp" "$pkg")
  mv "$out/$name.tmp" "$out/$name"
  echo "built $name in $((SECONDS - start))s" >&2
}

build etcd ./etcd
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kubectl k8s.io/kubernetes/cmd/kubectl
# KWOK does not schedule; the real scheduler binds sandbox pods to its fake node.
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler

# versitygw: an Apache-2.0 S3 gateway with a POSIX backend, the embedded S3 server.
s3out="$cache_root/versitygw-$versitygw_version"
if [ ! -x "$s3out/versitygw" ]; then
  echo "building versitygw $versitygw_version into $s3out" >&2
  start=$SECONDS
  mkdir -p "$s3out"
  GOBIN="$s3out" go install -trimpath -ldflags='-s -w' "github.com/versity/versitygw/cmd/versitygw@$versitygw_version"
  echo "built versitygw in $((SECONDS - start))s" >&2
fi
# KWOK: simulates nodes and drives pods through Running and Succeeded, so sandbox
# Jobs complete on a control plane without kubelets (SandboxJob tests).
kwok_version="v0.8.0"
kwokout="$cache_root/kwok-$kwok_version"
if [ ! -x "$kwokout/kwok" ]; then
  echo "building kwok $kwok_version into $kwokout" >&2
  start=$SECONDS
  mkdir -p "$kwokout"
  GOBIN="$kwokout" go install -trimpath -ldflags='-s -w' "sigs.k8s.io/kwok/cmd/kwok@$kwok_version"
  echo "built kwok in $((SECONDS - start))s" >&2
fi
echo "$out"
