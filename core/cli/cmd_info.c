/*
 * cmd_info.c - `vimo info CHECKPOINT`: the step, configuration, metadata,
 * optimiser/RNG presence and a parameter table (name, shape, numel, mean,
 * std) of a vimo checkpoint, as text or --json. Statistics are computed in
 * double; std is the population standard deviation (divide by numel).
 * Does not modify or convert the file (see the safetensors export API).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "vimo/checkpoint.h"

typedef struct stats {
    char shape[96];
    int64_t numel;
    double mean, std;
} stats;

/* Two passes (mean, then squared deviations): stable for large tensors. */
static int tensor_stats(const vimo_ckpt *c, int i, stats *s)
{
    int64_t shape[VIMO_MAX_DIMS];
    int nd = vimo_ckpt_tensor_shape(c, i, shape);
    size_t u = (size_t)snprintf(s->shape, sizeof s->shape, "(");
    s->numel = 1;
    for (int d = 0; d < nd; d++) {
        u += (size_t)snprintf(s->shape + u, sizeof s->shape - u, d ? ", %lld" : "%lld", (long long)shape[d]);
        s->numel *= shape[d];
    }
    snprintf(s->shape + u, sizeof s->shape - u, nd == 1 ? ",)" : ")");
    float *x = malloc((size_t)s->numel * sizeof *x);
    if (!x || vimo_ckpt_read_f32(c, vimo_ckpt_tensor_name(c, i), x, s->numel) != VIMO_OK) {
        free(x);
        return 0;
    }
    double sum = 0, sq = 0;
    for (int64_t k = 0; k < s->numel; k++) sum += x[k];
    s->mean = sum / (double)s->numel;
    for (int64_t k = 0; k < s->numel; k++) sq += (x[k] - s->mean) * (x[k] - s->mean);
    s->std = sqrt(sq / (double)s->numel);
    free(x);
    return 1;
}

static int print_json(const vimo_ckpt *c)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "path", vimo_ckpt_path(c));
    cJSON_AddNumberToObject(root, "step", (double)vimo_ckpt_step(c));
    cJSON *cfg = cJSON_AddObjectToObject(root, "config");
    for (int i = 0; i < vimo_ckpt_config_count(c); i++)
        cJSON_AddStringToObject(cfg, vimo_ckpt_config_key(c, i), vimo_ckpt_config_value(c, i));
    cJSON *meta = cJSON_AddObjectToObject(root, "meta");
    for (int i = 0; i < vimo_ckpt_meta_count(c); i++)
        cJSON_AddStringToObject(meta, vimo_ckpt_meta_key(c, i), vimo_ckpt_meta_value(c, i));
    cJSON_AddBoolToObject(root, "adamw", vimo_ckpt_has_adamw(c));
    cJSON_AddBoolToObject(root, "rng", vimo_ckpt_has_rng(c));
    cJSON *ts = cJSON_AddArrayToObject(root, "tensors");
    for (int i = 0; i < vimo_ckpt_num_tensors(c); i++) {
        stats s;
        if (!tensor_stats(c, i, &s)) {
            cJSON_Delete(root);
            return 0;
        }
        int64_t shape[VIMO_MAX_DIMS];
        int nd = vimo_ckpt_tensor_shape(c, i, shape);
        cJSON *t = cJSON_CreateObject(), *sh = cJSON_AddArrayToObject(t, "shape");
        cJSON_AddStringToObject(t, "name", vimo_ckpt_tensor_name(c, i));
        for (int d = 0; d < nd; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)shape[d]));
        cJSON_AddNumberToObject(t, "numel", (double)s.numel);
        cJSON_AddNumberToObject(t, "mean", s.mean); /* cJSON writes NaN/inf as null */
        cJSON_AddNumberToObject(t, "std", s.std);
        cJSON_AddItemToArray(ts, t);
    }
    char *text = cJSON_Print(root);
    if (text) printf("%s\n", text);
    cJSON_free(text);
    cJSON_Delete(root);
    return text != NULL;
}

static int print_text(const vimo_ckpt *c)
{
    printf("checkpoint: %s\nformat:     %s version %d\nstep:       %lld\n", vimo_ckpt_path(c), VIMO_CKPT_MAGIC,
           VIMO_CKPT_VERSION, (long long)vimo_ckpt_step(c));
    printf("optimiser:  %s\nrng state:  %s\n", vimo_ckpt_has_adamw(c) ? "AdamW moments" : "none",
           vimo_ckpt_has_rng(c) ? "saved" : "none");
    printf("\nconfig (%d):\n", vimo_ckpt_config_count(c));
    for (int i = 0; i < vimo_ckpt_config_count(c); i++)
        printf("  %s = %s\n", vimo_ckpt_config_key(c, i), vimo_ckpt_config_value(c, i));
    if (vimo_ckpt_meta_count(c)) printf("\nmeta (%d):\n", vimo_ckpt_meta_count(c));
    for (int i = 0; i < vimo_ckpt_meta_count(c); i++)
        printf("  %s = %s\n", vimo_ckpt_meta_key(c, i), vimo_ckpt_meta_value(c, i));
    int64_t total = 0;
    printf("\nparameters (%d):\n  %-40s %-20s %12s %14s %14s\n", vimo_ckpt_num_tensors(c), "NAME", "SHAPE", "NUMEL",
           "MEAN", "STD");
    for (int i = 0; i < vimo_ckpt_num_tensors(c); i++) {
        stats s;
        if (!tensor_stats(c, i, &s)) return 0;
        printf("  %-40s %-20s %12lld %14.6g %14.6g\n", vimo_ckpt_tensor_name(c, i), s.shape, (long long)s.numel,
               s.mean, s.std);
        total += s.numel;
    }
    printf("  total %lld elements (%.2f MB of f32)\n", (long long)total, (double)total * 4 / 1e6);
    return 1;
}

static int cmd_info(int argc, char **argv)
{
    const char *path = vimo_cli_pos(argc, argv, NULL, 0);
    vimo_ckpt *c = NULL;
    if (!path) {
        fprintf(stderr, "vimo info: give a checkpoint file (see vimo help info)\n");
        return 2;
    }
    if (vimo_ckpt_open(&c, path) != VIMO_OK) {
        fprintf(stderr, "vimo info: %s\n", vimo_last_error());
        return 1;
    }
    int ok = vimo_cli_flag(argc, argv, "json") ? print_json(c) : print_text(c);
    if (!ok) fprintf(stderr, "vimo info: %s\n", vimo_last_error()[0] ? vimo_last_error() : "out of memory");
    vimo_ckpt_close(c);
    return ok ? 0 : 1;
}

VIMO_COMMAND(g_cmd_info, "info", "show a checkpoint's step, configuration and parameters",
             "usage: vimo info [--json] CHECKPOINT\n"
             "\n"
             "Validates a vimo checkpoint (MessagePack, see vimo/checkpoint.h) and prints\n"
             "its training step, resolved configuration, metadata, whether AdamW and RNG\n"
             "state are saved, and one line per parameter: name, shape, numel, mean and\n"
             "population standard deviation. A damaged file is refused with the byte\n"
             "offset of the bad object.\n"
             "\n"
             "  --json   machine-readable output",
             cmd_info)
