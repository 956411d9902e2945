#!/usr/bin/env bash
# run_logs.sh — build and run the logs benchmark (ours vs opentelemetry-cpp) and print one table.
#
#   bench/run_logs.sh [--records N] [--warmup N] [--repeat K] [--threads "1 2"]
#                     [--peer-variants "rw otlp null"] [--jobs J] [--no-install] [--no-build]
#
#   --records N        measured records per thread per run (default 1000000; env RECORDS)
#   --warmup N         warm-up records per thread, emitted and flushed first (default 100000)
#   --repeat K         runs per case; the table shows the run with the median ns/record (default 3)
#   --threads LIST     thread counts (default "1 2")
#   --peer-variants L  opentelemetry-cpp recordables to run (default "rw otlp null"; the main table
#                      uses the first one)
#   --jobs J           parallel compile jobs (default 2)
#   --no-install       do not apt-get install the peer when it is missing (run ours only)
#   --no-build         use the binaries already in build-bench/
#   env BENCH_CMAKE_ARGS  extra arguments for the cmake configure step (e.g. -DOTELBRIDGE_WITH_GRPC=OFF)
#
# Builds with CMake into build-bench/ (Release, OTELBRIDGE_BUILD_BENCH=ON, tests and examples off),
# installs opentelemetry-cpp 1.19 from Debian bookworm-backports if it is missing and we are root,
# checks that allocation counting works (alloc_count_check), runs bench_logs and
# peer_otelcpp_logs with the same arguments, and prints the table from their RESULT lines.
# Raw output goes to bench/out/run_logs.txt.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
build="$root/build-bench"
out_dir="$root/bench/out"
raw="$out_dir/run_logs.txt"

records="${RECORDS:-1000000}"
warmup=100000
repeat=3
threads_list="1 2"
peer_variants="rw otlp null"
jobs=2
install=1
do_build=1

while [ $# -gt 0 ]; do
  case "$1" in
    --records) records="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --threads) threads_list="$2"; shift 2 ;;
    --peer-variants) peer_variants="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --no-install) install=0; shift ;;
    --no-build) do_build=0; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "run_logs.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

# ---- the peer: opentelemetry-cpp 1.19 (Debian bookworm-backports) ----------------------------
bench_ensure_peer

# ---- build ------------------------------------------------------------------------------------
[ "$do_build" = 0 ] || bench_build bench_logs peer_otelcpp_logs

bench_programs run_logs.sh bench_logs peer_otelcpp_logs

mkdir -p "$out_dir"
{
  echo "# run_logs.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# records=$records warmup=$warmup repeat=$repeat threads=\"$threads_list\" peer_variants=\"$peer_variants\""
  bench_env_lines
} > "$raw"

bench_alloc_check run_logs.sh

# run_once IMPL VARIANT THREADS ATTRS: runs the program once (stderr to $raw), prints its RESULT line.
run_once() {
  local impl="$1" variant="$2" th="$3" at="$4"
  if [ "$impl" = otelbridge ]; then
    "$ours" --records "$records" --warmup "$warmup" --threads "$th" --attrs "$at" 2>>"$raw" | grep '^RESULT'
  else
    "$peer" --records "$records" --warmup "$warmup" --threads "$th" --attrs "$at" --variant "$variant" 2>>"$raw" | grep '^RESULT'
  fi
}

# run_case IMPL VARIANT THREADS ATTRS: runs $repeat times, appends all RESULT lines to $raw and
# prints the RESULT line of the run with the median ns_per_record.
run_case() {
  bench_repeat ns_per_record "impl=$1 variant=$2 threads=$3 attrs=$4" run_once "$@"
}

med="$out_dir/run_logs.median.txt"
: > "$med"
for th in $threads_list; do
  for at in 0 4; do
    log "threads=$th attrs=$at: otelbridge"
    run_case otelbridge - "$th" "$at" >> "$med"
    if [ "$have_peer" = 1 ]; then
      for v in $peer_variants; do
        log "threads=$th attrs=$at: opentelemetry-cpp ($v)"
        run_case otelcpp "$v" "$th" "$at" >> "$med"
      done
    fi
  done
done

# ---- table --------------------------------------------------------------------------------------
main_variant="${peer_variants%% *}"
[ "$have_peer" = 1 ] || main_variant="none"
awk -v main="$main_variant" -v recs="$records" -v rep="$repeat" '
  function field(name,   i, kv) {
    for (i = 1; i <= NF; i++) if (index($i, name "=") == 1) { split($i, kv, "="); return kv[2] }
    return ""
  }
  /^RESULT/ {
    key = field("threads") SUBSEP field("attrs")
    impl = field("impl"); var = field("variant")
    if (!(key in seen)) { seen[key] = 1; order[++n] = key }
    id = (impl == "otelbridge") ? "ours" : var
    ns[key, id] = field("ns_per_record"); al[key, id] = field("allocs_per_record")
    dr[key, id] = field("dropped"); ex[key, id] = field("exported"); cpu[key, id] = field("cpu_ns_per_record"); pcpu[key, id] = field("proc_cpu_ns_per_record")
    if (impl != "otelbridge" && !(var in vseen)) { vseen[var] = 1; vorder[++nv] = var }
  }
  function ratio(k, v) { return ((k, v) in ns && (k, "ours") in ns && ns[k, "ours"] > 0) ? sprintf("%.2f", ns[k, v] / ns[k, "ours"]) : "n/a" }
  function get(a, k, v) { return ((k, v) in a) ? a[k, v] : "n/a" }
  # ns/record, marked with * when that run dropped records (a dropped record skips the queue).
  function nsm(k, v) { return ((k, v) in ns) ? ns[k, v] ((dr[k, v] + 0 > 0) ? "*" : "") : "n/a" }
  END {
    printf "\nLogs emit, calling thread: %s measured records per thread, median of %s runs\n", recs, rep
    printf "peer = opentelemetry-cpp 1.19 Logs SDK, BatchLogRecordProcessor, recordable \"%s\"\n\n", main
    printf "| threads | attrs | ours ns/rec | peer ns/rec | peer/ours | ours allocs/rec | peer allocs/rec | ours dropped | peer dropped |\n"
    printf "|--------:|------:|------------:|------------:|----------:|----------------:|----------------:|-------------:|-------------:|\n"
    for (i = 1; i <= n; i++) {
      k = order[i]; split(k, p, SUBSEP)
      printf "| %7s | %5s | %11s | %11s | %9s | %15s | %15s | %12s | %12s |\n", p[1], p[2],
        nsm(k, "ours"), nsm(k, main), ratio(k, main), get(al, k, "ours"), get(al, k, main),
        get(dr, k, "ours"), get(dr, k, main)
    }
    if (nv > 1) {
      printf "\nAll peer recordables (rw = sdk ReadWriteLogRecord, otlp = OtlpLogRecordable as used by its OTLP exporters, null = stores nothing):\n\n"
      printf "| threads | attrs | impl | ns/rec | vs ours | cpu ns/rec | process cpu ns/rec | allocs/rec | exported | dropped |\n"
      printf "|--------:|------:|------|-------:|--------:|-----------:|-------------------:|-----------:|---------:|--------:|\n"
      for (i = 1; i <= n; i++) {
        k = order[i]; split(k, p, SUBSEP)
        printf "| %s | %s | ours | %s | 1.00 | %s | %s | %s | %s | %s |\n", p[1], p[2], nsm(k, "ours"), get(cpu, k, "ours"), get(pcpu, k, "ours"), get(al, k, "ours"), get(ex, k, "ours"), get(dr, k, "ours")
        for (j = 1; j <= nv; j++) {
          v = vorder[j]
          printf "| %s | %s | peer %s | %s | %s | %s | %s | %s | %s | %s |\n", p[1], p[2], v, nsm(k, v), ratio(k, v), get(cpu, k, v), get(pcpu, k, v), get(al, k, v), get(ex, k, v), get(dr, k, v)
        }
      }
    }
    printf "\n* = that side dropped records in that run (queue full): its ns/rec is not steady state.\n"
    printf "dropped/exported count the whole run, warm-up included; peer dropped = emitted - exported after Shutdown.\n"
    printf "cpu ns/rec = CPU time of the emitting threads per record (below ns/rec when they were descheduled);\n"
    printf "process cpu ns/rec = CPU time of all threads, export worker included, measured loop + final flush, per record.\n"
  }' "$med" | tee -a "$raw"
echo "raw output: $raw" >&2
