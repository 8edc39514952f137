/* Thread count of the matrix products: OpenBLAS's own pool. */
#include <cblas.h>

#include "recur.h"

void recur_set_threads(int n)
{
    if (n < 1) n = 1;
    openblas_set_num_threads(n);
}

int recur_get_threads(void) { return openblas_get_num_threads(); }
