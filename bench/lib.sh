# lib.sh — shell functions shared by bench/run_*.sh (sourced, not run). Each caller sets, before
# calling them: root, build, raw, jobs, install (bench_ensure_peer), idle_wait (bench_wait_idle).
# shellcheck shell=bash

log() { echo "== $*" >&2; }

# ---- the peer: opentelemetry-cpp 1.19 (Debian bookworm-backports) ----------------------------
# opentelemetry-cpp-dev alone is not enough: its CMake package calls find_dependency(absl, gRPC,
# Protobuf), and OtlpLogRecordable needs the generated *.pb.h from libopentelemetry-proto-dev.
# Installs the missing packages when $install = 1 and we are root; otherwise warns (ours only).
bench_ensure_peer() {
  local peer_pkgs_bpo="opentelemetry-cpp-dev libopentelemetry-proto-dev"
  local peer_pkgs="libabsl-dev libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc"
  local missing="" p
  for p in $peer_pkgs_bpo $peer_pkgs; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
  done
  [ -n "$missing" ] || return 0
  if [ "$install" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing the peer's packages:$missing"
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo "deb http://deb.debian.org/debian bookworm-backports main" \
        > /etc/apt/sources.list.d/backports.list
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    # shellcheck disable=SC2086
    apt-get install -y -q -t bookworm-backports $peer_pkgs_bpo >&2 &&
      apt-get install -y -q $peer_pkgs >&2 ||
      log "WARNING: could not install the peer; running ours only"
  else
    log "WARNING: peer packages missing:$missing (not installing); running ours only"
  fi
}

# ---- build ------------------------------------------------------------------------------------
# bench_configure [CMAKE ARGS...]: configures $build (Release, bench on, tests/examples off) with
# the extra arguments and $BENCH_CMAKE_ARGS.
bench_configure() {
  # shellcheck disable=SC2086
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DOTELBRIDGE_BUILD_BENCH=ON \
    -DOTELBRIDGE_BUILD_TESTS=OFF -DOTELBRIDGE_BUILD_EXAMPLES=OFF -DOTELBRIDGE_SANITIZE= \
    "$@" ${BENCH_CMAKE_ARGS:-} >&2
}

# bench_make TARGETS: builds the targets (a space-separated list) with -j$jobs.
bench_make() {
  log "building: $1 (-j$jobs)"
  # shellcheck disable=SC2086
  cmake --build "$build" -j"$jobs" --target $1 >&2
}

# bench_build OURS PEER: configures, then builds OURS, alloc_count_check and PEER when configured.
bench_build() {
  local targets="$1 alloc_count_check"
  log "configuring $build"
  bench_configure
  if grep -q "^$2:" "$build/Makefile" 2>/dev/null ||
     cmake --build "$build" --target help 2>/dev/null | grep -q "$2"; then
    targets="$targets $2"
  fi
  bench_make "$targets"
}

# bench_programs SCRIPT OURS PEER: sets ours and peer to the built programs and have_peer (1 when
# the peer was built); exits when ours was not.
bench_programs() {
  ours="$build/bench/$2"
  peer="$build/bench/$3"
  [ -x "$ours" ] || { echo "$1: $ours was not built" >&2; exit 1; }
  have_peer=0
  [ -x "$peer" ] && have_peer=1
  return 0
}

# ---- raw output header --------------------------------------------------------------------------
bench_cpu_line() { echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') x $(nproc)"; }
bench_compiler_line() { echo "# compiler: $(${CXX:-c++} --version | head -1)"; }
bench_otelcpp_line() { echo "# opentelemetry-cpp: $(dpkg-query -W -f='${Version}' opentelemetry-cpp 2>/dev/null || echo 'not installed')"; }
# bench_env_lines: cpu, compiler, otelbridge commit and opentelemetry-cpp version lines.
bench_env_lines() {
  bench_cpu_line
  bench_compiler_line
  echo "# otelbridge: $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo '?') $(cd "$root" && git status --porcelain 2>/dev/null | grep -q . && echo '(dirty tree)')"
  bench_otelcpp_line
}

# bench_alloc_check NAME: runs alloc_count_check (output to $raw); exits when it fails.
bench_alloc_check() {
  log "checking allocation counting"
  "$build/bench/alloc_count_check" >> "$raw" 2>&1 ||
    { cat "$raw" >&2; echo "$1: alloc_count_check failed" >&2; exit 1; }
}

# bench_median FIELD LINE...: prints the LINE whose FIELD= value is the median (the lower middle).
bench_median() {
  local field="$1"; shift
  [ "$#" -gt 0 ] || return 0
  printf '%s\n' "$@" |
    awk -v f="$field" '{ for (i = 1; i <= NF; i++) if (index($i, f "=") == 1) { split($i, kv, "="); print kv[2], $0 } }' |
    sort -n -k1,1 | sed -n "$(( ($# + 1) / 2 ))p" | cut -d' ' -f2-
}

# bench_repeat FIELD DESC CMD...: runs CMD (which prints one RESULT line, or nothing when the run
# failed) $repeat times, appends each RESULT line to $raw ("RUN-FAILED DESC" and a warning when
# there was none) and prints the one whose FIELD= value is the median.
bench_repeat() {
  local field="$1" desc="$2" i line
  shift 2
  local -a lines=()
  for ((i = 0; i < repeat; i++)); do
    line="$("$@")" || true
    if [ -z "$line" ]; then
      echo "RUN-FAILED $desc" >> "$raw"
      log "WARNING: $desc produced no RESULT line (see $raw)"
      continue
    fi
    echo "$line" >> "$raw"
    lines+=("$line")
  done
  [ "${#lines[@]}" -gt 0 ] || return 0
  bench_median "$field" "${lines[@]}"
}

# ---- machine load -------------------------------------------------------------------------------
# Busy CPU seconds of the whole machine so far (all CPUs, /proc/stat: everything but idle and iowait).
busy_s() { awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.3f", ($2 + $3 + $4 + $7 + $8 + $9) / hz; exit }' /proc/stat; }

# Waits (up to $idle_wait s) until the machine is idle: less than 0.1 core busy over 1 s. Warns
# when it did not (with --idle-wait 0 only when $idle_warn_zero = 1).
wait_idle() {
  local deadline=$((SECONDS + idle_wait)) a b
  while [ "$SECONDS" -lt "$deadline" ]; do
    a="$(busy_s)"; sleep 1; b="$(busy_s)"
    awk -v a="$a" -v b="$b" 'BEGIN { exit !(b - a < 0.1) }' && return 0
  done
  [ "$idle_wait" = 0 ] && [ "${idle_warn_zero:-0}" != 1 ] ||
    log "WARNING: the machine did not become idle within ${idle_wait}s"
}
