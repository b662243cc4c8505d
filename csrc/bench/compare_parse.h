/* compare_parse.h: what compare_parse.c and compare_ours.c share. */
#ifndef COMPARE_PARSE_H
#define COMPARE_PARSE_H
#include "bench_util.h"

/* sip_parse() of every file, rounds times: the number that failed (compare_ours.c) */
long compare_ours(const blob *files, int nfiles, long rounds);

#endif
