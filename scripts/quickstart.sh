#!/usr/bin/env bash
# The main job: install build dependencies, build otelbridge, run the quickstart example, which
# emits log records from several threads to the console exporter.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh" build
cmake -S "$root" -B "$root/build" -G Ninja -DOTELBRIDGE_BUILD_TESTS=OFF >/dev/null
ninja -C "$root/build" quickstart
"$root/build/examples/quickstart"
