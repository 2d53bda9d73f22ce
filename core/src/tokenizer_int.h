/*
 * tokenizer_int.h - internals shared by core/src/tokenizer*.c (not installed).
 *
 * One struct for every kind: pieces and decoded bytes live in two arenas and
 * are addressed by id; a string->id hash map serves lookups; a pair->rank map
 * serves tokenizer.json merges; one BPE merge engine (tokenizer.c) is driven
 * by a per-kind "may these two symbols merge, with what priority" callback.
 */
#ifndef VIMO_TOKENIZER_INT_H
#define VIMO_TOKENIZER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "vimo/tokenizer.h"

#define TOK_MAX_FILE (512u << 20)  /* tokenizer files larger than this are refused */
#define TOK_MAX_VOCAB (4 << 20)    /* ids                                            */
#define TOK_MAX_PIECE 65536        /* bytes per piece                                */

/* Per-id flags. */
#define TOKF_PRESENT 1u   /* the id has a piece (tokenizer.json may leave holes) */
#define TOKF_SPECIAL 2u   /* special token (skipped by DECODE_SKIP_SPECIAL)      */
#define TOKF_LEADSPACE 4u /* decoded bytes start with a strippable space         */

/* Growable byte buffer. */
typedef struct tok_buf {
    char *p;
    size_t n, cap;
} tok_buf;

/* Growable int32 array. */
typedef struct tok_ids {
    int32_t *p;
    size_t n, cap;
} tok_ids;

/* Open-addressing map from piece bytes to id (the table holds ids). */
typedef struct tok_strmap {
    int32_t *slot; /* (cap), -1 = empty */
    size_t cap;
} tok_strmap;

/* Open-addressing map from an id pair to (rank, merged id). */
typedef struct tok_pairmap {
    uint64_t *key; /* (cap), UINT64_MAX = empty; (a << 32) | b */
    int32_t *rank, *merged;
    size_t cap;
} tok_pairmap;

/* A tokenizer.json added token. */
typedef struct tok_added {
    int32_t id;
    uint32_t off, len; /* content in the piece arena */
    uint8_t lstrip, rstrip, single_word;
} tok_added;

/* Pre-tokenizer steps of tokenizer.json (applied in order). */
typedef enum tok_pt_kind {
    PT_SPLIT_GPT2,   /* ByteLevel use_regex, or Split with the GPT-2 pattern */
    PT_SPLIT_QWEN2,  /* Split, Qwen2 pattern (\p{N} one at a time)           */
    PT_SPLIT_LLAMA3, /* Split, Llama-3 pattern (\p{N}{1,3})                  */
    PT_DIGITS,       /* Digits                                               */
    PT_PREFIX_SPACE, /* ByteLevel add_prefix_space                           */
    PT_METASPACE     /* Metaspace: ' ' -> replacement, prepend, split        */
} tok_pt_kind;

typedef struct tok_pt {
    tok_pt_kind kind;
    int arg;          /* DIGITS: individual; METASPACE: prepend (0 never, 1 first, 2 always) */
    int split;        /* METASPACE: split before each replacement            */
    char repl[8];     /* METASPACE replacement (UTF-8)                        */
} tok_pt;

/* Normalizer steps of tokenizer.json. */
typedef struct tok_norm {
    int kind; /* 0 = Prepend, 1 = Replace */
    char *a, *b; /* Prepend: a = text; Replace: a -> b */
} tok_norm;

struct vimo_tokenizer {
    vimo_tokenizer_kind kind;
    char *file;                  /* base name, for messages          */
    int32_t n;                   /* number of ids                    */
    tok_buf arena;               /* pieces                           */
    tok_buf darena;              /* decoded bytes                    */
    uint32_t *off, *len;         /* (n) piece of id                  */
    uint32_t *doff, *dlen;       /* (n) decoded bytes of id          */
    uint8_t *flags;              /* (n) TOKF_*                       */
    float *score;                /* (n) llama2.c merge scores        */
    tok_strmap vocab;
    tok_pairmap merges;
    int32_t bos, eos, unk;
    int32_t byte_id[256];        /* <0xXX> (SPM, llama2.c) or the byte-level char of a byte, -1 */
    int32_t max_token_length;    /* llama2.c header                  */
    /* tokenizer.json */
    tok_added *added;
    size_t n_added;
    tok_pt *pt;
    size_t n_pt;
    tok_norm *norm;
    size_t n_norm;
    int byte_fallback, fuse_unk, ignore_merges;
};

/* ---- tokenizer.c: shared machinery ---- */
int tok_buf_put(tok_buf *b, const void *p, size_t n);
int tok_ids_push(tok_ids *v, int32_t id);
vimo_status tok_alloc_ids(vimo_tokenizer *t, int32_t n);
/* Adds a piece for id (copied into the arena). Returns 0 on out of memory. */
int tok_set_piece(vimo_tokenizer *t, int32_t id, const char *p, size_t n);
int tok_set_decoded(vimo_tokenizer *t, int32_t id, const char *p, size_t n);
const char *tok_piece(const vimo_tokenizer *t, int32_t id, size_t *n);
int tok_strmap_build(vimo_tokenizer *t);
int32_t tok_strmap_get(const vimo_tokenizer *t, const char *p, size_t n);
int tok_pairmap_init(tok_pairmap *m, size_t n);
int tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t merged);
int tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *merged);
/* Merges ids[0..n) in place by BPE; returns the new count, or (size_t)-1 on
 * out of memory. llama2.c kind: by score over the vocab; else by merge rank. */
size_t tok_bpe(const vimo_tokenizer *t, int32_t *ids, size_t n);
/* "<0xHH>" -> 0..255, else -1. */
int tok_parse_byte_piece(const char *p, size_t n);
/* One UTF-8 code point at s[0..n): its length (1..4) and *cp, or 0 if invalid. */
size_t tok_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);
size_t tok_utf8_put(uint32_t cp, char *out);

/* ---- tokenizer_llama2c.c ---- */
vimo_status tok_load_llama2c(vimo_tokenizer *t, const unsigned char *data, size_t size);
vimo_status tok_encode_llama2c(const vimo_tokenizer *t, const char *text, size_t len, tok_ids *out);

/* ---- tokenizer_hf.c ---- */
vimo_status tok_load_hf(vimo_tokenizer *t, const char *path, const char *data, size_t size);
vimo_status tok_encode_hf(const vimo_tokenizer *t, const char *text, size_t len, tok_ids *out);

/* ---- tokenizer_split.c: regex-equivalent pre-tokenizer splits ---- */
typedef enum { CC_LETTER, CC_NUMBER, CC_SPACE, CC_OTHER } tok_cclass;
tok_cclass tok_cclass_of(uint32_t cp);
/* Length of the match of the pattern at s[i..n) (> 0 for i < n; s is valid
 * UTF-8). kind: PT_SPLIT_GPT2, PT_SPLIT_QWEN2 or PT_SPLIT_LLAMA3. */
size_t tok_split_match(tok_pt_kind kind, const unsigned char *s, size_t n, size_t i);

#endif
