/* test_rand.c: identifiers from the pooled CSPRNG (RFC 3261 §8.1.1.4 Call-ID, §8.1.1.7 branch,
 * §19.3 tags): the forms the RFC asks for, no repeats, and no replay of the pool after fork(). */
#include "sip_rand.h"
#include "unit.h"

#include <sys/wait.h>
#include <unistd.h>

static int alnum_only(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return 0;
  }
  return 1;
}

TEST(branch_has_the_magic_cookie_and_tokens) {
  char b[SIP_BRANCH_LEN + 1];
  CHECK_EQ_INT(sip_rand_branch(b), 0);
  CHECK_EQ_INT(strlen(b), SIP_BRANCH_LEN);
  CHECK(strncmp(b, "z9hG4bK", 7) == 0); /* §8.1.1.7 */
  CHECK(alnum_only(b + 7, SIP_BRANCH_LEN - 7));
}

TEST(tags_and_call_ids_do_not_repeat) {
  enum { N = 2000 };
  static char tags[N][SIP_TAG_LEN + 1];
  for (int i = 0; i < N; i++) {
    CHECK_EQ_INT(sip_rand_tag(tags[i]), 0);
    CHECK(alnum_only(tags[i], SIP_TAG_LEN));
  }
  int dup = 0;
  for (int i = 0; i < N; i++)
    for (int j = i + 1; j < N; j++) dup += strcmp(tags[i], tags[j]) == 0;
  CHECK_EQ_INT(dup, 0);
  char a[SIP_CALLID_LEN + 1], b[SIP_CALLID_LEN + 1];
  CHECK_EQ_INT(sip_rand_callid(a), 0);
  CHECK_EQ_INT(sip_rand_callid(b), 0);
  CHECK(strcmp(a, b) != 0);
}

TEST(a_forked_child_does_not_replay_the_parents_pool) {
  char first[SIP_TAG_LEN + 1], mine[SIP_TAG_LEN + 1], child[SIP_TAG_LEN + 1] = {0};
  CHECK_EQ_INT(sip_rand_tag(first), 0); /* the pool is filled before the fork */
  int fd[2];
  CHECK_EQ_INT(pipe(fd), 0);
  pid_t pid = fork();
  if (pid == 0) {
    char t[SIP_TAG_LEN + 1];
    int ok = sip_rand_tag(t) == 0 && write(fd[1], t, SIP_TAG_LEN) == SIP_TAG_LEN;
    _exit(ok ? 0 : 1);
  }
  CHECK(pid > 0);
  close(fd[1]);
  CHECK_EQ_INT(sip_rand_tag(mine), 0);
  CHECK_EQ_INT(read(fd[0], child, SIP_TAG_LEN), SIP_TAG_LEN);
  close(fd[0]);
  int status = -1;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(strcmp(mine, child) != 0); /* the next draw of both would match without the fork handler */
}

int main(void) {
  RUN(branch_has_the_magic_cookie_and_tokens);
  RUN(tags_and_call_ids_do_not_repeat);
  RUN(a_forked_child_does_not_replay_the_parents_pool);
  return unit_done();
}
