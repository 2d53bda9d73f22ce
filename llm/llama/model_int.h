/*
 * model_int.h - internals shared by the model loaders (model.c, model_hf.c).
 */
#ifndef VIMO_LLAMA_MODEL_INT_H
#define VIMO_LLAMA_MODEL_INT_H

#include <stdio.h>

#include "vimo/safetensors.h"
#include "vimo_llama.h"

struct vimo_llama_storage {
    void *map;              /* llama2.c file, read-only          */
    size_t map_len;
    vimo_safetensors **st;  /* (n_st) HF shards                  */
    int n_st;
    float **owned;          /* (n_owned) converted F16/BF16 data */
    int n_owned;
};

vimo_status llama_model_new(const char *path, vimo_llama_model **out);
vimo_status llama_add_tensor(vimo_llama_model *m, const char *name, int ndim, int64_t d0, int64_t d1,
                             const float *data);
/* An owned buffer of n floats, freed with the model; NULL when out of memory. */
float *llama_own(vimo_llama_model *m, size_t n);
const char *llama_base(const char *path);
/* Plausible sizes, then n_heads | dim (when dim_is_heads_x_head_dim),
 * n_kv_heads | n_heads, even head_dim. */
vimo_status llama_check_config(const char *file, const vimo_llama_config *c, int dim_is_heads_x_head_dim);
vimo_status llama_register_layers(vimo_llama_model *m);

#endif
