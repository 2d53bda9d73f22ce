/*
 * vimo/tokenizer.h - BPE tokenizers of the language models vimo runs.
 *
 * Three kinds, one opaque handle:
 *  - VIMO_TOK_LLAMA2C: llama2.c's tokenizer.bin (format: int32
 *    max_token_length, then per entry float32 score, int32 len, len bytes; no
 *    count: entries run to the end of the file). Encoding follows llama2.c
 *    run.c encode(): optional BOS (id 1), a dummy-prefix " " token when the
 *    text is non-empty, one symbol per UTF-8 code point (looked up as a whole;
 *    when absent, one byte-fallback token per byte with id = byte + 3), then
 *    repeatedly merge the adjacent pair whose concatenation is in the vocab
 *    with the highest score (leftmost on ties); optional EOS (id 2).
 *  - VIMO_TOK_HF_BYTELEVEL: Hugging Face tokenizer.json, model "BPE", with a
 *    ByteLevel pre-tokenizer (GPT-2, Qwen2, SmolLM, Llama-3).
 *  - VIMO_TOK_HF_SPM: tokenizer.json, model "BPE" in SentencePiece style
 *    (Llama, TinyLlama, Mistral): "▁" for spaces (Prepend/Replace normalizers
 *    or a Metaspace pre-tokenizer), byte_fallback to "<0xXX>" tokens.
 *
 * tokenizer.json pipeline (Hugging Face tokenizers, docs "The tokenization
 * pipeline"): added_tokens are cut out of the raw text first (longest match;
 * lstrip/rstrip/single_word honoured); each remaining segment is normalized,
 * pre-tokenized, then BPE-merged word by word by merge rank (lowest first,
 * leftmost on ties), with ignore_merges honoured. The post_processor template
 * is NOT applied: callers ask for BOS/EOS explicitly.
 * Supported tokenizer.json pieces (anything else is VIMO_ERR_UNSUPPORTED,
 * naming the piece):
 *  - normalizers: null, Sequence, Prepend, Replace (String pattern), NFC/NFKC
 *    (accepted as identity: input is assumed already normalized);
 *  - pre-tokenizers: null, Sequence, ByteLevel (add_prefix_space, use_regex:
 *    the GPT-2 pattern), Split with behavior Isolated and one of the known
 *    patterns (GPT-2, Qwen2 "\p{N}", Llama-3 "\p{N}{1,3}"), Digits, Metaspace;
 *  - decoders are implied by the kind (ByteLevel, or Replace ▁ / ByteFallback
 *    / Strip one leading space after BOS).
 * Limits of the regex split (documented, deliberate): character classes are
 * exact for ASCII; for other code points \s is the Unicode White_Space list,
 * a small table marks Latin-1, General Punctuation, currency, arrows, maths,
 * box drawing, dingbats, CJK and full-width punctuation and emoji as
 * "neither letter nor number", Latin-1 ²³¹¼½¾ as numbers, and every other
 * non-ASCII code point counts as a letter (\p{L}). HF text must be valid
 * UTF-8 (VIMO_ERR_INVALID otherwise); llama2.c encodes arbitrary bytes.
 *
 * Decoding is per token given the previous token (as llama2.c run.c's
 * decode()): "<0xXX>" pieces become the raw byte; for the llama2.c and SPM
 * kinds "▁" is a space and a leading space is dropped right after BOS; for
 * byte-level the GPT-2 byte-to-unicode map is inverted. Added (special) tokens
 * decode to their content. VIMO_TOK_DECODE_SAFE applies run.c's safe_printf
 * rule: a piece that is a single byte which is neither printable nor space is
 * dropped.
 *
 * Ids are int32 in [0, vocab size). All functions are thread-safe on a const
 * tokenizer.
 */
#ifndef VIMO_TOKENIZER_H
#define VIMO_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "vimo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vimo_tokenizer vimo_tokenizer;

typedef enum vimo_tokenizer_kind {
    VIMO_TOK_LLAMA2C = 1,
    VIMO_TOK_HF_BYTELEVEL = 2,
    VIMO_TOK_HF_SPM = 3
} vimo_tokenizer_kind;

/* Decode flags. */
#define VIMO_TOK_DECODE_SAFE 1u         /* run.c safe_printf rule (see above)   */
#define VIMO_TOK_DECODE_SKIP_SPECIAL 2u /* special tokens decode to ""          */

/* Loads a tokenizer. `path` is a tokenizer.json, a llama2.c tokenizer.bin, or
 * a folder holding tokenizer.json. The kind is detected from the content (a
 * file whose first non-blank byte is '{' is JSON). For tokenizer.json, BOS and
 * EOS come from tokenizer_config.json beside it when present, else from the
 * post_processor template (BOS), else from the known names <s>, </s>,
 * <|begin_of_text|>, <|endoftext|>, <|end_of_text|>; -1 when none.
 * Files are capped at 512 MB, vocabularies at 4M entries, pieces at 64 KB.
 * Errors: VIMO_ERR_INVALID (NULL args), VIMO_ERR_NOT_FOUND, VIMO_ERR_IO,
 * VIMO_ERR_FORMAT ("tokenizer: tok.bin: offset 6210: entry 511 length 9
 * beyond the end of the file"; "tokenizer: tokenizer.json: offset 17: bad
 * JSON"), VIMO_ERR_UNSUPPORTED (a tokenizer.json feature listed as not
 * supported above), VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_tokenizer_load(const char *path, vimo_tokenizer **out);

/* Frees. NULL is a no-op. */
VIMO_API void vimo_tokenizer_free(vimo_tokenizer *t);

VIMO_API vimo_tokenizer_kind vimo_tokenizer_kind_of(const vimo_tokenizer *t);

/* Number of ids (base vocabulary plus added tokens beyond it). */
VIMO_API int32_t vimo_tokenizer_vocab_size(const vimo_tokenizer *t);

/* BOS / EOS ids, or -1 when the tokenizer has none. llama2.c: 1 and 2. */
VIMO_API int32_t vimo_tokenizer_bos(const vimo_tokenizer *t);
VIMO_API int32_t vimo_tokenizer_eos(const vimo_tokenizer *t);

/* Overrides BOS / EOS (e.g. from a model's config.json); -1 for none.
 * Errors: VIMO_ERR_INVALID when an id is out of range. */
VIMO_API vimo_status vimo_tokenizer_set_special(vimo_tokenizer *t, int32_t bos, int32_t eos);

/* The id of an exact piece string (vocab or added token), or -1. */
VIMO_API int32_t vimo_tokenizer_piece_to_id(const vimo_tokenizer *t, const char *piece, size_t len);

/* The stored piece of `id` (llama2.c: the raw bytes; tokenizer.json: the
 * vocab string, e.g. "Ġthe" or "▁the"), its length in *len. NULL when the
 * id is out of range. Valid until the tokenizer is freed. */
VIMO_API const char *vimo_tokenizer_id_to_piece(const vimo_tokenizer *t, int32_t id, size_t *len);

/* Encodes text[0..len) (bytes; need not be NUL-terminated). With `bos`/`eos`
 * non-zero, the BOS/EOS id is put first/last when the tokenizer has one.
 * Writes the ids to ids[0..cap) and the count to *n. Pass ids = NULL to only
 * count. The result never exceeds 6 * len + 8 ids.
 * Errors: VIMO_ERR_INVALID (NULL text with len > 0; cap < count when ids is
 * not NULL: *n still gets the count; invalid UTF-8 for a tokenizer.json
 * kind), VIMO_ERR_NOMEM. */
VIMO_API vimo_status vimo_tokenizer_encode(const vimo_tokenizer *t, const char *text, size_t len, int bos,
                                           int eos, int32_t *ids, size_t cap, size_t *n);

/* The bytes that token `id` prints as when it follows token `prev` (-1 for
 * none), with *len set; may contain any byte including NUL; "" for an id out
 * of range. `flags` is a mix of VIMO_TOK_DECODE_*. Valid until the tokenizer
 * is freed. */
VIMO_API const char *vimo_tokenizer_decode_piece(const vimo_tokenizer *t, int32_t prev, int32_t id,
                                                 unsigned flags, size_t *len);

/* Decodes ids[0..n) (ids[0] follows `prev`, -1 for none) into buf[0..cap),
 * NUL-terminated when room allows; *len gets the byte count needed (without
 * the NUL). Pass buf = NULL to only measure.
 * Errors: VIMO_ERR_INVALID (an id out of range; cap <= needed length when
 * buf is not NULL). */
VIMO_API vimo_status vimo_tokenizer_decode(const vimo_tokenizer *t, int32_t prev, const int32_t *ids, size_t n,
                                           unsigned flags, char *buf, size_t cap, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* VIMO_TOKENIZER_H */
