#!/usr/bin/env bash
# make bench-mpi: data parallelism over processes against threads, on this
# machine. The default classifier (LSTM-128, bidirectional, embedding 64,
# batch 64) one epoch on every 4th line of the names data, REPEATS times
# (default 5), medians:
#   1 process x 2 threads  (recur train --threads 2: the trainer's replicas)
#   2 ranks x 1 thread     (mpirun -np 2 recur-mpi --threads 1)
# steps/s (from the epoch line's names/s: evaluation not counted), the share
# of the steps' wall time rank 0 spends in MPI_Allreduce (waiting for the
# other rank included) and the compute CPU time a step (time slicing on a
# shared machine does not inflate it). Then the compute CPU time a step of
# one rank for the two models of docs/DISTRIBUTED.md's predictions.
#
# Quiet rerun (nothing else running): REPEATS=9 bench/mpi_bench.sh
set -uo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/build/recur"
mpibin="$PWD/build/recur-mpi"
data="${RECUR_DATA:-}"
repeats="${REPEATS:-5}"
if ! command -v mpirun >/dev/null || [ ! -x "$mpibin" ]; then
  echo "bench-mpi: skipped (no mpirun or no build/recur-mpi: apt-get install openmpi-bin libopenmpi-dev)"
  exit 0
fi
if [ -z "$data" ] || [ ! -d "$data" ]; then echo "bench-mpi: skipped, RECUR_DATA is not set"; exit 0; fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
# A waiting rank yields the core: without it, on a machine with more runnable
# threads than cores, the busy-polling rank starves the one it waits for
# (measured: 3 steps/s instead of 47).
export OMPI_MCA_mpi_yield_when_idle=1
work=$(mktemp -d "${TMPDIR:-/tmp}/recur-mpibench-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/d4" "$work/d8"
for f in "$data"/*.txt; do
  awk 'NR % 4 == 0' "$f" >"$work/d4/$(basename "$f")"
  awk 'NR % 8 == 0' "$f" >"$work/d8/$(basename "$f")"
done
cd "$work"
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# names/s of the epoch line / 64 = steps/s
steps_per_s() { awk '/^epoch/ {for (i = 1; i <= NF; i++) if ($(i + 1) == "names/s") print $i / 64}'; }
mpi() { timeout -k 5 600 mpirun --bind-to none -x RECUR_MPI_REPORT=1 "$@"; }
: >threads.txt; : >ranks.txt; : >share.txt; : >cpu.txt
for i in $(seq "$repeats"); do
  "$bin" train d4 -o t.safetensors --epochs 1 --threads 2 | steps_per_s >>threads.txt
  mpi -np 2 "$mpibin" train d4 -o r.safetensors --epochs 1 --threads 1 >out.txt 2>err.txt || { cat err.txt; exit 1; }
  steps_per_s <out.txt >>ranks.txt
  sed -n 's/.*MPI_Allreduce [0-9.]* s (\([0-9.]*\)% of the steps).*/\1/p' err.txt >>share.txt
  sed -n 's/.*; compute \([0-9.]*\) ms CPU a step.*/\1/p' err.txt >>cpu.txt
done
printf 'bench-mpi: LSTM-128 classifier, batch 64, %d runs (medians):\n' "$repeats"
printf '  1 process x 2 threads: %6.1f steps/s\n' "$(median <threads.txt)"
printf '  2 ranks x 1 thread:    %6.1f steps/s, %4.1f%% of the steps in MPI_Allreduce, compute %.2f ms CPU a step\n' \
  "$(median <ranks.txt)" "$(median <share.txt)" "$(median <cpu.txt)"
# One rank, one thread: the compute a step (batch 64) of the two models.
for m in "classifier (LSTM-128 bidirectional)|" "2-layer LSTM-512|--hidden 512 --layers 2 --unidirectional"; do
  : >cpu.txt
  for i in $(seq "$repeats"); do
    # shellcheck disable=SC2086
    mpi -np 1 "$mpibin" train d8 -o c.safetensors --epochs 1 --threads 1 -q ${m#*|} 2>err.txt >/dev/null
    sed -n 's/.*; compute \([0-9.]*\) ms CPU a step.*/\1/p' err.txt >>cpu.txt
  done
  printf '  1 rank x 1 thread, %s: compute %.1f ms CPU a step\n' "${m%|*}" "$(median <cpu.txt)"
done
