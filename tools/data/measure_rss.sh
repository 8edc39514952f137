#!/usr/bin/env bash
# Peak memory of a memory-mapped data set from 10k to 1M sequences (the
# README's limits table): the adding problem, T = 50, 2 features, written
# by tools/data/adding.py as an aligned .npz (used in place), and for
# contrast the same data compressed (np.savez_compressed: converted into
# memory). Each run loads the set and reads every value once in a shuffled
# order (tools/data/seqset_rss.c). Needs build/librecur.a (make) and
# /usr/bin/python3 with numpy; about 1 GB of space under $TMPDIR.
# Usage: tools/data/measure_rss.sh [COUNTS...]   (default 10000 100000 1000000)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f build/librecur.a ] || { echo "measure_rss.sh: run make first" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# shellcheck disable=SC2046
cc -O2 -Iinclude tools/data/seqset_rss.c build/librecur.a -o "$work/seqset_rss" \
  $(pkg-config --libs openblas libutf8proc libcjson libcurl libzip) -lcsv -lm -lpthread
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(10000 100000 1000000)
for n in "${counts[@]}"; do
  /usr/bin/python3 tools/data/adding.py --out "$work" --T 50 --train "$n" --test 1 >/dev/null
  "$work/seqset_rss" "$work/adding_T50_train.npz"
  /usr/bin/python3 - "$work/adding_T50_train.npz" "$work/compressed.npz" <<'PY'
import sys, numpy as np
d = np.load(sys.argv[1])
np.savez_compressed(sys.argv[2], features=d["features"], targets=d["targets"])
PY
  "$work/seqset_rss" "$work/compressed.npz"
  rm -f "$work"/*.npz
done
