/* common.c - helpers for the video tests (see common.h). */
#include "common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef VIMO_TEST_DEFAULT_DATA
#define VIMO_TEST_DEFAULT_DATA "../shared/data"
#endif

const char *data_path(const char *rel)
{
    static char buf[4096];
    const char *root = getenv("VIMO_SHARED_DATA");
    if (!root || !*root) root = VIMO_TEST_DEFAULT_DATA;
    snprintf(buf, sizeof buf, "%s/%s", root, rel);
    return buf;
}

int have_data(void)
{
    struct stat st;
    return stat(data_path("video/mmaction2/demo.mp4"), &st) == 0;
}

int have_ffmpeg(void)
{
    return system("ffmpeg -version >/dev/null 2>&1") == 0 &&
           system("ffprobe -version >/dev/null 2>&1") == 0;
}

int run_capture(const char *cmd, size_t max, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap >= max) break;
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n < max - n ? cap - n : max - n, p);
        if (got == 0) break;
        n += got;
    }
    int rc = pclose(p);
    *out = buf;
    *len = n;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

uint8_t *ffmpeg_frame(const char *file, double t, const char *vf, size_t expect_bytes)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -ss %.6f -i '%s' -frames:v 1 %s%s -f rawvideo "
             "-pix_fmt rgb24 -",
             t, file, vf ? "-vf " : "", vf ? vf : "");
    uint8_t *buf;
    size_t n;
    int rc = run_capture(cmd, expect_bytes + 1, &buf, &n);
    if (rc != 0 || n != expect_bytes) {
        fprintf(stderr, "ffmpeg_frame: '%s' gave rc %d, %zu bytes (want %zu)\n", cmd, rc, n,
                expect_bytes);
        free(buf);
        return NULL;
    }
    return buf;
}

double mean_abs_diff(const uint8_t *a, const uint8_t *b, size_t n, int *max_diff)
{
    double s = 0;
    int mx = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        s += d;
        if (d > mx) mx = d;
    }
    if (max_diff) *max_diff = mx;
    return n ? s / (double)n : 0;
}

const char *make_scratch_dir(const char *tag)
{
    static char buf[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, sizeof buf, "%s/vimo_%s_XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    return mkdtemp(buf);
}

void rm_rf(const char *dir)
{
    char cmd[4200];
    if (!dir || !strstr(dir, "/vimo_") || strchr(dir, '\'')) return; /* only ours */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "rm_rf: could not remove %s\n", dir);
}

int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

uint8_t *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = malloc(max);
    size_t n = buf ? fread(buf, 1, max, f) : 0;
    fclose(f);
    *len = n;
    return buf;
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

float *synthetic_arm(int T)
{
    float *j = malloc(sizeof *j * (size_t)T * 9);
    for (int t = 0; j && t < T; t++) {
        double a = 0.8 * sin(2 * M_PI * t / 30.0);
        float *f = j + (size_t)t * 9;
        f[0] = 0, f[1] = 1.4f, f[2] = 0;
        f[3] = (float)(0.3 * sin(a)), f[4] = (float)(1.4 - 0.3 * cos(a)), f[5] = 0;
        f[6] = (float)(f[3] + 0.25 * sin(2 * a)), f[7] = (float)(f[4] - 0.25 * cos(2 * a));
        f[8] = 0.1f;
    }
    return j;
}
