/*
 * decode_int.h - internals shared by decode.c, sample.c and generate.c.
 */
#ifndef VIMO_LLAMA_DECODE_INT_H
#define VIMO_LLAMA_DECODE_INT_H

#include "vimo_llama.h"

/* run.c softmax(): x[0..n) in place (max, expf, sequential sum, divide). */
void llama_softmax(float *x, int n);
/* expf.c: x[i] = expf(x[i]) for i < n, bit-identical to libm's expf (8 lanes
 * at a time where that is proven, libm otherwise); init chooses once. */
void llama_expf_init(void);
void llama_expf_n(float *x, int n);
int llama_expf_vectorised(void);
/* The algorithm of glibc's FMA-build expf, one value, valid where
 * llama_expf_main_path(x) (|x| < 88 roughly; else libm's special cases). */
float llama_expf_fused(float x);
int llama_expf_main_path(float x);
int llama_decoder_threads(const vimo_llama_decoder *d);
const vimo_llama_model *llama_decoder_model(const vimo_llama_decoder *d);

#endif
