#!/usr/bin/env bash
# recur-mpi on one machine (docs/DISTRIBUTED.md): `mpirun -np 2` against one
# process with the same global batch, bit-for-bit repeats, --resume across
# process counts, and the ways a job must end (a killed rank, a failing rank,
# ranks with different data) - each within a time limit, never a hang.
#
# Bounds: the weights of N ranks differ from one process's only by the
# rounding of the split sums, amplified by training; on this run (900 names,
# 3 epochs, 45 steps) measured 2.2e-7 of the largest weight (2 ranks),
# 3.7e-8 and 2.2e-7 (resumed across N), 1.3e-7 (a generator, 2 epochs),
# 1.3e-7 (a tagger on CoNLL data); the
# bound checked is 1e-4 (a doubled gradient, by a broken split, gave 1.4e-2).
#
# Usage: tests/mpi_test.sh   (make mpitest; RECUR_DATA, build/recur and
# build/recur-mpi). Skips (exit 0, one line) without mpirun, recur-mpi or
# python3. About 25 s on 2 idle cores, 50 s on a loaded machine.
set -uo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/build/recur"
mpibin="$PWD/build/recur-mpi"
data="${RECUR_DATA:-}"
if ! command -v mpirun >/dev/null; then echo "mpi_test: skipped, no mpirun (apt-get install openmpi-bin)"; exit 0; fi
if [ ! -x "$mpibin" ]; then echo "mpi_test: skipped, no $mpibin (Open MPI's libopenmpi-dev was missing at build time)"; exit 0; fi
if ! command -v python3 >/dev/null; then echo "mpi_test: skipped, no python3 to compare weights"; exit 0; fi
if [ -z "$data" ] || [ ! -d "$data" ]; then echo "mpi_test: skipped, RECUR_DATA is not set"; exit 0; fi

# Root in a container, no cross-memory attach, 2 ranks on however many cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
mpi() { timeout -k 5 "$limit" mpirun --bind-to none "$@"; }
limit=90

work=$(mktemp -d "${TMPDIR:-/tmp}/recur-mpi-XXXXXX")
trap 'rm -rf "$work"' EXIT
# A small subset of the names: 8 labels x 150.
mkdir -p "$work/data"
for f in $(ls "$data"/*.txt | head -8); do head -150 "$f" >"$work/data/$(basename "$f")"; done
cd "$work"
flags=(data --hidden 32 --embed 16 --threads 1 --seed 3 -q)
fail=0
bad() { echo "mpi_test: FAIL: $*"; fail=1; }
# ended RC SECONDS WHAT: the job failed, and ended by itself well within the
# limit (mpirun's exit for a rank killed by a signal is 128 + the signal).
ended() {
  [ "$1" -ne 0 ] || bad "$3: exit 0"
  [ "$2" -lt $((limit - 5)) ] || bad "$3: took $2 s: the job hung until the timeout"
}

# The largest |a - b| over the largest |a|, of every F32 tensor of two
# safetensors files (no NumPy needed).
cat >diff.py <<'EOF'
import json, struct, sys
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); base = 8 + n; out = {}
    for k, v in h.items():
        if k == "__metadata__" or v["dtype"] != "F32": continue
        s, e = v["data_offsets"]
        out[k] = struct.unpack("<%df" % ((e - s) // 4), b[base + s:base + e])
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a.keys() == b.keys() and a, "different tensors"
d = max(abs(x - y) for k in a for x, y in zip(a[k], b[k]))
m = max(abs(x) for k in a for x in a[k])
print("%.3g" % (d / m))
EOF
near() { # near A B BOUND WHAT
  local d
  d=$(python3 diff.py "$1" "$2") || { bad "$4: cannot compare $1 and $2"; return; }
  echo "mpi_test: $4: max weight difference $d of the largest weight (bound $3)"
  python3 -c "import sys; sys.exit(0 if float('$d') <= $3 else 1)" || bad "$4: $d > $3"
}

# 1. One process, and one rank through MPI: the same arithmetic, the same bits.
"$bin" train "${flags[@]}" --epochs 3 -o one.safetensors || bad "recur train failed"
mpi -np 1 "$mpibin" train "${flags[@]}" --epochs 3 -o mpi1.safetensors || bad "recur-mpi -np 1 failed"
near one.safetensors.ckpt mpi1.safetensors.ckpt 0 "1 rank against 1 process"

# 2. Two ranks, the same global batch: near one process; twice: the same bits
# (model and checkpoint).
mpi -np 2 "$mpibin" train "${flags[@]}" --epochs 3 -o two.safetensors --check-every 5 || bad "recur-mpi -np 2 failed"
near one.safetensors.ckpt two.safetensors.ckpt 1e-4 "2 ranks against 1 process"
mkdir -p again && cp two.safetensors two.safetensors.ckpt again/
mpi -np 2 "$mpibin" train "${flags[@]}" --epochs 3 -o two.safetensors --check-every 5 || bad "recur-mpi -np 2 (again) failed"
cmp -s two.safetensors again/two.safetensors && cmp -s two.safetensors.ckpt again/two.safetensors.ckpt ||
  bad "two runs of 2 ranks differ"

# A generator too (per-symbol loss terms; dropout 0: the generator's default
# 0.2 draws a stream per rank, so it would match only in distribution).
gflags=(--generate data --hidden 32 --embed 16 --dropout 0 --threads 1 --seed 3 -q --epochs 2)
"$bin" train "${gflags[@]}" -o g1.safetensors || bad "recur train --generate failed"
mpi -np 2 "$mpibin" train "${gflags[@]}" -o g2.safetensors || bad "recur-mpi train --generate failed"
near g1.safetensors.ckpt g2.safetensors.ckpt 1e-4 "generator, 2 ranks against 1 process"

# A tagger on sequence data (CoNLL, loss per labelled step), the same way.
python3 - <<'EOF2'
import random
random.seed(1)
tags = {"the": "DET", "a": "DET", "cat": "N", "dog": "N", "runs": "V", "sees": "V", "big": "ADJ", "red": "ADJ"}
with open("tags.conll", "w") as f:
    for i in range(400):
        for k in range(random.randint(2, 9)):
            w = random.choice(sorted(tags))
            f.write("%s\t%s\n" % (w, tags[w]))
        f.write("\n")
EOF2
tflags=(tags.conll --tokens word --hidden 16 --threads 1 --seed 3 -q --epochs 2)
"$bin" train "${tflags[@]}" -o t1.safetensors || bad "recur train (tagger) failed"
mpi -np 2 "$mpibin" train "${tflags[@]}" -o t2.safetensors || bad "recur-mpi train (tagger) failed"
near t1.safetensors.ckpt t2.safetensors.ckpt 1e-4 "tagger, 2 ranks against 1 process"

# 3. --resume across N: 2 epochs on 1 process, the third on 2 ranks; 2 epochs
# on 2 ranks, the third on 1 process. Both near the straight run.
"$bin" train "${flags[@]}" --epochs 2 -o r12.safetensors || bad "recur train (2 epochs) failed"
mpi -np 2 "$mpibin" train "${flags[@]}" --epochs 3 -o r12.safetensors --resume r12.safetensors.ckpt ||
  bad "2 ranks resuming 1 process's checkpoint failed"
near one.safetensors.ckpt r12.safetensors.ckpt 1e-4 "1 process, then 2 ranks (--resume)"
mpi -np 2 "$mpibin" train "${flags[@]}" --epochs 2 -o r21.safetensors || bad "recur-mpi (2 epochs) failed"
"$bin" train "${flags[@]}" --epochs 3 -o r21.safetensors --resume r21.safetensors.ckpt ||
  bad "1 process resuming 2 ranks' checkpoint failed"
near one.safetensors.ckpt r21.safetensors.ckpt 1e-4 "2 ranks, then 1 process (--resume)"

# 4. A rank killed (SIGKILL at step 20, in epoch 2): the job ends, mpirun names
# the rank and the signal, and epoch 1's checkpoint is whole.
start=$SECONDS
RECUR_MPI_FAULT=kill:1:20 mpi -x RECUR_MPI_FAULT -np 2 "$mpibin" train "${flags[@]}" --epochs 3 -o k.safetensors >kill.out 2>&1
rc=$?
t=$((SECONDS - start))
echo "mpi_test: killed rank: exit $rc after $t s: $(grep -m1 -i 'rank 1' kill.out)"
ended $rc $t "killed rank"
grep -qi "rank 1.*signal 9" kill.out || { cat kill.out; bad "killed rank: no line naming rank 1 and signal 9"; }
"$bin" info k.safetensors.ckpt >info.out 2>&1 || bad "killed rank: the checkpoint does not load"

# SIGTERM to one rank (at step 20): every rank stops at the next step, rank 0
# says what is kept, exit 130.
start=$SECONDS
RECUR_MPI_FAULT=term:1:20 mpi -x RECUR_MPI_FAULT -np 2 "$mpibin" train "${flags[@]}" --epochs 3 -o t.safetensors >term.out 2>&1
rc=$?
echo "mpi_test: SIGTERM to rank 1: exit $rc after $((SECONDS - start)) s: $(grep -m1 'interrupted' term.out)"
[ $rc -eq 130 ] || bad "SIGTERM to rank 1: exit $rc, not 130"
grep -q "rank 0 of 2): interrupted in epoch 2; the best model (epoch 1" term.out || { cat term.out; bad "SIGTERM: no line"; }

# 5. A rank that fails (an error, not a death): one line naming it, the job ends.
start=$SECONDS
RECUR_MPI_FAULT=fail:1:5 mpi -x RECUR_MPI_FAULT -np 2 "$mpibin" train "${flags[@]}" --epochs 3 -o f.safetensors >fail.out 2>&1
rc=$?
echo "mpi_test: failing rank: exit $rc after $((SECONDS - start)) s: $(grep -m1 'rank 1 of 2' fail.out)"
ended $rc $((SECONDS - start)) "failing rank"
grep -q "recur-mpi: rank 1 of 2 failed" fail.out || { cat fail.out; bad "failing rank: no line naming rank 1"; }

# 6. Weights that drift apart (rank 1's gradient skewed at step 3): the check
# every 5 steps ends the job at step 5.
start=$SECONDS
RECUR_MPI_FAULT=skew:1:3 mpi -x RECUR_MPI_FAULT -np 2 "$mpibin" train "${flags[@]}" --epochs 1 -o s.safetensors \
  --check-every 5 >skew.out 2>&1
rc=$?
echo "mpi_test: drifting weights: exit $rc after $((SECONDS - start)) s: $(grep -m1 'differ between' skew.out)"
ended $rc $((SECONDS - start)) "drifting weights"
grep -q "the weights differ between ranks at step 5: rank 1" skew.out || { cat skew.out; bad "drifting weights: not caught"; }

# 7. A rank that hangs without dying (at step 5): the others' --mpi-timeout
# (3 s) ends the job.
start=$SECONDS
RECUR_MPI_FAULT=hang:1:5 mpi -x RECUR_MPI_FAULT -np 2 "$mpibin" train "${flags[@]}" --epochs 1 -o h.safetensors \
  --mpi-timeout 3 >hang.out 2>&1
rc=$?
echo "mpi_test: hung rank: exit $rc after $((SECONDS - start)) s: $(grep -m1 'mpi-timeout' hang.out)"
ended $rc $((SECONDS - start)) "hung rank"
grep -q "rank 0 of 2): the gradient sum of step 5 has waited 3 s" hang.out || { cat hang.out; bad "hung rank: no line"; }

# 8. Ranks whose data differ (one name changed on rank 1): refused at the start.
start=$SECONDS
cp -r data data2 && sed -i '1s/.*/Zzyzx/' data2/"$(ls data2 | head -1)"
mpi -np 1 "$mpibin" train "${flags[@]}" --epochs 1 -o d.safetensors : -np 1 "$mpibin" train \
  data2 "${flags[@]:1}" --epochs 1 -o d.safetensors >data.out 2>&1
rc=$?
echo "mpi_test: different data: exit $rc after $((SECONDS - start)) s: $(grep -m1 'differ between ranks' data.out)"
ended $rc $((SECONDS - start)) "different data"
grep -q "training data.*differ between ranks at the start: rank 1" data.out || { cat data.out; bad "different data: not refused"; }
[ ! -e d.safetensors ] || bad "different data: a model was written"

if [ $fail -ne 0 ]; then echo "mpi_test: FAILED"; exit 1; fi
echo "mpi_test: ok"
