#!/usr/bin/env bash
# run_metrics.sh — build and run the metrics benchmark (ours vs opentelemetry-cpp) and print one table.
#
#   bench/run_metrics.sh [--duration-ms D] [--warmup N] [--repeat K] [--threads "1 2"]
#                        [--cases "add0 add3 bound hist3"] [--attr-form ilist|kv|map]
#                        [--check-ms D] [--idle-wait S] [--jobs J] [--no-install] [--no-build]
#
#   --duration-ms D    wall time of each thread's measured loop per run (default 2000; env DURATION_MS)
#   --warmup N         warm-up calls per thread, made and flushed first (default 100000)
#   --repeat K         runs per case; the table shows the run with the median ns/op (default 3)
#   --threads LIST     thread counts, all threads on the same series (default "1 2")
#   --cases LIST       add0 add3 bound hist3 (default all); "floor" (a bare atomic add) always runs
#   --attr-form F      how the peer passes its 3 attributes (default ilist; see peer_otelcpp_metrics.cc)
#   --check-ms D       duration of our correctness pass per case and thread count (default 1500,
#                      so that periodic collections run during it)
#   --idle-wait S      before each run, wait up to S s for the machine to be idle (default 20)
#   --jobs J           parallel compile jobs (default 2)
#   --no-install       do not apt-get install the peer when it is missing (run ours only)
#   --no-build         use the binaries already in build-bench/
#   env BENCH_CMAKE_ARGS  extra arguments for the cmake configure step (e.g. -DOTELBRIDGE_WITH_GRPC=OFF)
#
# Builds with CMake into build-bench/ (Release, OTELBRIDGE_BUILD_BENCH=ON, tests and examples off),
# installs opentelemetry-cpp 1.19 from Debian bookworm-backports if it is missing and we are root,
# checks that allocation counting works (alloc_count_check), runs bench_metrics and
# peer_otelcpp_metrics with the same arguments, runs our correctness pass (OTLP/JSON to a temporary
# file, exported totals checked against the calls made), and prints the table from their RESULT
# lines. Raw output goes to bench/out/run_metrics.txt.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
build="$root/build-bench"
out_dir="$root/bench/out"
raw="$out_dir/run_metrics.txt"

duration="${DURATION_MS:-2000}"
warmup=100000
repeat=3
threads_list="1 2"
cases="add0 add3 bound hist3"
attr_form=ilist
check_ms=1500
idle_wait=20
jobs=2
install=1
do_build=1

while [ $# -gt 0 ]; do
  case "$1" in
    --duration-ms) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --threads) threads_list="$2"; shift 2 ;;
    --cases) cases="$2"; shift 2 ;;
    --attr-form) attr_form="$2"; shift 2 ;;
    --check-ms) check_ms="$2"; shift 2 ;;
    --idle-wait) idle_wait="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --no-install) install=0; shift ;;
    --no-build) do_build=0; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "run_metrics.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
for c in $cases; do
  case "$c" in
    add0|add3|bound|hist3) ;;
    *) echo "run_metrics.sh: --cases takes add0 add3 bound hist3, not $c" >&2; exit 2 ;;
  esac
done
case "$attr_form" in ilist|kv|map) ;; *) echo "run_metrics.sh: --attr-form ilist|kv|map" >&2; exit 2 ;; esac

# ---- the peer: opentelemetry-cpp 1.19 (Debian bookworm-backports) ----------------------------
bench_ensure_peer

# ---- build ------------------------------------------------------------------------------------
[ "$do_build" = 0 ] || bench_build bench_metrics peer_otelcpp_metrics

bench_programs run_metrics.sh bench_metrics peer_otelcpp_metrics

mkdir -p "$out_dir"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
{
  echo "# run_metrics.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# duration_ms=$duration warmup=$warmup repeat=$repeat threads=\"$threads_list\" cases=\"$cases\" attr_form=$attr_form check_ms=$check_ms"
  bench_env_lines
  echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$raw"

bench_alloc_check run_metrics.sh

# run_one BIN ARGS...: waits for an idle machine, runs the program once and prints its RESULT line
# extended with other_load: the CPU the rest of the machine used meanwhile, in cores (busy CPU
# from /proc/stat minus the program's own user+sys, over the wall time). stderr goes to $raw.
run_one() {
  local m0 m1 w0 w1 line other
  local TIMEFORMAT='%U %S'
  wait_idle
  m0="$(busy_s)"; w0="$(date +%s%N)"
  { time "$@" >"$tmp/out" 2>"$tmp/err"; } 2>"$tmp/time" || true
  m1="$(busy_s)"; w1="$(date +%s%N)"
  { echo "## $*"; sed 's/^/   /' "$tmp/err"; } >> "$raw"
  line="$(grep '^RESULT' "$tmp/out")" || true
  [ -n "$line" ] || return 0
  other="$(awk -v m0="$m0" -v m1="$m1" -v w0="$w0" -v w1="$w1" '
    NR == 1 { o = (m1 - m0) - ($1 + $2); if (o < 0) o = 0; printf "%.2f", o / ((w1 - w0) / 1e9) }' "$tmp/time")"
  echo "$line other_load=$other"
}

# run_case IMPL CASE THREADS: runs $repeat times, appends all RESULT lines to $raw and prints the
# RESULT line of the run with the median ns_per_op.
run_case() {
  local impl="$1" c="$2" th="$3" desc="impl=$1 variant=$2 threads=$3"
  if [ "$impl" = otelbridge ]; then
    bench_repeat ns_per_op "$desc" run_one "$ours" --case "$c" --threads "$th" --duration-ms "$duration" --warmup "$warmup"
  else
    bench_repeat ns_per_op "$desc" run_one "$peer" --case "$c" --threads "$th" --duration-ms "$duration" --warmup "$warmup" --attr-form "$attr_form"
  fi
}

med="$out_dir/run_metrics.median.txt"
: > "$med"
for th in $threads_list; do
  for c in $cases floor; do
    log "threads=$th $c: otelbridge"
    run_case otelbridge "$c" "$th" >> "$med"
    if [ "$have_peer" = 1 ] && [ "$c" != bound ] && [ "$c" != floor ]; then
      log "threads=$th $c: opentelemetry-cpp ($attr_form)"
      run_case otelcpp "$c" "$th" >> "$med"
    fi
  done
done

# Our correctness pass: the same program exporting OTLP/JSON to a file; it checks that the last
# export's cumulative value equals the calls made (counter sum; histogram count and sum) with one
# data point, and that nothing failed or was dropped. (The peer checks its own exporter's last
# value in every run: check= in its RESULT lines.)
for th in $threads_list; do
  for c in $cases; do
    log "threads=$th $c: otelbridge correctness pass"
    line="$("$ours" --case "$c" --threads "$th" --duration-ms "$check_ms" --warmup "$warmup" \
              --check-file "$tmp/check.json" 2>>"$raw" | grep '^RESULT')" || true
    if [ -z "$line" ]; then
      echo "CHECK-FAILED impl=otelbridge variant=$c threads=$th (no RESULT line)" >> "$raw"
      echo "CHECK impl=otelbridge variant=$c threads=$th check=FAIL" >> "$med"
    else
      echo "CHECK ${line#RESULT }" | tee -a "$raw" >> "$med"
    fi
  done
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$raw"

# ---- table --------------------------------------------------------------------------------------
awk -v dur="$duration" -v rep="$repeat" -v form="$attr_form" -v have_peer="$have_peer" '
  function field(name,   i, kv) {
    for (i = 1; i <= NF; i++) if (index($i, name "=") == 1) { split($i, kv, "="); return kv[2] }
    return ""
  }
  /^CHECK/ { chk[field("threads"), field("variant")] = field("check"); next }
  /^RESULT/ {
    th = field("threads"); c = field("variant")
    id = (field("impl") == "otelbridge") ? "ours" : "peer"
    if (!(th in tseen)) { tseen[th] = 1; tord[++nt] = th }
    if (!(c in cseen)) { cseen[c] = 1; cord[++nc] = c }
    k = th SUBSEP c SUBSEP id
    has[k] = 1
    ns[k] = field("ns_per_op"); al[k] = field("allocs_per_op"); ops[k] = field("ops_per_s")
    cpu[k] = field("cpu_ns_per_op"); pcpu[k] = field("proc_cpu_ns_per_op"); col[k] = field("collections")
    n_ops[k] = field("ops"); dr[k] = field("dropped"); fl[k] = field("failed"); ck[k] = field("check")
    oth[k] = field("other_load")
  }
  function g(a, th, c, id) { return ((th, c, id) in has) ? a[th, c, id] : "n/a" }
  # The peer row of a case: bound has no peer; it is compared with the peer add0.
  function pc(c) { return (c == "bound") ? "add0" : c }
  function ratio(th, c) {
    if (!((th, pc(c), "peer") in has) || !((th, c, "ours") in has) || ns[th, c, "ours"] <= 0) return "n/a"
    return sprintf("%.2f%s", ns[th, pc(c), "peer"] / ns[th, c, "ours"], (c == "bound") ? " (vs add0)" : "")
  }
  function mops(th, c, id) { return ((th, c, id) in has) ? sprintf("%.1f M", ops[th, c, id] / 1e6) : "n/a" }
  # 2-thread throughput over 1-thread throughput (ops/s summed over threads).
  function scale(th, c, id) {
    if (th == 1 || !((th, c, id) in has) || !((1, c, id) in has) || ops[1, c, id] <= 0) return (th == 1) ? "-" : "n/a"
    return sprintf("%.2fx", ops[th, c, id] / ops[1, c, id])
  }
  function label(c) {
    if (c == "add0") return "counter add, 0 attrs"
    if (c == "add3") return "counter add, 3 attrs"
    if (c == "bound") return "bound counter add"
    if (c == "hist3") return "histogram record, 3 attrs"
    if (c == "floor") return "floor: bare atomic add"
    return c
  }
  function peer_ns(th, c) {
    if (c == "floor") return "-"
    if (c == "bound") return ((th, "add0", "peer") in has) ? "n/a (add0 " ns[th, "add0", "peer"] ")" : "n/a"
    return g(ns, th, c, "peer")
  }
  END {
    printf "\nMetrics, calling thread: %s ms measured loop per thread, median of %s runs; all threads on the same series\n", dur, rep
    printf "peer = opentelemetry-cpp 1.19 Metrics SDK, PeriodicExportingMetricReader (1000 ms), attributes passed as \"%s\"\n\n", form
    printf "| case | threads | ours ns/op | peer ns/op | peer/ours | ours allocs/op | peer allocs/op | ours ops/s | peer ops/s | ours 2T/1T | peer 2T/1T |\n"
    printf "|------|--------:|-----------:|-----------:|----------:|---------------:|---------------:|-----------:|-----------:|-----------:|-----------:|\n"
    for (j = 1; j <= nc; j++) {
      c = cord[j]
      for (i = 1; i <= nt; i++) {
        th = tord[i]
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", label(c), th,
          g(ns, th, c, "ours"), peer_ns(th, c), (c == "floor") ? "-" : ratio(th, c),
          g(al, th, c, "ours"), (c == "floor") ? "-" : g(al, th, pc(c), "peer"),
          mops(th, c, "ours"), (c == "floor" || c == "bound") ? "-" : mops(th, c, "peer"),
          scale(th, c, "ours"), (c == "floor" || c == "bound") ? "-" : scale(th, c, "peer")
      }
    }
    printf "\nTargets (the issue):\n\n"
    printf "| target | measured | |\n|---|---|:-:|\n"
    for (i = 1; i <= nt; i++) {
      th = tord[i]
      if ((th, "add3", "ours") in has && (th, "add3", "peer") in has) {
        r = ns[th, "add3", "peer"] / ns[th, "add3", "ours"]
        printf "| 3-attribute add <= 1/5 of the peer ns (%s thread%s) | peer/ours = %.2f | %s |\n", th, (th == 1) ? "" : "s", r, (r >= 5) ? "met" : "NOT met"
      }
    }
    if ((1, "bound", "ours") in has)
      printf "| bound add <= 5 ns (1 thread) | %s ns (floor: bare atomic add %s ns) | %s |\n", ns[1, "bound", "ours"], g(ns, 1, "floor", "ours"), (ns[1, "bound", "ours"] <= 5) ? "met" : "NOT met"
    for (j = 1; j <= nc; j++) {
      c = cord[j]
      if (c == "floor") continue
      for (i = 1; i <= nt; i++) {
        th = tord[i]
        if (th != 2 || !((2, c, "ours") in has) || !((1, c, "ours") in has)) continue
        r = ops[2, c, "ours"] / ops[1, c, "ours"]
        printf "| %s: 2 threads >= 1.6x the 1-thread throughput | %.2fx | %s |\n", label(c), r, (r >= 1.6) ? "met" : "NOT met"
      }
    }
    for (j = 1; j <= nc; j++) {
      c = cord[j]
      if (c == "floor") continue
      for (i = 1; i <= nt; i++) {
        th = tord[i]
        if ((th, c, "ours") in has && al[th, c, "ours"] + 0 > 0)
          printf "| 0 allocations/op in steady state (%s, %s thread%s) | %s allocs/op | NOT met |\n", label(c), th, (th == 1) ? "" : "s", al[th, c, "ours"]
      }
    }
    printf "\nDetails (same runs):\n\n"
    printf "| case | threads | impl | ops | ns/op | cpu ns/op | process cpu ns/op | allocs/op | ops/s | collections | dropped | failed | check | other load |\n"
    printf "|------|--------:|------|----:|------:|----------:|------------------:|----------:|------:|------------:|--------:|-------:|:-----:|-----------:|\n"
    for (j = 1; j <= nc; j++) {
      c = cord[j]
      for (i = 1; i <= nt; i++) {
        th = tord[i]
        for (v = 1; v <= 2; v++) {
          id = (v == 1) ? "ours" : "peer"
          if (!((th, c, id) in has)) continue
          cc = (id == "ours") ? (((th, c) in chk) ? chk[th, c] " (pass)" : "-") : ck[th, c, id]
          printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c, th, id,
            n_ops[th, c, id], ns[th, c, id], cpu[th, c, id], pcpu[th, c, id], al[th, c, id],
            sprintf("%.0f", ops[th, c, id]), col[th, c, id], (id == "ours") ? dr[th, c, id] : "n/a",
            (id == "ours") ? fl[th, c, id] : "n/a", cc, oth[th, c, id]
        }
      }
    }
    printf "\nns/op = wall time of a thread'"'"'s loop / its calls, averaged over the threads; ops/s = calls/s summed over the threads;\n"
    printf "2T/1T = 2-thread ops/s over 1-thread ops/s. bound: the peer has no bound instruments; peer/ours compares ours with the peer'"'"'s 0-attribute add.\n"
    printf "cpu ns/op = CPU time of the calling threads per call (below ns/op when they were descheduled); process cpu ns/op = all threads, collection included.\n"
    printf "collections = periodic exports during the measured loops. check: ours = the correctness pass (exported total == calls, one series, no drops/failures);\n"
    printf "peer = its exporter'"'"'s last cumulative value == calls, in that run. other load = cores the rest of the machine used during the run.\n"
  }' "$med" | tee -a "$raw"
echo "raw output: $raw" >&2
