/*
 * What the sequence-data CLI tests share (tests/cli_seq_data.c). The suite
 * cli_seq is split by concern over test_cli_seq.c (text files: tagging,
 * regression, names, errors; the suite's table), test_cli_seq_eval.c
 * (eval, predict and info on those models) and test_cli_dense.c (dense
 * numbers: CSV, NumPy).
 */
#ifndef RECUR_TESTS_CLI_SEQ_H
#define RECUR_TESTS_CLI_SEQ_H

#include <stdint.h>

#include "tool.h"

/* Flags that keep every model small and its training reproducible. */
#define FAST "--hidden 16 --threads 1 --seed 3"

/* A fresh folder for test `name` under the suite's temporary folder. */
const char *seq_dir(const char *name);
int seq_exists(const char *path);
/* A number in model's metadata under key, or NAN. */
double seq_meta_number(const char *model, const char *key);
/* The value after "key": in a JSON line, or NAN. */
double seq_json_number(const char *s, const char *key);
/* A deterministic generator for the data: seq_seed, then seq_uniform in [0, 1). */
void seq_seed(uint64_t seed);
double seq_uniform(void);
/* words.conll, words.jsonl and sentences.jsonl in dir: letters tagged V or
 * C, and sentences tagged by a small lexicon. */
void seq_write_tagged(const char *dir);
/* A CSV of sequences of 6 values; the target per sequence or per step. */
void seq_write_series(const char *path, int per_sequence, int n);

/* The suite's tests in the other files. */
void test_eval_predict_info(void);
void test_classify_dense(void);
void test_regress_npz(void);

#endif
