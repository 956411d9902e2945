#!/usr/bin/env bash
# run_python.sh — the Python benchmark: otelbridge vs the official OpenTelemetry SDK (logs, spans,
# counters; 1 and 4 threads; one real receiver), printed as Markdown tables with ratios.
#
#   bench/run_python.sh [--records N] [--warmup N] [--repeat K] [--threads "1 4"]
#                       [--signals logs,spans,counters] [--idle-wait S] [--jobs J] [--no-build]
#
#   --records N     operations per case, split over the threads (default 200000)
#   --warmup N      operations emitted (and delivered) before measuring (default 5000)
#   --repeat K      runs per case; the table shows the median run (default 3)
#   --idle-wait S   wait up to S seconds for an idle machine first (default 30; 0 = do not wait)
#   --no-build      use build-bench/ and build-bench/python as they are
#
# Builds libotelbridge (Release) into build-bench/ and the binding's extensions (cffi, _speedups) into
# build-bench/python, then runs bench/python/bench_python.py (see its docstring for what each
# figure means). Needs the bench Python packages (scripts/install-deps.sh bench, or
# pip install -r bench/python/requirements.txt) and the receiver (tests/collector, built on demand).
# Raw output: bench/out/run_python.txt.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
build="$root/build-bench"
pydir="$build/python"

records=200000
warmup=5000
repeat=3
threads_list="1 4"
signals="logs,spans,counters"
idle_wait=30
jobs=2
do_build=1

while [ $# -gt 0 ]; do
  case "$1" in
    --records) records="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --threads) threads_list="$2"; shift 2 ;;
    --signals) signals="$2"; shift 2 ;;
    --idle-wait) idle_wait="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "run_python.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

if [ "$do_build" = 1 ]; then
  log "configuring $build"
  bench_configure -DOTELBRIDGE_WITH_GRPC=ON
  bench_make otelbridge
  log "building the cffi extension into $pydir"
  rm -rf "$pydir"
  mkdir -p "$pydir"
  cp -r "$root/bindings/python/otelbridge" "$pydir/otelbridge"
  OTELBRIDGE_PREFIX="$root" OTELBRIDGE_BUILD_DIR="$build" python3 -c \
    "import runpy; ns = runpy.run_path('$root/bindings/python/otelbridge_build.py'); ns['ffibuilder'].compile(tmpdir='$pydir'); ns['build_speedups']('$pydir', '$pydir/build-speedups')" >&2
fi
ls "$pydir"/otelbridge/_native*.so >/dev/null 2>&1 ||
  { echo "run_python.sh: no extension in $pydir (run without --no-build)" >&2; exit 1; }

wait_idle
mkdir -p "$root/bench/out"
PYTHONPATH="$pydir${PYTHONPATH:+:$PYTHONPATH}" OTELBRIDGE_LIBRARY="$build/src/libotelbridge.so" \
  python3 "$here/python/bench_python.py" --records "$records" --warmup "$warmup" \
  --repeat "$repeat" --threads "$threads_list" --signals "$signals" \
  --out "$root/bench/out/run_python.txt"
{
  echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') x $(nproc)"
  echo "# otelbridge: $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo '?')"
} >> "$root/bench/out/run_python.txt"
