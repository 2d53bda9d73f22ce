/*
 * test_atomic.c - a failed or interrupted checkpoint write never replaces a
 * good checkpoint:
 *   - a write that fails part-way (a child process with RLIMIT_FSIZE, so
 *     write() fails with EFBIG after a few KB) reports VIMO_ERR_IO, leaves
 *     the old file byte-identical and removes its temporary file;
 *   - a writer killed with SIGKILL at random moments while it rewrites the
 *     checkpoint in a loop always leaves a complete, self-consistent file.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "ck_util.h"
#include "vimo/checkpoint.h"

static char g_dir[256];

/* Writes a checkpoint whose one tensor (n) is filled with `value` and whose
 * step is `value` too: a reader can tell a mixed file from a whole one. */
static vimo_status write_version(const char *path, int64_t n, int value)
{
    vimo_tensor *t = NULL;
    vimo_ckpt_writer *w = NULL;
    vimo_status st = vimo_tensor_new1(&t, n);
    if (st) return st;
    vimo_tensor_fill(t, (float)value);
    if (!(st = vimo_ckpt_writer_new(&w, path)) && !(st = vimo_ckpt_add_tensor(w, "w", t)) &&
        !(st = vimo_ckpt_set_step(w, value)))
        st = vimo_ckpt_commit(w);
    vimo_ckpt_writer_free(w);
    vimo_tensor_free(t);
    return st;
}

/* Opens path and checks it is a whole version: every element == step. */
static int whole_version(const char *path, int64_t n, int64_t *step)
{
    vimo_ckpt *c = NULL;
    if (vimo_ckpt_open(&c, path) != VIMO_OK) return 0;
    float *x = malloc((size_t)n * sizeof *x);
    int ok = x && vimo_ckpt_read_f32(c, "w", x, n) == VIMO_OK;
    *step = vimo_ckpt_step(c);
    for (int64_t i = 0; ok && i < n; i++) ok = x[i] == (float)*step;
    free(x);
    vimo_ckpt_close(c);
    return ok;
}

static void test_failed_write_keeps_old(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/fsize.ckpt", g_dir);
    assert_int_equal(write_version(path, 16, 1), VIMO_OK);
    size_t n0 = 0;
    unsigned char *before = ck_read(path, &n0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Child: files may not grow past 4 KB; a 1 MB checkpoint fails mid-write. */
        struct rlimit rl = {4096, 4096};
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        vimo_status st = write_version(path, 1 << 18, 2);
        int ok = st == VIMO_ERR_IO && strstr(vimo_last_error(), "fsize.ckpt") && strstr(vimo_last_error(), "File too large");
        if (!ok) fprintf(stderr, "child: status %d: %s\n", st, vimo_last_error());
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    size_t n1 = 0;
    unsigned char *after = ck_read(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    assert_int_equal(ck_count_files(g_dir, ".tmp."), 0); /* cleaned up */
    int64_t step;
    assert_true(whole_version(path, 16, &step));
    assert_int_equal(step, 1);
    free(before);
    free(after);
}

static void test_killed_writer_never_leaves_a_torn_file(void **state)
{
    (void)state;
    char path[512];
    const int64_t n = 1 << 16; /* 256 KB of f32 per version */
    snprintf(path, sizeof path, "%s/kill.ckpt", g_dir);
    assert_int_equal(write_version(path, n, 0), VIMO_OK);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    vimo_rng r;
    vimo_rng_seed(&r, (uint64_t)now.tv_nsec);
    int64_t last = 0;
    for (int round = 0; round < 10; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            for (int v = 1;; v++)
                if (write_version(path, n, (int)(last + v)) != VIMO_OK) _exit(1);
        }
        struct timespec d = {0, (long)(1 + vimo_rng_below(&r, 80)) * 1000000L};
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        assert_true(WIFSIGNALED(status));
        int64_t step = -1;
        if (!whole_version(path, n, &step)) fail_msg("round %d: torn checkpoint: %s", round, vimo_last_error());
        assert_true(step >= last);
        last = step;
    }
    print_message("10 kills: checkpoint always whole (reached version %lld)\n", (long long)last);
    assert_true(last >= 3); /* writes did complete between kills: they were killed mid-stream */
}

int main(void)
{
    if (!ck_mkdtemp(g_dir, sizeof g_dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_write_keeps_old),
        cmocka_unit_test(test_killed_writer_never_leaves_a_torn_file),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ck_rmdir(g_dir); /* also the .tmp files killed writers left behind */
    return rc;
}
