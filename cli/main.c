/* recur: the command-line tool (a thin user of include/recur.h). */
#include <stdio.h>
#include <string.h>

#include "recur.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("recur %s\n", RECUR_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: recur <command> ...\n");
    return 2;
}
