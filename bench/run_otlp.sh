#!/usr/bin/env bash
# run_otlp.sh — OTLP export throughput, ours vs opentelemetry-cpp 1.19, to the real Collector
# otlpreceiver (tests/collector) on loopback, over gRPC and HTTP/protobuf. Prints one table.
#
#   bench/run_otlp.sh [--records N] [--repeat K] [--rates "20000 50000 100000 150000 200000 300000"]
#                     [--duration S] [--sweep-repeat K] [--protocols "grpc http/protobuf"]
#                     [--queue Q] [--batch B] [--delay MS] [--warmup W] [--step-ms MS]
#                     [--max-other C] [--retries K] [--idle-wait S]
#                     [--jobs J] [--build-dir DIR] [--no-build] [--no-sweep]
#
#   --records N        records per "max" run (default 200000; env RECORDS)
#   --repeat K         "max" runs per (protocol, impl); the table shows the median by CPU-s per
#                      million delivered (default 3)
#   --rates LIST       rate sweep, records/s (default "20000 50000 100000 150000 200000 300000")
#   --duration S       seconds per sweep run (default 3)
#   --sweep-repeat K   runs per sweep point (default 1)
#   --protocols LIST   default "grpc http/protobuf"
#   --queue/--batch/--delay   BLRP settings for BOTH sides (default 8192 / 512 / 200 ms)
#   --warmup W         warm-up records before measuring, exported but not counted (default 1000)
#   --step-ms MS       rate mode: the producer emits the records due every MS ms (default 5)
#   --max-other C      a run during which the rest of the machine used more than C cores (default
#                      0.25) is disturbed: it is logged, and run again after the machine is idle
#   --retries K        reruns of a disturbed run (default 3; the last attempt is kept either way)
#   --idle-wait S      before each run, wait up to S seconds for the machine to be idle (default 60)
#   --jobs J           parallel compile jobs (default 2)
#   --build-dir DIR    CMake build directory (default build-bench)
#   --no-build         use the binaries already in the build directory
#   --no-sweep         only the "max" runs
#
# Builds bench_otlp_throughput and peer_otelcpp_otlp (Release, OTELBRIDGE_BUILD_BENCH=ON,
# OTELBRIDGE_WITH_GRPC=ON), builds/reuses the receiver (tests/collector/build.sh), starts it on free
# loopback ports as a separate process (its CPU is in neither figure), and for every run reads the
# receiver's /stats before and after (the receiver has no reset, so counts are deltas) to
# cross-check what each program says it delivered. The receiver's logs.jsonl is truncated after
# every run (it is opened O_APPEND, so that is safe). Raw output (every RESULT line, extended with
# the receiver's counts, and each program's stderr) goes to bench/out/run_otlp.txt.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
idle_warn_zero=1
build="$root/build-bench"
out_dir="$root/bench/out"
raw="$out_dir/run_otlp.txt"
res="$out_dir/run_otlp.results.txt"

records="${RECORDS:-200000}"
repeat=3
rates="20000 50000 100000 150000 200000 300000"
duration=3
sweep_repeat=1
protocols="grpc http/protobuf"
queue=8192
batch=512
delay=200
warmup=1000
step_ms=5
max_other=0.25
retries=3
idle_wait=60
jobs=2
do_build=1
do_sweep=1

while [ $# -gt 0 ]; do
  case "$1" in
    --records) records="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --rates) rates="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --sweep-repeat) sweep_repeat="$2"; shift 2 ;;
    --protocols) protocols="$2"; shift 2 ;;
    --queue) queue="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --delay) delay="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --step-ms) step_ms="$2"; shift 2 ;;
    --max-other) max_other="$2"; shift 2 ;;
    --retries) retries="$2"; shift 2 ;;
    --idle-wait) idle_wait="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --build-dir) build="$(cd "$root" && mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --no-sweep) do_sweep=0; shift ;;
    -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
    *) echo "run_otlp.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

for tool in curl jq cmake; do
  command -v "$tool" >/dev/null || { echo "run_otlp.sh: '$tool' is needed" >&2; exit 1; }
done

# ---- build --------------------------------------------------------------------------------------
if [ "$do_build" = 1 ]; then
  log "configuring $build (Release, gRPC on)"
  bench_configure -DOTELBRIDGE_WITH_GRPC=ON
  targets="bench_otlp_throughput"
  # (not "cmake ... | grep -q": with pipefail, grep -q closing the pipe early fails the test)
  target_list="$(cmake --build "$build" --target help 2>/dev/null || true)"
  if grep -q 'peer_otelcpp_otlp' <<<"$target_list"; then
    targets="$targets peer_otelcpp_otlp"
  else
    log "WARNING: peer_otelcpp_otlp is not configured (opentelemetry-cpp OTLP exporters not found)"
  fi
  bench_make "$targets"
fi
grep -q '^OTELBRIDGE_WITH_GRPC:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null ||
  log "WARNING: $build has OTELBRIDGE_WITH_GRPC off: our gRPC runs will fail"

bench_programs run_otlp.sh bench_otlp_throughput peer_otelcpp_otlp

# ---- the receiver -------------------------------------------------------------------------------
rx_bin="$("$root/tests/collector/build.sh" | tail -n1)"
rx_tmp="$(mktemp -d /tmp/otb-run-otlp.XXXXXX)"
rx_pid=""
cleanup() {
  if [ -n "$rx_pid" ] && kill -0 "$rx_pid" 2>/dev/null; then
    kill -TERM "$rx_pid" 2>/dev/null || true
    wait "$rx_pid" 2>/dev/null || true
  fi
  rm -rf "$rx_tmp"
}
trap cleanup EXIT
"$rx_bin" -out "$rx_tmp/out" -ready "$rx_tmp/ready.json" >"$rx_tmp/rx.stdout" 2>"$rx_tmp/rx.stderr" &
rx_pid=$!
for _ in $(seq 1 200); do
  [ -s "$rx_tmp/ready.json" ] && break
  kill -0 "$rx_pid" 2>/dev/null || { cat "$rx_tmp/rx.stderr" >&2; echo "run_otlp.sh: receiver died" >&2; exit 1; }
  sleep 0.05
done
[ -s "$rx_tmp/ready.json" ] || { echo "run_otlp.sh: receiver not ready" >&2; exit 1; }
rx_grpc="$(jq -r .grpc "$rx_tmp/ready.json")"
rx_http="$(jq -r .http "$rx_tmp/ready.json")"
rx_ctl="$(jq -r .control "$rx_tmp/ready.json")"
log "receiver pid $rx_pid: grpc $rx_grpc, http $rx_http, control $rx_ctl"

rx_items() { curl -sf "http://$rx_ctl/stats" | jq -r '.logs.items // 0'; }
rx_requests() { curl -sf "http://$rx_ctl/stats" | jq -r '.logs.requests // 0'; }
# CPU seconds (user+sys) the receiver process has used so far.
rx_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$rx_pid/stat"; }

mkdir -p "$out_dir"
{
  echo "# run_otlp.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# records=$records repeat=$repeat rates=\"$rates\" duration=$duration sweep_repeat=$sweep_repeat protocols=\"$protocols\" queue=$queue batch=$batch delay_ms=$delay warmup=$warmup step_ms=$step_ms"
  bench_cpu_line
  echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  bench_compiler_line
  echo "# otelbridge: $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo '?') $(cd "$root" && git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo "(uncommitted changes to tracked files)")"
  echo "# libotelbridge.so built: $(stat -c %y "$(readlink -f "$build/src/libotelbridge.so")" 2>/dev/null || echo '?') (git HEAD now: see above)"
  bench_otelcpp_line
  echo "# receiver: $rx_bin (collector otlpreceiver v0.162.0)"
} > "$raw"
: > "$res"

# run_attempt IMPL PROTO MODE ARGS...: runs one program and sets $line to its RESULT line extended
# with the receiver's view (rx_items = items the receiver counted during the run, warm-up included;
# rx_delivered = rx_items - warm-up delivered; rx_requests; rx_cpu_s) to $res, stderr to $raw.
run_attempt() {
  local impl="$1" proto="$2" mode="$3"; shift 3
  local bin ep i0 i1 q0 q1 c0 c1 m0 m1 w0 w1 other t0ms t1ms gap wd errf nwarn
  local outf="$rx_tmp/stdout.txt" timef="$rx_tmp/time.txt"
  if [ "$impl" = otelbridge ]; then bin="$ours"; else bin="$peer"; fi
  if [ "$proto" = grpc ]; then ep="http://$rx_grpc"; else ep="http://$rx_http"; fi
  errf="$rx_tmp/stderr.txt"
  i0="$(rx_items)"; q0="$(rx_requests)"
  # Interference check: the CPU that the whole machine used while the program ran, minus the
  # program's own (all of it, start-up included, from the shell's `time`) and the receiver's.
  c0="$(rx_cpu)"; m0="$(busy_s)"; w0="$(date +%s%N)"
  local TIMEFORMAT='%U %S'
  { time "$bin" --protocol "$proto" --endpoint "$ep" --mode "$mode" --queue "$queue" \
      --batch "$batch" --delay "$delay" --warmup "$warmup" "$@" >"$outf" 2>"$errf"; } 2>"$timef" || true
  m1="$(busy_s)"; c1="$(rx_cpu)"; w1="$(date +%s%N)"
  line="$(grep '^RESULT' "$outf")" || true
  i1="$(rx_items)"; q1="$(rx_requests)"
  other="$(awk -v m0="$m0" -v m1="$m1" -v c0="$c0" -v c1="$c1" -v w0="$w0" -v w1="$w1" '
    NR == 1 { o = (m1 - m0) - ($1 + $2) - (c1 - c0); if (o < 0) o = 0
              printf "%.2f", o / ((w1 - w0) / 1e9) }' "$timef")"
  # Longest gap between two requests arriving at the receiver within the measured phase
  # (start_unix_ms..end_unix_ms of the RESULT line), in ms: an export stall shows up here.
  # arrivals_ms keeps the last 10,000 arrivals only.
  t0ms="$(sed -n 's/.* start_unix_ms=\([0-9]*\).*/\1/p' <<<"$line")"
  t1ms="$(sed -n 's/.* end_unix_ms=\([0-9]*\).*/\1/p' <<<"$line")"
  gap="$(curl -sf "http://$rx_ctl/stats" | jq -r --argjson t0 "${t0ms:-0}" --argjson t1 "${t1ms:-0}" '
    [.logs.arrivals_ms[]? | select(. >= $t0 and . <= $t1 + 1)] as $a
    | if ($a | length) < 2 then 0 else ([range(1; $a | length) as $i | $a[$i] - $a[$i - 1]] | max) end
    | . * 10 | round / 10')"
  : > "$rx_tmp/out/logs.jsonl"
  {
    echo "## $impl $proto $mode $*"
    sed 's/^/   stderr: /' "$errf"
  } >> "$raw"
  if [ -z "$line" ]; then
    echo "RUN-FAILED impl=$impl protocol=$proto mode=$mode $*" >> "$raw"
    log "WARNING: $impl $proto $mode $* produced no RESULT line (see $raw)"
    return 0
  fi
  wd="$(sed -n 's/.* warmup_delivered=\([0-9]*\).*/\1/p' <<<"$line")"
  # Lines on stderr other than the programs' own statistics: the libraries' diagnostics and the
  # programs' "warning:" lines.
  nwarn="$(grep -cvE '^(stats\[|peer\[|peer: )' "$errf" || true)"
  line="$line rx_items=$((i1 - i0)) rx_delivered=$((i1 - i0 - wd)) rx_requests=$((q1 - q0)) rx_cpu_s=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", b - a }') rx_max_gap_ms=$gap stderr_other=$nwarn other_load=$other"
  echo "$line" >> "$raw"
  log "$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(impl|protocol|mode|target_rate|emitted|delivered|rx_delivered|dropped|delivered_per_s|cpu_s_per_million)=/) printf "%s ", $i; print "" }' <<<"$line")"
}

# run_one IMPL PROTO MODE ARGS...: waits for an idle machine, runs the case, and runs it again (up
# to $retries times) when the rest of the machine used more than $max_other cores meanwhile. Every
# attempt is in $raw; the last one goes to $res.
run_one() {
  local attempt other line=""
  for ((attempt = 0; attempt <= retries; attempt++)); do
    wait_idle
    line=""
    run_attempt "$@"
    [ -n "$line" ] || return 0
    other="$(sed -n 's/.* other_load=\([0-9.]*\).*/\1/p' <<<"$line")"
    awk -v o="${other:-0}" -v m="$max_other" 'BEGIN { exit !(o <= m) }' && break
    if [ "$attempt" -lt "$retries" ]; then
      echo "DISTURBED other_load=$other (> $max_other cores): running it again" >> "$raw"
      log "disturbed (other load $other cores): running it again"
    fi
  done
  echo "$line" >> "$res"
}

impls="otelbridge"
[ "$have_peer" = 1 ] && impls="otelbridge otelcpp"

for proto in $protocols; do
  for ((r = 0; r < repeat; r++)); do
    for impl in $impls; do
      run_one "$impl" "$proto" max --records "$records"
    done
  done
done
if [ "$do_sweep" = 1 ]; then
  for proto in $protocols; do
    for rate in $rates; do
      for ((r = 0; r < sweep_repeat; r++)); do
        for impl in $impls; do
          run_one "$impl" "$proto" rate --rate "$rate" --duration "$duration" --step-ms "$step_ms"
        done
      done
    done
  done
fi
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$raw"

# ---- table --------------------------------------------------------------------------------------
awk -v recs="$records" -v rep="$repeat" -v q="$queue" -v b="$batch" -v d="$delay" -v dur="$duration" -v step="$step_ms" '
  function f(name,   i, kv) {
    for (i = 1; i <= NF; i++) if (index($i, name "=") == 1) { split($i, kv, "="); return kv[2] }
    return ""
  }
  {
    proto = f("protocol"); impl = f("impl"); mode = f("mode"); rate = f("target_rate")
    key = proto SUBSEP mode SUBSEP rate
    if (!(key in seen)) { seen[key] = 1; order[++n] = key }
    k = key SUBSEP impl
    cnt[k]++
    line[k, cnt[k]] = $0
    cpu[k, cnt[k]] = f("cpu_s_per_million") + 0
    if (f("emitted") - f("rx_delivered") > 0) lossruns[k]++
    if (f("rx_delivered") != f("delivered"))
      mismatch = mismatch sprintf("\n- %s %s %s %s: delivered %s, receiver %s", proto, mode, rate, impl, f("delivered"), f("rx_delivered"))
  }
  # index of the run with the median CPU-s per million delivered
  function med(k,   i, j, idx, t, c) {
    c = cnt[k]
    for (i = 1; i <= c; i++) idx[i] = i
    for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++)
      if (cpu[k, idx[j]] < cpu[k, idx[i]]) { t = idx[i]; idx[i] = idx[j]; idx[j] = t }
    return idx[int((c + 1) / 2)]
  }
  function load(k, impl,   kk, save) {
    kk = k SUBSEP impl
    if (!(kk in cnt)) return 0
    save = $0; $0 = line[kk, med(kk)]
    V[impl, "emitted"] = f("emitted"); V[impl, "delivered"] = f("delivered")
    V[impl, "rx"] = f("rx_delivered"); V[impl, "dropped"] = f("dropped"); V[impl, "failed"] = f("failed")
    V[impl, "dps"] = f("delivered_per_s"); V[impl, "cpum"] = f("cpu_s_per_million")
    V[impl, "wall"] = f("wall_s"); V[impl, "emitrate"] = f("emit_rate"); V[impl, "avgb"] = f("avg_batch")
    V[impl, "rxcpu"] = f("rx_cpu_s"); V[impl, "warn"] = f("stderr_other"); V[impl, "flush"] = f("flush_ok")
    V[impl, "gap"] = f("rx_max_gap_ms"); V[impl, "other"] = f("other_load")
    V[impl, "lost"] = f("emitted") - f("rx_delivered")
    V[impl, "lossruns"] = (lossruns[kk] + 0) "/" cnt[kk]
    $0 = save
    return 1
  }
  function row(proto, what, impl, label, ratio) {
    printf "| %-13s | %-11s | %-8s | %8s | %9s | %9s | %8s | %5s | %11s | %7s | %6s | %7s | %6s | %6s | %5s | %6s |\n", proto, what, label,
      V[impl, "emitted"], V[impl, "delivered"], V[impl, "rx"], V[impl, "lost"], V[impl, "lossruns"],
      V[impl, "dps"], V[impl, "cpum"], ratio, V[impl, "avgb"], V[impl, "gap"], V[impl, "rxcpu"], V[impl, "other"],
      V[impl, "warn"] (V[impl, "flush"] == "1" ? "" : " NOFLUSH")
  }
  END {
    impl_names["otelbridge"] = "ours"; impl_names["otelcpp"] = "otel-cpp"
    printf "\nOTLP export throughput, one producer thread -> otbreceiver (Collector otlpreceiver v0.162.0) on loopback\n"
    printf "both sides: queue %s, batch %s, schedule delay %s ms; max = %s records as fast as possible (median of %s by CPU-s/M); rate = paced for %s s in %s ms steps\n\n", q, b, d, recs, rep, dur, step
    printf "| protocol      | mode        | impl     |  emitted | delivered |  receiver |     lost | lossy | delivered/s | CPU-s/M |  ratio | avg bat | gap ms | rx CPU | other | stderr |\n"
    printf "|---------------|-------------|----------|---------:|----------:|----------:|---------:|------:|------------:|--------:|-------:|--------:|-------:|-------:|------:|-------:|\n"
    for (i = 1; i <= n; i++) {
      split(order[i], p, SUBSEP)
      what = (p[2] == "max") ? "max" : "rate " p[3]
      delete V
      ho = load(order[i], "otelbridge"); hp = load(order[i], "otelcpp")
      ratio = (ho && hp && V["otelbridge", "cpum"] > 0) ? sprintf("%.2fx", V["otelcpp", "cpum"] / V["otelbridge", "cpum"]) : "n/a"

      if (ho) row(p[1], what, "otelbridge", "ours", ratio)
      if (hp) row(p[1], what, "otelcpp", "otel-cpp", "")
      if (p[2] == "rate" && ho && hp) {
        pl = lossruns[order[i], "otelcpp"] + 0; ol = lossruns[order[i], "otelbridge"] + 0
        if (pl > 0 && !(p[1] in firstdrop)) { firstdrop[p[1]] = p[3]; ourdrop[p[1]] = V["otelbridge", "lossruns"] " runs lost records (shown run: " V["otelbridge", "lost"] ")" }
      }
      if (p[2] == "rate") {
        proto_swept[p[1]] = 1
        for (im in impl_names) if ((im, "lost") in V) {
          nl = lossruns[order[i], im] + 0
          if (nl == 0 && (!((p[1], im) in best) || p[3] + 0 > best[p[1], im] + 0)) best[p[1], im] = p[3]
          if (nl > 0 && (!((p[1], im) in firstloss) || p[3] + 0 < firstloss[p[1], im] + 0)) firstloss[p[1], im] = p[3]
        }
      }
    }
    printf "\ndelivered = the program'"'"'s own count (ours: OTEL_STAT_EXPORTED; peer: records of Export() calls that returned kSuccess);\n"
    printf "receiver = log records the receiver counted during the run (its /stats items) minus the warm-up; lost = emitted - receiver;\n"
    printf "lossy = runs of that case (all repeats) that lost records / runs. Each row shows the run with the median CPU-s/M.\n"
    printf "delivered/s = delivered / (first emit -> end of final flush); CPU-s/M = process user+sys CPU (getrusage, all threads)\n"
    printf "over the same interval per million delivered records; ratio = peer CPU-s/M / ours = our delivered records per CPU-second over the peer'"'"'s.\n"
    printf "avg bat = delivered / export calls. gap ms = longest gap between two requests arriving at the receiver during the run.\n"
    printf "rx CPU = CPU-s of the receiver process during the run (a separate process, counted in neither figure).\n"
    printf "other = CPU used by the rest of the machine while the program ran, in cores (0.00 = an undisturbed run).\n"
    printf "stderr = lines on the program'"'"'s stderr besides its own statistics (library diagnostics, warnings; see the raw output);\n"
    printf "NOFLUSH = the final flush did not complete in time.\n"
    if (mismatch != "") printf "\nDelivered count differs from the receiver'"'"'s count:%s\n", mismatch
    else printf "\nCross-check: in every run (all repeats) the delivered count equals the receiver'"'"'s count.\n"
    printf "\nRate sweep summary:\n"
    for (pr in proto_swept) {
      if (pr in firstdrop)
        printf "- %s: the peer first lost records at %s records/s; ours at that rate: %s.\n", pr, firstdrop[pr], ourdrop[pr]
      else
        printf "- %s: the peer lost no records at any swept rate.\n", pr
      for (im in impl_names)
        printf "  - %s: highest swept rate without loss in any run: %s records/s; lowest with loss in some run: %s\n", impl_names[im],
          ((pr, im) in best) ? best[pr, im] : "none", ((pr, im) in firstloss) ? firstloss[pr, im] : "none"
    }
  }' "$res" | tee -a "$raw"
echo "raw output: $raw" >&2
