#!/usr/bin/env bash
# Installs what building and testing otelbridge needs on a fresh Debian 12 machine. Idempotent
# and quick when everything is already there. Usage: scripts/install-deps.sh [build|test|bench]
set -euo pipefail
what=${1:-test}
root=$(cd "$(dirname "$0")/.." && pwd)

apt_pkgs=(cmake ninja-build g++ gcc pkg-config libcurl4-openssl-dev zlib1g-dev libgrpc++-dev)
case "$what" in
  test) apt_pkgs+=(libgtest-dev googletest openssl python3-dev) ;;
  bench) apt_pkgs+=(libgtest-dev) ;;
esac

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "$what" = bench ]; then
  # The peer in the benchmarks: opentelemetry-cpp 1.19 from bookworm-backports.
  if ! dpkg-query -W -f='${Status}' opentelemetry-cpp-dev 2>/dev/null | grep -q "install ok installed"; then
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo "deb http://deb.debian.org/debian bookworm-backports main" |
        "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/backports.list >/dev/null
    fi
    "${sudo_cmd[@]}" apt-get update -qq
    # Its CMake package needs abseil, gRPC, protobuf and the generated OTLP headers as well.
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq -t bookworm-backports \
      opentelemetry-cpp-dev libopentelemetry-proto-dev libabsl-dev libgrpc++-dev libprotobuf-dev \
      protobuf-compiler protobuf-compiler-grpc >/dev/null
  fi
  # bench/run_python.sh: the official Python SDK it compares against.
  python3 -m pip install -q --disable-pip-version-check -r "$root/bench/python/requirements.txt"
fi

if [ "$what" = test ]; then
  # The oracles (official opentelemetry-proto/-api/-sdk, prometheus_client), the test runner, and
  # cffi for the Python binding. pip returns quickly when everything is already satisfied.
  python3 -m pip install -q --disable-pip-version-check -r "$root/tests/python/requirements.txt"
fi
