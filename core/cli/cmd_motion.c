/*
 * cmd_motion.c - `vimo motion`: convert BVH to HumanML3D features or joints
 * (one file or a whole folder) and describe motion files.
 *
 * All the work is in libvimo_motion (vimo/motion.h); this file only parses
 * arguments, walks folders and prints. Deliberately no rendering here.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "vimo/motion.h"

static const char *const k_valued[] = {"scale", "fps", "map", "skip", NULL};

static int fail_msg(void)
{
    fprintf(stderr, "vimo motion: %s\n", vimo_last_error());
    return 1;
}

/* Parses --scale, --fps, --map, --skip, --mirror into O. Returns 0 or prints and 1. */
static int parse_opts(int argc, char **argv, vimo_motion_opts *o)
{
    vimo_motion_opts_init(o);
    o->mirror = vimo_cli_flag(argc, argv, "mirror");
    const char *names[3] = {"scale", "fps", "skip"};
    double *dst[2] = {&o->scale, &o->fps};
    for (int i = 0; i < 3; i++) {
        const char *v = vimo_cli_opt(argc, argv, names[i]);
        if (!v) continue;
        char *e;
        double x = strtod(v, &e);
        if (e == v || *e || !isfinite(x) || x < 0 || (i == 2 && (x != floor(x) || x > 1e6))) {
            fprintf(stderr, "vimo motion: --%s %s: expected a %s\n", names[i], v,
                    i == 2 ? "non-negative integer" : "non-negative number");
            return 1;
        }
        if (i < 2) *dst[i] = x;
        else o->skip_frames = (int)x;
    }
    const char *m = vimo_cli_opt(argc, argv, "map");
    if (m) {
        o->map = vimo_joint_map_find(m);
        if (!o->map) {
            fprintf(stderr, "vimo motion: --map %s: unknown map; built in:", m);
            for (int i = 0; i < vimo_joint_map_builtin_count(); i++)
                fprintf(stderr, " %s", vimo_joint_map_builtin(i)->name);
            fprintf(stderr, "\n");
            return 1;
        }
    }
    return 0;
}

static int is_bvh_name(const char *s)
{
    size_t n = strlen(s);
    return (n > 4 && strcmp(s + n - 4, ".bvh") == 0) || (n > 7 && strcmp(s + n - 7, ".bvh.gz") == 0);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted list of .bvh/.bvh.gz names in DIR; NULL and a message on failure. */
static char **list_bvh(const char *dir, int *n)
{
    DIR *d = opendir(dir);
    *n = 0;
    if (!d) {
        fprintf(stderr, "vimo motion: %s: %s\n", dir, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_bvh_name(e->d_name)) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        if (!(names[*n] = strdup(e->d_name))) break;
        (*n)++;
    }
    closedir(d);
    if (*n) qsort(names, (size_t)*n, sizeof *names, cmp_str);
    return names ? names : calloc(1, sizeof *names);
}

/* mkdir -p: creates DIR and missing parents. Returns 0 or -1 (errno set). */
static int make_dirs(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) return errno = ENAMETOOLONG, -1;
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        buf[i] = c;
    }
    return 0;
}

static int convert_batch(const char *in_dir, const char *out_dir, const vimo_motion_opts *o, int joints)
{
    int n = 0, failed = 0;
    char **names = list_bvh(in_dir, &n);
    if (!names) return 1;
    if (n == 0) {
        fprintf(stderr, "vimo motion: %s: no .bvh or .bvh.gz files\n", in_dir);
        free(names);
        return 1;
    }
    if (make_dirs(out_dir) != 0) {
        fprintf(stderr, "vimo motion: %s: %s\n", out_dir, strerror(errno));
        for (int i = 0; i < n; i++) free(names[i]);
        free(names);
        return 1;
    }
    long frames_total = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        size_t stem = len - (len > 7 && strcmp(names[i] + len - 7, ".bvh.gz") == 0 ? 7 : 4);
        size_t need = strlen(in_dir) + strlen(out_dir) + len + 8;
        char *src = malloc(need), *dst = malloc(need);
        int frames = 0;
        if (!src || !dst) {
            fprintf(stderr, "vimo motion: out of memory\n");
            failed++;
        } else {
            snprintf(src, need, "%s/%s", in_dir, names[i]);
            snprintf(dst, need, "%s/%.*s.npy", out_dir, (int)stem, names[i]);
            if (vimo_motion_convert(src, dst, o, joints, &frames) != VIMO_OK) {
                fail_msg();
                failed++;
            }
            frames_total += frames;
        }
        free(src);
        free(dst);
        free(names[i]);
    }
    free(names);
    printf("converted %d of %d files (%d failed), %ld frames at %g fps -> %s\n", n - failed, n, failed,
           frames_total, o->fps > 0 ? o->fps : (double)VIMO_HML3D_FPS, out_dir);
    return failed ? 1 : 0;
}

static int cmd_convert(int argc, char **argv)
{
    vimo_motion_opts o;
    if (parse_opts(argc, argv, &o)) return 2;
    int joints = vimo_cli_flag(argc, argv, "joints");
    const char *in = vimo_cli_pos(argc, argv, k_valued, 1), *out = vimo_cli_pos(argc, argv, k_valued, 2);
    if (!in || !out) {
        fprintf(stderr, "vimo motion: convert needs IN and OUT (see vimo help motion)\n");
        return 2;
    }
    if (vimo_cli_flag(argc, argv, "batch")) return convert_batch(in, out, &o, joints);
    int frames = 0;
    if (vimo_motion_convert(in, out, &o, joints, &frames) != VIMO_OK) return fail_msg();
    printf("%s -> %s: (%d, %s)\n", in, out, frames, joints ? "22, 3" : "263");
    return 0;
}

static int is_gzip(const char *path)
{
    unsigned char m[2] = {0, 0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(m, 1, 2, f);
    fclose(f);
    return n == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

static int info_npy(const char *path)
{
    vimo_npy a;
    if (vimo_npy_load(path, &a) != VIMO_OK) return fail_msg();
    printf("file:      %s\nformat:    NumPy .npy, %s\nshape:     (", path, a.file_dtype_bytes == 4 ? "<f4" : "<f8");
    for (int d = 0; d < a.ndim; d++) printf("%s%lld", d ? ", " : "", (long long)a.shape[d]);
    printf(a.ndim == 1 ? ",)\n" : ")\n");
    if (a.ndim == 2 && a.shape[1] == VIMO_HML3D_DIM)
        printf("content:   HumanML3D features, %lld frames at %d fps (%.3f s)\n", (long long)a.shape[0],
               VIMO_HML3D_FPS, (double)a.shape[0] / VIMO_HML3D_FPS);
    else if (a.ndim == 3 && a.shape[1] == VIMO_HML3D_JOINTS && a.shape[2] == 3)
        printf("content:   HumanML3D joints (SMPL 22), %lld frames at %d fps (%.3f s)\n", (long long)a.shape[0],
               VIMO_HML3D_FPS, (double)a.shape[0] / VIMO_HML3D_FPS);
    vimo_npy_free(&a);
    return 0;
}

static int info_bvh(const char *path)
{
    vimo_bvh *b;
    if (vimo_bvh_load(&b, path) != VIMO_OK) return fail_msg();
    const vimo_joint_map *m = NULL;
    if (vimo_joint_map_detect(b, &m) != VIMO_OK) m = NULL;
    double sc = vimo_bvh_auto_scale(b);
    int T = vimo_bvh_frame_count(b);
    printf("file:      %s\nformat:    BVH%s\n", path, is_gzip(path) ? " (gzip)" : "");
    printf("skeleton:  %s, %d joints, %d end sites, %d channels per frame, root '%s'\n",
           m ? m->name : "unknown (no built-in map fits)", vimo_bvh_joint_count(b), vimo_bvh_end_site_count(b),
           vimo_bvh_channel_count(b), vimo_bvh_node_name(b, 0));
    printf("frames:    %d\nfps:       %.3f (frame time %.8g s)\nduration:  %.3f s\n", T, vimo_bvh_fps(b),
           vimo_bvh_frame_time(b), T * vimo_bvh_frame_time(b));
    printf("units:     scale %g to metres (auto: %s)\n", sc,
           sc == 1.0 ? "metres" : sc == 0.01 ? "centimetres" : "millimetres");
    vimo_bvh_free(b);
    return 0;
}

static int cmd_info(int argc, char **argv)
{
    const char *path = vimo_cli_pos(argc, argv, k_valued, 1);
    if (!path) {
        fprintf(stderr, "vimo motion: info needs FILE\n");
        return 2;
    }
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".npy") == 0) return info_npy(path);
    return info_bvh(path);
}

static int cmd_motion(int argc, char **argv)
{
    const char *sub = vimo_cli_pos(argc, argv, k_valued, 0);
    if (sub && strcmp(sub, "convert") == 0) return cmd_convert(argc, argv);
    if (sub && strcmp(sub, "info") == 0) return cmd_info(argc, argv);
    fprintf(stderr, "vimo motion: expected 'convert' or 'info' (see vimo help motion)\n");
    return 2;
}

VIMO_COMMAND(g_cmd_motion, "motion", "convert BVH motion to HumanML3D features; describe motion files",
             "usage:\n"
             "  vimo motion convert IN OUT [--joints] [--mirror] [--scale S] [--fps F] [--map NAME] [--skip N]\n"
             "  vimo motion convert --batch IN_DIR OUT_DIR [same options]\n"
             "  vimo motion info FILE\n"
             "\n"
             "convert: IN is .bvh or .bvh.gz (or a .npy of joints (T, 22, 3) at 20 fps); OUT is a\n"
             "  float32 .npy of HumanML3D features (T-1, 263), or with --joints the 22 SMPL joint\n"
             "  positions (T, 22, 3) in metres, Y up, at 20 fps.\n"
             "  --scale S   file units to metres (default: guessed; cm -> 0.01)\n"
             "  --fps F     output frame rate (default 20, HumanML3D's)\n"
             "  --map NAME  joint map: bandai-namco, cmu-cgspeed (default: detected by joint names)\n"
             "  --skip N    drop N leading frames (default: the map's; cmu-cgspeed drops 1)\n"
             "  --mirror    left/right mirror of the joints before the features (HumanML3D's\n"
             "              \"M\" clips; a left-hand wave becomes a right-hand wave)\n"
             "  --batch     convert every .bvh/.bvh.gz in IN_DIR to OUT_DIR/NAME.npy; reports the\n"
             "              count and each failure, exits 1 if any failed\n"
             "info: skeleton (built-in map that fits, joints), frames, fps, duration of a .bvh,\n"
             "  .bvh.gz or .npy file.\n"
             "See docs/motion.md.",
             cmd_motion)
