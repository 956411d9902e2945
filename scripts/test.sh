#!/usr/bin/env bash
# The whole test suite: installs its dependencies, builds, then runs
#   1. the C++ unit tests, the allocation test, the exported-symbol check and the install check (ctest)
#   2. the C++ unit tests again under ASan+UBSan and under TSan
#   3. the Python tests: wire fidelity against the official opentelemetry-proto, fork behaviour
# Set OTELBRIDGE_SKIP_SANITIZERS=1 to skip step 2 during development.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${OTELBRIDGE_JOBS:-2}
"$root/scripts/install-deps.sh" test
# The end-to-end tests build the Collector's receiver (tests/collector) with Go.
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"

echo "== build"
cmake -S "$root" -B "$root/build" -G Ninja -DOTELBRIDGE_BUILD_TESTS=ON >/dev/null
ninja -C "$root/build" -j "$jobs"

echo "== ctest"
(cd "$root/build" && ctest --output-on-failure -j 1)

if [ "${OTELBRIDGE_SKIP_SANITIZERS:-0}" != 1 ]; then
  for san in address thread; do
    echo "== unit tests under ${san} sanitizer"
    cmake -S "$root" -B "$root/build-$san" -G Ninja -DOTELBRIDGE_SANITIZE=$san \
      -DCMAKE_BUILD_TYPE=Debug -DOTELBRIDGE_BUILD_EXAMPLES=OFF >/dev/null
    ninja -C "$root/build-$san" -j "$jobs" otelbridge_tests
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
      "$root/build-$san/tests/otelbridge_tests" --gtest_brief=1
  done
fi

echo "== python tests"
export OTELBRIDGE_LIBRARY="$root/build/src/libotelbridge.so"
export OTELBRIDGE_BUILD_DIR="$root/build"
cd "$root"
python3 -m pytest -q tests/python
