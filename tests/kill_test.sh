#!/usr/bin/env bash
# Crash safety of `recur train`, for real: SIGKILL at random moments.
#
# A reference run trains EPOCHS epochs uninterrupted. Then the same training
# is started, killed with SIGKILL after a random delay, and continued with
# --resume from whatever checkpoint is left, KILLS times; a last --resume
# runs it to the end. After every kill, each of model.safetensors and its
# checkpoint model.safetensors.ckpt must be absent (only when it was absent
# before), byte for byte the one that was there before the run, or a newer
# complete one: `recur info` loads it (the checksum holds) and its epoch has
# moved forward. A kill can land anywhere, in the middle of a save
# included: saves go through a temporary file renamed into place, so a
# reader sees the old file or the new one, never a mix. At the end the model
# and the checkpoint must be bit-identical (cmp) to the reference run's:
# every checkpoint the chain resumed from was the right one.
#
# Usage: tests/kill_test.sh   (make killtest; RECUR_BIN and RECUR_DATA from
# the Makefile). KILLS (default 20), EPOCHS (default 30), KILL_SEED (the
# random delays; printed, so that a failure can be replayed).
set -uo pipefail
cd "$(dirname "$0")/.."
bin="${RECUR_BIN:-$PWD/build/recur}"
data="${RECUR_DATA:-}"
kills="${KILLS:-20}"
epochs="${EPOCHS:-30}"
seed="${KILL_SEED:-$(( $(date +%s) % 32768 ))}"
if [ ! -x "$bin" ]; then
  echo "kill_test: no $bin (run make first)" >&2
  exit 2
fi
if [ -z "$data" ] || [ ! -d "$data" ]; then
  echo "kill_test: skipped, RECUR_DATA is not set"
  exit 0
fi
RANDOM=$seed
work=$(mktemp -d "${TMPDIR:-/tmp}/recur-kill-XXXXXX")
trap 'rm -rf "$work"' EXIT
# A copy of the tool: a rebuild while this runs must not change it.
cp "$bin" "$work/recur" && bin="$work/recur"
# Small and fast (0.05 to 0.15 s an epoch), one thread so that the bytes
# are the same from run to run.
flags=(--epochs "$epochs" --hidden 32 --embed 16 --threads 1 --seed 5)
[ "$epochs" -ge 2 ] || { echo "kill_test: EPOCHS must be at least 2" >&2; exit 2; }
model=model.safetensors
ckpt=$model.ckpt
fail=0
problem() { echo "kill_test: FAIL: $*" >&2; fail=1; }

# The epoch a file holds ("epochs_done" of a checkpoint, "epoch" of a
# model), through `recur info`; empty when it does not load.
epoch_of() { # file key
  "$bin" info "$1" 2>/dev/null | awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }'
}

mkdir -p "$work/ref" "$work/run" "$work/prev"
start=$(date +%s.%N)
if ! (cd "$work/ref" && "$bin" train "$data" -o "$model" "${flags[@]}" -q); then
  echo "kill_test: the reference run failed" >&2
  exit 1
fi
ref_ms=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%d", 1000 * (b - a) }')
# Kill moments follow this machine's speed: a run of one epoch gives the
# start-up time (reading the data, building the model); delays are drawn
# from start-up + 2.5 epochs, so that kills land before, during and after
# epochs and checkpoint saves, about one epoch apart.
mkdir -p "$work/one"
start=$(date +%s.%N)
(cd "$work/one" && "$bin" train "$data" -o "$model" "${flags[@]}" --epochs 1 -q) || exit 1
one_ms=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%d", 1000 * (b - a) }')
epoch_ms=$(( (ref_ms - one_ms) / (epochs - 1) ))
[ "$epoch_ms" -gt 0 ] || epoch_ms=1
startup_ms=$(( one_ms > epoch_ms ? one_ms - epoch_ms : 0 ))
span_ms=$(( startup_ms + 5 * epoch_ms / 2 + 1 ))
echo "kill_test: reference run of $epochs epochs: $ref_ms ms (start-up ~$startup_ms ms, ~$epoch_ms ms an epoch); kills within $span_ms ms; seed $seed"

survived=0 done_kills=0 finished=0
while [ "$done_kills" -lt "$kills" ]; do
  # What is there before this run: the "previous" files.
  rm -f "$work/prev/"*
  for f in "$model" "$ckpt"; do [ -f "$work/run/$f" ] && cp "$work/run/$f" "$work/prev/$f"; done
  prev_done=0
  [ -f "$work/prev/$ckpt" ] && prev_done=$(epoch_of "$work/prev/$ckpt" epochs_done)
  if [ -f "$work/run/$ckpt" ]; then
    args=(train --resume "$ckpt" -q)
  else
    args=(train "$data" -o "$model" "${flags[@]}" -q)
  fi
  delay_ms=$(( (RANDOM * 32768 + RANDOM) % span_ms ))
  (cd "$work/run" && exec "$bin" "${args[@]}") >/dev/null 2>"$work/stderr" &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  if ! kill -KILL "$pid" 2>/dev/null; then
    wait "$pid"
    rc=$?
    if [ "$rc" -ne 0 ]; then
      problem "run ended by itself with exit $rc: $(cat "$work/stderr")"
      break
    fi
    finished=1
    echo "kill_test: training ended before kill $((done_kills + 1)); raise EPOCHS for more kills"
    break
  fi
  wait "$pid" 2>/dev/null
  done_kills=$((done_kills + 1))
  ok=1
  for f in "$model" "$ckpt"; do
    now="$work/run/$f" before="$work/prev/$f"
    key=epoch
    [ "$f" = "$ckpt" ] && key=epochs_done
    if [ ! -e "$now" ]; then
      [ -e "$before" ] && { problem "kill $done_kills (after ${delay_ms} ms): $f vanished"; ok=0; }
      continue
    fi
    [ -e "$before" ] && cmp -s "$now" "$before" && continue # the previous one
    e_now=$(epoch_of "$now" "$key")
    if [ -z "$e_now" ]; then
      problem "kill $done_kills (after ${delay_ms} ms): $f does not load: $("$bin" info "$now" 2>&1 >/dev/null)"
      ok=0
      continue
    fi
    e_before=0
    [ -e "$before" ] && e_before=$(epoch_of "$before" "$key")
    if [ "$e_now" -le "${e_before:-0}" ] || [ "$e_now" -gt "$epochs" ]; then
      problem "kill $done_kills: $f changed but holds epoch $e_now (before: ${e_before:-none})"
      ok=0
    fi
  done
  now_done=0
  [ -f "$work/run/$ckpt" ] && now_done=$(epoch_of "$work/run/$ckpt" epochs_done)
  printf 'kill %2d after %3d ms: checkpoint at epoch %2d -> %2d, model %s\n' "$done_kills" "$delay_ms" \
    "$prev_done" "${now_done:-?}" "$([ -f "$work/run/$model" ] && echo present || echo absent)"
  survived=$((survived + ok))
done

# Run what is left to the end.
if [ "$finished" = 0 ] && [ "$fail" = 0 ]; then
  if [ -f "$work/run/$ckpt" ]; then
    args=(train --resume "$ckpt" -q)
  else
    args=(train "$data" -o "$model" "${flags[@]}" -q)
  fi
  (cd "$work/run" && "$bin" "${args[@]}") >/dev/null 2>"$work/stderr" || problem "the last --resume failed: $(cat "$work/stderr")"
fi
for f in "$model" "$ckpt"; do
  cmp -s "$work/ref/$f" "$work/run/$f" || problem "$f after $done_kills kills and --resume differs from the uninterrupted run's"
done
# Temporary files of killed saves are left behind (nothing can remove
# them at SIGKILL); they are never read.
left=$(find "$work/run" -name '*.tmp.*' | wc -l)
echo "kill_test: $left temporary file(s) of interrupted saves left behind"
echo "kills survived: $survived/$done_kills"
if [ "$fail" = 0 ] && [ "$survived" = "$done_kills" ] && [ "$done_kills" -gt 0 ]; then
  echo "kill_test: after $done_kills kills, --resume ended bit-identical to the uninterrupted run"
  exit 0
fi
echo "kill_test: FAILED (replay with KILL_SEED=$seed)" >&2
exit 1
