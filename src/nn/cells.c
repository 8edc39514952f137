/* Names and gate counts of the cell types. */
#include <string.h>

#include "recur.h"

int recur_cell_gates(recur_cell cell)
{
    switch (cell) {
    case RECUR_CELL_RNN_TANH:
    case RECUR_CELL_RNN_RELU: return 1;
    case RECUR_CELL_LSTM: return 4;
    case RECUR_CELL_GRU: return 3;
    }
    return 0;
}

static const char *const cell_names[] = {"rnn_tanh", "rnn_relu", "lstm", "gru"};

const char *recur_cell_name(recur_cell cell)
{
    return (int)cell >= 0 && cell <= RECUR_CELL_GRU ? cell_names[cell] : "unknown";
}

int recur_cell_parse(const char *name)
{
    if (!name) return -1;
    if (strcmp(name, "rnn") == 0) return RECUR_CELL_RNN_TANH;
    for (int i = 0; i <= RECUR_CELL_GRU; i++)
        if (strcmp(name, cell_names[i]) == 0) return i;
    return -1;
}
