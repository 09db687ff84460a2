#!/usr/bin/env bash
# Builds Jaeger (the all-in-one `cmd/jaeger`, which accepts OTLP and serves the
# query API) from its Go module and caches it beside the other binaries
# (~/.cache/tds). The trace test (test/integration/tracing.int.test.ts) runs it
# on loopback. Prints the folder holding the binary.
# Kept apart from build.sh and build-release-tools.sh, whose hashes name their caches.
set -euo pipefail
jaeger_version="v1.76.0"
cache_root="${TDS_CACHE_DIR:-$HOME/.cache/tds}"
out="$cache_root/jaeger-$jaeger_version"
mkdir -p "$out"
# One build at a time per cache folder: concurrent suites on one machine wait for it
# instead of compiling the same binaries side by side.
exec 9>"$out.lock"
flock 9
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"

if [ ! -x "$out/jaeger" ]; then
  echo "building jaeger $jaeger_version into $out" >&2
  start=$SECONDS
  # Built into a scratch folder and moved, so an interrupted build leaves no binary behind.
  tmp="$(mktemp -d "$out/.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  # Built inside its own module (not `go install mod@version`): its go.mod has a
  # replace directive, which only applies to the main module.
  mod="$(go mod download -json "github.com/jaegertracing/jaeger@$jaeger_version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  (cd "$mod" && go build -trimpath -ldflags='-s -w' -o "$tmp/jaeger" ./cmd/jaeger)
  mv "$tmp/jaeger" "$out/jaeger"
  echo "built jaeger in $((SECONDS - start))s" >&2
fi
echo "$out"
