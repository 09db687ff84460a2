#!/usr/bin/env bash
# Builds the release tools from their Go modules and caches them beside the
# control plane's binaries (~/.cache/tds): helm, which renders and lints the
# chart, and crane (go-containerregistry), which inspects and pushes the OCI
# images that `make image` writes. Prints the folder holding both.
# Kept apart from build.sh, whose own hash names the control plane's cache.
set -euo pipefail
helm_version="v3.22.0"
crane_version="v0.22.1"
cache_root="${TDS_CACHE_DIR:-$HOME/.cache/tds}"
out="$cache_root/release-tools-helm-$helm_version-crane-$crane_version"
mkdir -p "$out"
# One build at a time per cache folder: concurrent suites on one machine wait for it
# instead of compiling the same binaries side by side.
exec 9>"$out.lock"
flock 9
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"

if [ ! -x "$out/helm" ]; then
  echo "building helm $helm_version into $out" >&2
  start=$SECONDS
  # The ldflags of helm's own release build (its Makefile): the version, and the
  # default Kubernetes version taken from its k8s.io/client-go (v0.37 -> 1.37).
  mod="$(go mod download -json "helm.sh/helm/v3@$helm_version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  k8s_minor="$(awk '$1=="k8s.io/client-go"{split($2, v, "."); print v[2]; exit}' "$mod/go.mod")"
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
  done
  GOBIN="$out" go install -trimpath -ldflags="$ldflags" "helm.sh/helm/v3/cmd/helm@$helm_version"
  echo "built helm in $((SECONDS - start))s" >&2
fi

if [ ! -x "$out/crane" ]; then
  echo "building crane $crane_version into $out" >&2
  start=$SECONDS
  GOBIN="$out" go install -trimpath -ldflags='-s -w' "github.com/google/go-containerregistry/cmd/crane@$crane_version"
  echo "built crane in $((SECONDS - start))s" >&2
fi
echo "$out"
