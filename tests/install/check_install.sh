#!/usr/bin/env bash
# Installs the built library into a temporary prefix, then builds the quickstart against the
# INSTALLED copy twice: with pkg-config alone, and with CMake find_package(otelbridge). Both
# programs must run and export every record.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(find "$tmp/prefix" -name 'libotelbridge.so.0' -printf '%h\n' | head -1)
test -L "$libdir/libotelbridge.so" || { echo "missing libotelbridge.so symlink"; exit 1; }
soname=$(readelf -d "$libdir/libotelbridge.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libotelbridge.so.0" ] || { echo "SONAME is '$soname'"; exit 1; }
test -f "$tmp/prefix/include/otelbridge/otelbridge.h"

# 1. pkg-config alone
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -std=c99 -Wall -Werror -o "$tmp/qs_pc" "$src/examples/quickstart.c" $(pkg-config --cflags --libs otelbridge) -lpthread
out=$(LD_LIBRARY_PATH="$libdir" OTEL_LOGS_EXPORTER=console "$tmp/qs_pc" 2>&1)
echo "$out" | grep -q "accepted=21 exported=21 dropped=0" || { echo "pkg-config build: $out"; exit 1; }
echo "$out" | grep -q "spans accepted=5 exported=5" || { echo "pkg-config build (spans): $out"; exit 1; }
[ "$(echo "$out" | grep -c ' SPAN ')" -eq 5 ] || { echo "expected 5 console span lines"; exit 1; }
echo "$out" | grep -q 'METRIC orders.processed \[quickstart\] {payment.method="wallet"} 12' || { echo "counter line missing: $out"; exit 1; }
echo "$out" | grep -q 'METRIC order.duration \[quickstart\] {payment.method="card"} count=8' || { echo "histogram line missing: $out"; exit 1; }
[ "$(echo "$out" | grep -c 'order processed')" -eq 20 ] || { echo "expected 20 console lines"; exit 1; }

# 2. CMake find_package
mkdir -p "$tmp/cm"
cat > "$tmp/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.20)
project(consumer C)
find_package(otelbridge REQUIRED)
find_package(Threads REQUIRED)
add_executable(qs "$src/examples/quickstart.c")
target_link_libraries(qs PRIVATE otelbridge::otelbridge Threads::Threads)
CM
cmake -S "$tmp/cm" -B "$tmp/cm/build" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
ninja -C "$tmp/cm/build" >/dev/null
out=$(LD_LIBRARY_PATH="$libdir" "$tmp/cm/build/qs" 2>&1 >/dev/null)
echo "$out" | grep -q "accepted=21 exported=21 dropped=0" || { echo "find_package build: $out"; exit 1; }
echo "install check: pkg-config and find_package consumers built and ran against $tmp/prefix"
