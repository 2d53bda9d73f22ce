/*
 * ck_util.h - small helpers shared by the checkpoint tests: a scratch
 * folder, whole-file read/write, random tensors. Header-only (static).
 */
#ifndef CK_UTIL_H
#define CK_UTIL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vimo/vimo.h"

/* A fresh folder under /tmp; removed (files inside too) by ck_rmdir. */
static inline char *ck_mkdtemp(char *buf, size_t n)
{
    snprintf(buf, n, "%s/vimo_ck_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(buf);
}

static inline void ck_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char p[4096];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

/* Number of entries in dir whose name contains `part`. */
static inline int ck_count_files(const char *dir, const char *part)
{
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (strstr(e->d_name, part)) n++;
    if (d) closedir(d);
    return n;
}

static inline unsigned char *ck_read(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

/* Writes a new file (unlinked first: rewriting a truncated file makes ext4
 * flush it on close, which slows the thousands of probes to a crawl). */
static inline int ck_write(const char *path, const void *b, size_t n)
{
    unlink(path);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(b, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* A caller-owned tensor of N(0, 1) values. */
static inline vimo_tensor *ck_randn(vimo_rng *r, int ndim, const int64_t *shape)
{
    vimo_tensor *t = NULL;
    if (vimo_tensor_new(&t, ndim, shape) != VIMO_OK) return NULL;
    vimo_rng_fill_normal(r, vimo_tensor_data(t), vimo_tensor_numel(t), 1.0f);
    return t;
}

#endif
