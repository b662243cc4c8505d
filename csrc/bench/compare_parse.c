/* compare_parse: lua-sip's sip_parse, sofia-sip and oSIP2 on the same files in one process,
 * interleaved batch by batch, each library's best batch reported.
 * usage: compare-parse BATCHES FILE...   prints "<library> <ns> ns/msg" per library, then ratios.
 *
 * Why: on a shared machine a whole run of a few hundred milliseconds is often slowed by a busy
 * neighbour (30% and more), and code that retires many instructions per cycle (ours) loses more
 * of its speed then than code that waits on memory (the allocating parsers). Batches of a few
 * milliseconds, taken in turn, give every library the same chances at an undisturbed moment; the
 * best batch of each is its undisturbed speed. Each library's call is the one anchors.c times:
 * a full parse of the message, then freeing it. Ours runs in compare_ours.c: sofia-sip's headers
 * and ours both declare sip_method_name() (run.sh renames ours in the copy of the library it links
 * here, so that sofia-sip's own calls never reach it). */
#include <osipparser2/osip_parser.h>
#include <sofia-sip/msg.h>
#include <sofia-sip/sip_parser.h>
#include <sofia-sip/sip_header.h>
#include "compare_parse.h"

static blob *files;
static int nfiles;
static long failed[3];

static void run_ours(long rounds) { failed[0] += compare_ours(files, nfiles, rounds); }

static void run_sofia(long rounds) {
  msg_mclass_t const *mc = sip_default_mclass();
  for (long r = 0; r < rounds; r++)
    for (int i = 0; i < nfiles; i++) {
      msg_t *m = msg_make(mc, 0, files[i].p, (isize_t)files[i].n);
      sip_t *s = m ? sip_object(m) : NULL;
      if (!s || s->sip_error) failed[1]++;
      msg_destroy(m);
    }
}

static void run_osip(long rounds) {
  for (long r = 0; r < rounds; r++)
    for (int i = 0; i < nfiles; i++) {
      osip_message_t *m;
      if (osip_message_init(&m) != 0) {
        failed[2]++;
        continue;
      }
      if (osip_message_parse(m, files[i].p, files[i].n) != 0) failed[2]++;
      osip_message_free(m);
    }
}

static const struct lib {
  const char *name;
  void (*run)(long rounds);
  long rounds; /* per batch: a few milliseconds each */
} libs[3] = {{"lua-sip", run_ours, 1000}, {"sofia-sip", run_sofia, 100}, {"osip2", run_osip, 50}};

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s BATCHES FILE...\n", argv[0]);
    return 2;
  }
  long batches = atol(argv[1]);
  nfiles = argc - 2;
  files = calloc((size_t)nfiles, sizeof *files);
  if (!files) return 2;
  for (int i = 0; i < nfiles; i++) files[i] = load(argv[i + 2]);
  parser_init();
  double best[3] = {1e30, 1e30, 1e30};
  for (int k = 0; k < 3; k++) libs[k].run(libs[k].rounds); /* warm up */
  for (long b = 0; b < batches; b++)
    for (int j = 0; j < 3; j++) {
      int k = (int)((b + j) % 3); /* each library in every position of the turn */
      double t0 = now();
      libs[k].run(libs[k].rounds);
      double ns = (now() - t0) * 1e9 / ((double)libs[k].rounds * nfiles);
      if (ns < best[k]) best[k] = ns;
    }
  for (int k = 0; k < 3; k++)
    printf("%-10s %8.0f ns/msg  (best of %ld batches of %ld rounds, %ld failed)\n", libs[k].name,
           best[k], batches, libs[k].rounds, failed[k]);
  printf("ratio sofia-sip/lua-sip: %.1fx\n", best[1] / best[0]);
  printf("ratio osip2/lua-sip: %.1fx\n", best[2] / best[0]);
  return failed[0] || failed[1] || failed[2] ? 1 : 0;
}
