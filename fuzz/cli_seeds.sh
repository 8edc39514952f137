#!/usr/bin/env bash
# Writes the seeds of fuzz_cli into fuzz/corpus/cli/: the command lines of
# cli/USAGE.md and tests/test_cli.c (and sample's and the experiments'), each as NUL-separated
# words (the first names the command), and a few stored flag strings
# ("@train" then the string, as a checkpoint's train_args holds them).
# Deterministic; run from anywhere: fuzz/cli_seeds.sh
set -euo pipefail
mkdir -p "$(dirname "$0")/corpus/cli"
cd "$(dirname "$0")/corpus/cli"
rm -f argv-* stored-*
n=0
seed() { # seed WORD... : one file, words separated by NUL
  n=$((n + 1))
  local f
  f=$(printf 'argv-%02d' "$n")
  : >"$f"
  local first=1 w
  for w in "$@"; do
    [ $first = 1 ] || printf '\0' >>"$f"
    printf '%s' "$w" >>"$f"
    first=0
  done
}
stored() { # stored COMMAND STRING
  n=$((n + 1))
  printf '@%s\0%s' "$1" "$2" >"$(printf 'stored-%02d' "$n")"
}
seed train -o names.safetensors --svg loss.svg
seed train data -o m.safetensors --epochs 2 --hidden 32 --embed 16 --threads 1 --seed 7
seed train --cell gru --layers 2 --bidirectional --dropout 0.2 --embed 0 --text ascii
seed train --optim sgd --lr 0.5 --momentum 0.9 --weight-decay 1e-4 --clip 0 --patience 0
seed train --split distinct --test-split 0.2 --dedupe --balance 0.5 --token-dropout 0.05 -q
seed train --test-dir held --seed 18446744073709551615 --batch 4096
seed train --resume m.safetensors.ckpt --epochs 20 --lr=0.001
seed train --generate --label-embed 8 -o gen.safetensors
seed train --hidden=128 -- -data
seed train --help
seed eval names.safetensors data --held-out --json --svg c.svg --color always --threads 2
seed eval m d --color never
seed predict names.safetensors Dovesky Jackson Satoshi
seed predict m --json --top 18 --threads 2 -n 3
seed predict m - --top=1
seed info names.safetensors
seed sample g.safetensors --label Beta,Gamma --start Sch --count 5 --temperature 0.5 --top-k 3 --seed 9 --max-length 20 --json
seed sample g.safetensors --check m.safetensors --data d -n 100 -t 1.5 -l Alpha --threads 2
seed info --help
stored train '--output "model.safetensors" --cell lstm --hidden 32 --layers 1 --embed 16 --dropout 0 --epochs 2 --batch 64 --lr 0.003 --optim adam --momentum 0 --weight-decay 0 --clip 5 --balance 0 --token-dropout 0 --patience 2 --seed 7 --threads 1 --test-split 0.15 --split random --text unicode'
stored train '--test-dir "a \"quoted\" dir\\x" --dedupe --bidirectional'
stored eval '--json --color auto'
seed 'experiment memory' --quick --cells rnn,lstm-chrono --lengths 5,20 --seeds 2 --steps 50 --hidden 8 --batch 4 --lr 0.01 --clip 0 --symbols 4 --test 10 --seed 3 --threads 2 --svg m.svg --json -q
seed 'experiment gradients' --quick --cells gru,lstm --length 20 --steps 100 --hidden 16 --batch 8 --lr=1e-3 --clip 5 --symbols 2 --probe 32 --test 50 --seed 1 --threads 1 --svg g.svg --json
seed 'experiment cost' data --quick --hidden-sizes 64,128 --input 32 --batch 16 --length 8 --min-time 0.1 --names-epochs 1 --names-hidden 32 --no-names --threads 2 --seed 5 --svg c.svg --json --quiet
seed 'experiment memory' --help
