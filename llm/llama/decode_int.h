/*
 * decode_int.h - internals shared by decode.c, sample.c and generate.c.
 */
#ifndef VIMO_LLAMA_DECODE_INT_H
#define VIMO_LLAMA_DECODE_INT_H

#include "vimo_llama.h"

/* run.c softmax(): x[0..n) in place (max, expf, sequential sum, divide). */
void llama_softmax(float *x, int n);
int llama_decoder_threads(const vimo_llama_decoder *d);
const vimo_llama_model *llama_decoder_model(const vimo_llama_decoder *d);

#endif
