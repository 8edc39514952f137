#!/usr/bin/env bash
# Run libFuzzer harnesses for FUZZ_SECONDS each (default 30), one after the
# other, each on a scratch copy of its seed corpus (the committed corpus
# never grows here). Usage: fuzz/run.sh [safetensors model dataset cli ...]
# Prints libFuzzer's final "#N DONE cov: ... ft: ... exec/s" line per
# harness and a summary; exits 1 when any harness crashed, leaked, timed out
# or tripped a sanitizer, with the reproducer's path in the output.
set -uo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-30}"
bin="${FUZZ_BIN_DIR:-build-fuzz}"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(safetensors model dataset cli serve tagged dense)
work="$bin/run"
artifacts="$bin/artifacts"
mkdir -p "$work" "$artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export OPENBLAS_NUM_THREADS=1
failed=0
summary=()
for n in "${names[@]}"; do
  exe="$bin/fuzz_$n"
  seeds="fuzz/corpus/$n"
  if [ ! -x "$exe" ] || [ ! -d "$seeds" ]; then
    echo "fuzz/run.sh: no $exe or no $seeds (run make fuzz-build)" >&2
    exit 2
  fi
  corpus="$work/$n"
  rm -rf "$corpus"
  cp -r "$seeds" "$corpus"
  dict=()
  [ -f "fuzz/$n.dict" ] && dict=(-dict="fuzz/$n.dict")
  log="$work/$n.log"
  echo "== fuzz_$n: ${secs}s on a copy of $seeds ($(ls "$seeds" | wc -l) seeds)"
  start=$(date +%s)
  "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$n-" "${dict[@]}" "$corpus" >"$log" 2>&1
  rc=$?
  end=$(date +%s)
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ "$rc" -ne 0 ]; then
    failed=1
    echo "!! fuzz_$n FAILED (exit $rc); the last lines of $log:"
    tail -n 60 "$log"
    summary+=("fuzz_$n: FAILED after $((end - start))s; reproducer: $(sed -n 's/.*Test unit written to //p' "$log" | tail -1)")
  else
    echo "$done_line"
    summary+=("fuzz_$n: ${runs:-?} runs in $((end - start))s; $done_line")
  fi
done
echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
exit $failed
