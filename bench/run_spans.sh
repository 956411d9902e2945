#!/usr/bin/env bash
# run_spans.sh — build and run the spans benchmark (ours vs opentelemetry-cpp) and print one table.
#
#   bench/run_spans.sh [--spans N] [--warmup N] [--repeat K] [--threads "1 2"]
#                      [--sampling "sampled unsampled"] [--jobs J] [--no-install] [--no-build]
#
#   --spans N          measured spans (start + end) per thread per run (default 1000000; env SPANS)
#                      (--records is accepted as a synonym)
#   --warmup N         warm-up spans per thread, run and flushed first (default 100000)
#   --repeat K         runs per case; the table shows the run with the median ns/span (default 3)
#   --threads LIST     thread counts (default "1 2")
#   --sampling LIST    sampler cases (default "sampled unsampled": always_on / always_off)
#   --jobs J           parallel compile jobs (default 2)
#   --no-install       do not apt-get install the peer when it is missing (run ours only)
#   --no-build         use the binaries already in build-bench/
#   env BENCH_CMAKE_ARGS  extra arguments for the cmake configure step (e.g. -DOTELBRIDGE_WITH_GRPC=OFF)
#
# Builds with CMake into build-bench/ (Release, OTELBRIDGE_BUILD_BENCH=ON, tests and examples off),
# installs opentelemetry-cpp 1.19 from Debian bookworm-backports if it is missing and we are root,
# checks that allocation counting works (alloc_count_check), runs bench_spans and
# peer_otelcpp_spans with the same arguments, and prints the table from their RESULT lines
# (bench_common.h's line: one "record" there is one span start + end here).
# Raw output goes to bench/out/run_spans.txt.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
build="$root/build-bench"
out_dir="$root/bench/out"
raw="$out_dir/run_spans.txt"

spans="${SPANS:-1000000}"
warmup=100000
repeat=3
threads_list="1 2"
sampling_list="sampled unsampled"
jobs=2
install=1
do_build=1

while [ $# -gt 0 ]; do
  case "$1" in
    --spans|--records) spans="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --threads) threads_list="$2"; shift 2 ;;
    --sampling) sampling_list="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --no-install) install=0; shift ;;
    --no-build) do_build=0; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "run_spans.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
for s in $sampling_list; do
  case "$s" in
    sampled|unsampled) ;;
    *) echo "run_spans.sh: --sampling takes sampled and/or unsampled, not $s" >&2; exit 2 ;;
  esac
done

# ---- the peer: opentelemetry-cpp 1.19 (Debian bookworm-backports) ----------------------------
bench_ensure_peer

# ---- build ------------------------------------------------------------------------------------
[ "$do_build" = 0 ] || bench_build bench_spans peer_otelcpp_spans

bench_programs run_spans.sh bench_spans peer_otelcpp_spans

mkdir -p "$out_dir"
{
  echo "# run_spans.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# spans=$spans warmup=$warmup repeat=$repeat threads=\"$threads_list\" sampling=\"$sampling_list\""
  bench_env_lines
  echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$raw"

bench_alloc_check run_spans.sh

# run_once IMPL SAMPLING THREADS ATTRS: runs the program once and prints its RESULT line; its
# stderr goes to $raw with runs of identical lines collapsed (opentelemetry-cpp's
# BatchSpanProcessor prints one warning per span it drops).
run_once() {
  local impl="$1" sampling="$2" th="$3" at="$4" bin line
  if [ "$impl" = otelbridge ]; then bin="$ours"; else bin="$peer"; fi
  line="$("$bin" --records "$spans" --warmup "$warmup" --threads "$th" --attrs "$at" --variant "$sampling" 2>"$errf" | grep '^RESULT')" || true
  awk 'function out() { print prev (n > 1 ? "   [repeated " n " times]" : "") }
       NR > 1 && $0 == prev { n++; next }
       { if (NR > 1) out(); prev = $0; n = 1 }
       END { if (NR) out() }' "$errf" >> "$raw"
  [ -z "$line" ] || echo "$line"
}

# run_case IMPL SAMPLING THREADS ATTRS: runs $repeat times, appends all RESULT lines to $raw and
# prints the RESULT line of the run with the median ns_per_record (= ns per span).
run_case() {
  bench_repeat ns_per_record "impl=$1 variant=$2 threads=$3 attrs=$4" run_once "$@"
}

errf="$(mktemp)"
trap 'rm -f "$errf"' EXIT
med="$out_dir/run_spans.median.txt"
: > "$med"
for th in $threads_list; do
  for at in 0 4; do
    for s in $sampling_list; do
      log "threads=$th attrs=$at $s: otelbridge"
      run_case otelbridge "$s" "$th" "$at" >> "$med"
      if [ "$have_peer" = 1 ]; then
        log "threads=$th attrs=$at $s: opentelemetry-cpp"
        run_case otelcpp "$s" "$th" "$at" >> "$med"
      fi
    done
  done
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$raw"

# ---- table --------------------------------------------------------------------------------------
awk -v spans="$spans" -v rep="$repeat" -v have_peer="$have_peer" '
  function field(name,   i, kv) {
    for (i = 1; i <= NF; i++) if (index($i, name "=") == 1) { split($i, kv, "="); return kv[2] }
    return ""
  }
  /^RESULT/ {
    key = field("threads") SUBSEP field("attrs") SUBSEP field("variant")
    id = (field("impl") == "otelbridge") ? "ours" : "peer"
    if (!(key in seen)) { seen[key] = 1; order[++n] = key }
    ns[key, id] = field("ns_per_record"); al[key, id] = field("allocs_per_record")
    dr[key, id] = field("dropped"); ex[key, id] = field("exported"); fl[key, id] = field("failed_emits")
    cpu[key, id] = field("cpu_ns_per_record"); pcpu[key, id] = field("proc_cpu_ns_per_record")
  }
  function has(k, v) { return ((k, v) in ns) }
  function ratio(k) { return (has(k, "peer") && has(k, "ours") && ns[k, "ours"] > 0) ? sprintf("%.2f", ns[k, "peer"] / ns[k, "ours"]) : "n/a" }
  function get(a, k, v) { return ((k, v) in a) ? a[k, v] : "n/a" }
  # ns/span, marked with * when that run dropped spans (a dropped span skips the queue).
  function nsm(k, v) { return has(k, v) ? ns[k, v] ((dr[k, v] + 0 > 0) ? "*" : "") : "n/a" }
  # The issue'"'"'s target: ours at most 1/4 of the peer'"'"'s ns/span, 0 allocations/span.
  # n/a* when either side dropped spans (not steady state: a dropped span skips the queue, and
  # opentelemetry-cpp also prints a warning per dropped span).
  function target(k) {
    if (!has(k, "ours") || !has(k, "peer")) return "n/a"
    if (dr[k, "ours"] + 0 > 0 || dr[k, "peer"] + 0 > 0) return "n/a*"
    return (ns[k, "peer"] >= 4 * ns[k, "ours"] && al[k, "ours"] + 0 == 0 && dr[k, "ours"] + 0 == 0 && fl[k, "ours"] + 0 == 0) ? "met" : "NOT met"
  }
  END {
    printf "\nSpan start+end, calling thread: %s measured spans per thread, median of %s runs\n", spans, rep
    printf "peer = opentelemetry-cpp 1.19 Trace SDK, BatchSpanProcessor, recordable sdk::trace::SpanData\n\n"
    printf "| threads | attrs | sampled | ours ns/span | peer ns/span | peer/ours | ours allocs/span | peer allocs/span | ours dropped | peer dropped | target |\n"
    printf "|--------:|------:|:-------:|-------------:|-------------:|----------:|-----------------:|-----------------:|-------------:|-------------:|:------:|\n"
    for (i = 1; i <= n; i++) {
      k = order[i]; split(k, p, SUBSEP)
      printf "| %7s | %5s | %7s | %12s | %12s | %9s | %16s | %16s | %12s | %12s | %6s |\n", p[1], p[2],
        (p[3] == "sampled") ? "yes" : "no", nsm(k, "ours"), nsm(k, "peer"), ratio(k),
        get(al, k, "ours"), get(al, k, "peer"), get(dr, k, "ours"), get(dr, k, "peer"), target(k)
    }
    printf "\nDetails (same runs):\n\n"
    printf "| threads | attrs | sampled | impl | ns/span | cpu ns/span | process cpu ns/span | allocs/span | exported | dropped | failed |\n"
    printf "|--------:|------:|:-------:|------|--------:|------------:|--------------------:|------------:|---------:|--------:|-------:|\n"
    for (i = 1; i <= n; i++) {
      k = order[i]; split(k, p, SUBSEP)
      for (j = 1; j <= 2; j++) {
        v = (j == 1) ? "ours" : "peer"
        if (!has(k, v)) continue
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", p[1], p[2],
          (p[3] == "sampled") ? "yes" : "no", v, nsm(k, v), get(cpu, k, v), get(pcpu, k, v),
          get(al, k, v), get(ex, k, v), get(dr, k, v), (v == "ours") ? get(fl, k, v) : "n/a"
      }
    }
    printf "\n* = that side dropped spans in that run (queue full): its ns/span is not steady state.\n"
    printf "target = the issue'"'"'s: peer/ours >= 4, ours 0 allocs/span, no failed calls; n/a* = a side dropped spans.\n"
    printf "dropped/exported count the whole run, warm-up included; peer dropped = sampled spans started - exported after Shutdown.\n"
    printf "cpu ns/span = CPU time of the calling threads per span (below ns/span when they were descheduled);\n"
    printf "process cpu ns/span = CPU time of all threads, export worker included, measured loop + final flush, per span.\n"
  }' "$med" | tee -a "$raw"
echo "raw output: $raw" >&2
