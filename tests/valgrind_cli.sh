#!/usr/bin/env bash
# valgrind memcheck of the recur tool's commands, as a user runs them: train
# a tiny model (and resume it), eval, predict (arguments and stdin, two
# threads), info, train --generate and sample, experiment's flags (when the
# tool has these), --help, and the error paths (bad flags, missing files,
# damaged data), which must free as much as the paths that succeed. The
# data are made up here (three labels of 300 names), so that it runs in
# about 40 s (60 s on a busy machine) with or without RECUR_DATA.
#
# Each run must end with the exit code expected, no memcheck error and no
# definitely or indirectly lost byte (still-reachable blocks, such as
# OpenBLAS's and glibc's own, are not leaks). Prints one line per command
# and "valgrind-cli: N runs, 0 errors, 0 bytes lost"; exits 1 otherwise,
# with the log of each failing run.
#
# Usage: tests/valgrind_cli.sh   (make valgrind-cli; RECUR_BIN from the
# Makefile). VALGRIND overrides the memcheck command.
set -uo pipefail
cd "$(dirname "$0")/.."
bin="${RECUR_BIN:-$PWD/build/recur}"
if [ ! -x "$bin" ]; then
  echo "valgrind_cli: no $bin (run make first)" >&2
  exit 2
fi
command -v valgrind >/dev/null || { echo "valgrind_cli: valgrind is not installed" >&2; exit 2; }
read -r -a vg <<<"${VALGRIND:-valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --track-fds=no}"
work=$(mktemp -d "${TMPDIR:-/tmp}/recur-valgrind-XXXXXX")
trap 'rm -rf "$work"' EXIT
# A copy of the tool: a rebuild while this runs must not change it.
cp "$bin" "$work/recur" && bin="$work/recur"
# One thread in OpenBLAS: valgrind runs threads one at a time anyway.
export OPENBLAS_NUM_THREADS=1

# Made-up names: syllables that tell the labels apart.
mkdir -p "$work/data" "$work/bad"
awk 'BEGIN {
  split("ka ri to mu sa ne yo", a, " "); split("sch berg stein mann el ov ic", b, " ");
  split("van der hoek dijk de ter", c, " "); s = 7;
  for (l = 1; l <= 3; l++) {
    f = l == 1 ? "Alpha" : l == 2 ? "Beta" : "Gamma";
    for (i = 0; i < 300; i++) {
      name = ""; k = 2 + i % 3;
      for (j = 0; j < k; j++) {
        s = (s * 1103515245 + 12345) % 2147483648; r = int(s / 65536) % 7 + 1;
        name = name (l == 1 ? a[r] : l == 2 ? b[r] : c[(r - 1) % 6 + 1]);
      }
      print toupper(substr(name, 1, 1)) substr(name, 2) > ("'"$work"'/data/" f ".txt");
    }
  }
}'
printf 'Adams\nBrown\n' >"$work/bad/Alpha.txt"
printf 'Ivanov\nSid\377\376ov\n' >"$work/bad/Beta.txt"
printf 'Kamura\n\nSchberg\nVanhoek\n\xce\xa9mega\n' >"$work/names.txt"

runs=0 failed=0 total_errors=0 total_lost=0
# check EXPECTED_EXIT [< FILE] ARGS...: one run under memcheck.
check() {
  local want=$1 in=/dev/null
  shift
  if [ "$1" = "<" ]; then in=$2; shift 2; fi
  runs=$((runs + 1))
  local log="$work/vg-$runs.log" t0
  t0=$(date +%s.%N)
  (cd "$work" && "${vg[@]}" --log-file="$log" "$bin" "$@" <"$in" >"$work/out" 2>"$work/err")
  local rc=$? t1
  t1=$(date +%s.%N)
  local errors lost
  errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log" | tail -1 | tr -d ,)
  lost=$(awk '/definitely lost:|indirectly lost:/ { gsub(",", "", $4); n += $4 } END { print n + 0 }' "$log")
  errors=${errors:-?}
  printf '%-58.58s %5.1f s  exit %d  errors %s  lost %s bytes\n' "recur $*" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$rc" "$errors" "$lost"
  if [ "$rc" != "$want" ] || [ "$errors" != 0 ] || [ "$lost" != 0 ]; then
    failed=$((failed + 1))
    echo "!! want exit $want, no error, nothing lost; stderr: $(head -c 300 "$work/err")"
    cat "$log"
  fi
  [ "$errors" = "?" ] || total_errors=$((total_errors + errors))
  total_lost=$((total_lost + lost))
}

start=$(date +%s)
tiny=(--hidden 8 --embed 4 --threads 1 --seed 3)
check 0 train data -o m.safetensors --epochs 1 "${tiny[@]}" --svg loss.svg
check 0 train --resume m.safetensors.ckpt --epochs 2 -q
check 0 train data -o b.safetensors --epochs 1 --cell gru --layers 2 --bidirectional --balance 0.5 \
  --token-dropout 0.1 --dedupe --split distinct --optim sgd --momentum 0.9 --patience 1 -q "${tiny[@]}"
check 0 eval m.safetensors data --held-out --json
check 0 eval m.safetensors data --svg c.svg --color always
check 0 predict m.safetensors Kamura Schberg Vanhoek
check 0 "<" "$work/names.txt" predict m.safetensors --json --top 2 --threads 2
check 0 info m.safetensors
check 0 info m.safetensors.ckpt
if "$bin" sample --help >/dev/null 2>&1; then
  check 0 train data -o g.safetensors --generate --epochs 1 "${tiny[@]}" -q
  check 0 sample g.safetensors --count 4 --seed 2
  check 0 sample g.safetensors --label Beta --start Sch --count 3 --json
  check 0 sample g.safetensors --check m.safetensors --data data --count 5
  check 2 sample g.safetensors --temperature 0
fi
# Sequence data (cli/seq.h): a tagger of CoNLL characters, a regressor of
# CSV windows; eval, predict, info, and their errors.
awk 'BEGIN { s = 5; for (i = 0; i < 60; i++) { n = 3 + i % 4;
  for (k = 0; k < n; k++) { s = (s * 1103515245 + 12345) % 2147483648; c = substr("abeiklo", int(s / 65536) % 7 + 1, 1);
    print c "\t" (index("aeio", c) ? "V" : "C") }; print "" } }' >"$work/w.conll"
awk 'BEGIN { s = 3; print "id,x,y"; for (i = 0; i < 40; i++) for (t = 0; t < 4; t++) {
  s = (s * 1103515245 + 12345) % 2147483648; print "s" i "," (s % 1000) / 1000 "," i % 3 } }' >"$work/s.csv"
check 0 train w.conll -o t.safetensors --epochs 1 --hidden 8 --threads 1 -q
check 0 eval t.safetensors w.conll --held-out --json
check 0 predict t.safetensors w.conll --steps
check 0 info t.safetensors
check 0 train s.csv -o r.safetensors --id-col id --target-cols y --per-sequence --loss huber --epochs 1 --hidden 8 --threads 1 -q
check 0 eval r.safetensors s.csv
check 0 predict r.safetensors s.csv --json
check 1 train w.conll --task regress -o x.safetensors
check 1 eval r.safetensors w.conll
check 0 train --help
# Experiments train for seconds natively, minutes under memcheck: their
# flags and usage errors only.
if "$bin" experiment --help >/dev/null 2>&1; then
  check 0 experiment gradients --help
  check 2 experiment frobnicate
fi
# Error paths.
check 2 train data --hidden 0
check 2 eval m.safetensors
check 1 train bad -o x.safetensors
check 1 train /no/such/folder -o x.safetensors
check 1 train --resume m.safetensors --epochs 1
check 1 predict missing.safetensors Kamura
check 1 predict m.safetensors ""
check 1 eval m.safetensors bad
check 1 info names.txt
end=$(date +%s)
echo "valgrind-cli: $runs runs in $((end - start)) s, $total_errors errors, $total_lost bytes lost; $failed failed"
[ "$failed" = 0 ]
