/*
 * tokenizer_llama2c.c - llama2.c's tokenizer.bin: loading and encode().
 *
 * Format (llama2.c run.c build_tokenizer, little-endian): int32
 * max_token_length, then per entry float32 score, int32 len, len bytes (no
 * NUL). The file carries no count; entries run to its end. Ids 0, 1, 2 are
 * <unk>, BOS, EOS; ids 3..258 the byte-fallback pieces "<0x00>".."<0xFF>".
 *
 * Encode follows run.c encode() step for step (see vimo/tokenizer.h); the
 * merge loop is the shared O(n log n) engine, equivalent to run.c's rescan.
 * Deliberate differences, only for inputs run.c mishandles: a vocabulary
 * without a " " piece uses the byte token of ' ' as dummy prefix (run.c would
 * emit id -1); pieces are compared as byte strings (run.c uses C strings).
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_int.h"

static int32_t rd_i32(const unsigned char *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t s;
    memcpy(&s, &v, 4);
    return s;
}

/* Counts entries and checks every length against the file size. */
static vimo_status scan(const vimo_tokenizer *t, const unsigned char *d, size_t size, int32_t *count)
{
    size_t off = 4;
    int32_t n = 0;
    while (off < size) {
        if (size - off < 8)
            return vimo_error(VIMO_ERR_FORMAT,
                              "tokenizer: %s: offset %zu: entry %d truncated (%zu bytes left, its header needs 8)",
                              t->file, off, n, size - off);
        int32_t len = rd_i32(d + off + 4);
        if (len < 0 || len > TOK_MAX_PIECE || (size_t)len > size - off - 8)
            return vimo_error(VIMO_ERR_FORMAT,
                              "tokenizer: %s: offset %zu: entry %d length %d beyond the end of the file "
                              "(%zu bytes left)",
                              t->file, off + 4, n, len, size - off - 8);
        off += 8 + (size_t)len;
        if (++n > TOK_MAX_VOCAB)
            return vimo_error(VIMO_ERR_FORMAT, "tokenizer: %s: more than %d entries", t->file, TOK_MAX_VOCAB);
    }
    *count = n;
    return VIMO_OK;
}

vimo_status tok_load_llama2c(vimo_tokenizer *t, const unsigned char *d, size_t size)
{
    vimo_status st = VIMO_OK;
    int32_t n = 0;
    t->kind = VIMO_TOK_LLAMA2C;
    if (size < 4)
        return vimo_error(VIMO_ERR_FORMAT, "tokenizer: %s: offset 0: %zu bytes, shorter than the 4-byte header",
                          t->file, size);
    t->max_token_length = rd_i32(d);
    if (t->max_token_length < 0)
        return vimo_error(VIMO_ERR_FORMAT, "tokenizer: %s: offset 0: negative max_token_length %d", t->file,
                          t->max_token_length);
    VIMO_TRY(scan(t, d, size, &n));
    if (n < 259)
        return vimo_error(VIMO_ERR_FORMAT,
                          "tokenizer: %s: %d entries; llama2.c needs <unk>, BOS, EOS and the 256 byte pieces "
                          "(ids 0..258)",
                          t->file, n);
    VIMO_TRY(tok_alloc_ids(t, n));
    if (!(t->score = malloc((size_t)n * sizeof *t->score))) goto nomem;
    size_t off = 4;
    for (int32_t id = 0; id < n; id++) {
        size_t len = (size_t)rd_i32(d + off + 4);
        const char *p = (const char *)d + off + 8;
        memcpy(&t->score[id], d + off, 4);
        if (!tok_set_piece(t, id, p, len)) goto nomem;
        /* Decoded form (run.c decode): "<0xHH>" is the raw byte. */
        int byte = tok_parse_byte_piece(p, len);
        char b = (char)byte;
        if (!(byte >= 0 ? tok_set_decoded(t, id, &b, 1) : tok_set_decoded(t, id, p, len))) goto nomem;
        if (len && p[0] == ' ') t->flags[id] |= TOKF_LEADSPACE;
        if (id < 3) t->flags[id] |= TOKF_SPECIAL;
        off += 8 + len;
    }
    for (int b = 0; b < 256; b++) t->byte_id[b] = b + 3;
    t->bos = 1;
    t->eos = 2;
    t->unk = 0;
    return VIMO_OK;
nomem:
    return vimo_error(VIMO_ERR_NOMEM, "tokenizer: %s: out of memory", t->file);
fail:
    return st;
}

/* run.c's dummy prefix: the piece " " (looked up here because the string map
 * is built after loading). */
static int32_t space_id(const vimo_tokenizer *t)
{
    int32_t id = tok_strmap_get(t, " ", 1);
    return id >= 0 ? id : t->byte_id[' '];
}

vimo_status tok_encode_llama2c(const vimo_tokenizer *t, const char *text, size_t len, tok_ids *out)
{
    vimo_status st = VIMO_OK;
    const unsigned char *s = (const unsigned char *)text;
    /* run.c merges over the whole list, BOS included (no real piece starts with it). */
    if (len && !tok_ids_push(out, space_id(t))) goto nomem;
    /* One symbol per code point: run.c collects a byte and its continuation
     * bytes (at most 4 in all), looks the whole up, else falls back per byte. */
    for (size_t i = 0; i < len;) {
        size_t k = 1;
        while (i + k < len && (s[i + k] & 0xC0) == 0x80 && k < 4) k++;
        int32_t id = tok_strmap_get(t, text + i, k);
        if (id >= 0) {
            if (!tok_ids_push(out, id)) goto nomem;
        } else {
            for (size_t j = 0; j < k; j++)
                if (!tok_ids_push(out, t->byte_id[s[i + j]])) goto nomem;
        }
        i += k;
    }
    size_t m = tok_bpe(t, out->p, out->n);
    if (m == (size_t)-1) goto nomem;
    out->n = m;
    return VIMO_OK;
nomem:
    st = vimo_error(VIMO_ERR_NOMEM, "tokenizer: encode: out of memory");
    return st;
}
