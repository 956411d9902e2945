#!/usr/bin/env bash
# Build tests/collector/otbreceiver once per machine and print the binary path
# as the last line on stdout. The binary is cached at
#   ${XDG_CACHE_HOME:-$HOME/.cache}/otelbridge/otbreceiver-<hash>
# where <hash> covers go.mod, go.sum, every *.go file here, the Go version and
# GOOS/GOARCH, so any change to the sources or pins gives a fresh build.
# Needs only Go and the Go module proxy (GOPROXY default is fine).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/otelbridge"

if ! command -v go >/dev/null 2>&1; then
    echo "build.sh: 'go' not found in PATH (Go >= 1.26 needed, or an older Go with GOTOOLCHAIN=auto)" >&2
    exit 1
fi

if command -v sha256sum >/dev/null 2>&1; then
    sha() { sha256sum; }
else
    sha() { shasum -a 256; }
fi

hash="$(
    cd "$here"
    {
        for f in go.mod go.sum $(LC_ALL=C ls -- *.go); do
            printf '%s\0' "$f"
            cat -- "$f"
            printf '\0'
        done
        go version
        go env GOOS GOARCH
    } | sha | cut -c1-16
)"
bin="$cache/otbreceiver-$hash"

build() {
    [ -x "$bin" ] && return 0
    tmp="$(mktemp "$cache/.otbreceiver-build.XXXXXX")"
    trap 'rm -f "$tmp"' EXIT
    echo "build.sh: building $bin" >&2
    (
        cd "$here"
        # -mod=readonly: go.sum is committed; never rewrite go.mod/go.sum here.
        CGO_ENABLED=0 go build -trimpath -mod=readonly -buildvcs=false -o "$tmp" .
    ) >&2
    chmod 0755 "$tmp"
    mv -f "$tmp" "$bin" # atomic: concurrent callers never run a half-written binary
    trap - EXIT
}

mkdir -p "$cache"
if [ ! -x "$bin" ]; then
    if command -v flock >/dev/null 2>&1; then
        # One build at a time per machine; late comers reuse the result.
        exec 9>"$cache/.otbreceiver-build.lock"
        flock 9
        build
        flock -u 9
    else
        build
    fi
fi
echo "$bin"
