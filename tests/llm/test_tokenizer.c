/*
 * test_tokenizer.c - vimo tokenizers against independent references:
 *  - llama2.c tok512.bin: expected ids worked out by hand from the vocabulary
 *    (ids and scores quoted in the comments);
 *  - llama2.c's 32k Llama-2 tokenizer.bin (../shared, skipped without it):
 *    the ids of llama2.c test.c, which come from Meta's SentencePiece;
 *  - the handcrafted tokenizer.json fixtures of tests/ref/make_llama_fixtures.py
 *    (byte-level with the Qwen2 and GPT-2 splits, SentencePiece-style with
 *    byte fallback): each expectation is derived by hand below;
 *  - malformed files: truncated / hostile .bin, bad JSON, unsupported pieces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vimo/tokenizer.h"

#define TOK512 LLM_WEIGHTS "/tok512.bin"
#define QWEN LLM_FIXTURES "/tiny_qwen2"
#define SPM LLM_FIXTURES "/tiny_llama"
#define GPT2 LLM_FIXTURES "/tok_gpt2.json"

static vimo_tokenizer *load(const char *path)
{
    vimo_tokenizer *t = NULL;
    vimo_status st = vimo_tokenizer_load(path, &t);
    if (st) fprintf(stderr, "load %s: %s\n", path, vimo_last_error());
    assert_int_equal(st, VIMO_OK);
    return t;
}

/* Encodes text (with BOS when bos) and compares with want[0..n). */
static void expect_ids(const vimo_tokenizer *t, const char *text, int bos, const int32_t *want, size_t n)
{
    int32_t got[256];
    size_t m = 0;
    assert_int_equal(vimo_tokenizer_encode(t, text, strlen(text), bos, 0, got, 256, &m), VIMO_OK);
    if (m != n || memcmp(got, want, n * sizeof *want) != 0) {
        fprintf(stderr, "'%s': got", text);
        for (size_t i = 0; i < m; i++) fprintf(stderr, " %d", got[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(m, n);
    assert_memory_equal(got, want, n * sizeof *want);
}
#define EXPECT(t, text, bos, ...)                                                                                \
    do {                                                                                                         \
        const int32_t w_[] = {__VA_ARGS__};                                                                      \
        expect_ids(t, text, bos, w_, sizeof w_ / sizeof w_[0]);                                                  \
    } while (0)

static void expect_decode(const vimo_tokenizer *t, int32_t prev, const int32_t *ids, size_t n, unsigned flags,
                          const char *want, size_t want_len)
{
    char buf[256];
    size_t len = 0;
    assert_int_equal(vimo_tokenizer_decode(t, prev, ids, n, flags, buf, sizeof buf, &len), VIMO_OK);
    assert_int_equal(len, want_len);
    assert_memory_equal(buf, want, want_len);
}

/* ---- llama2.c tok512 ---------------------------------------------------------- */

static void test_llama2c_tok512(void **state)
{
    (void)state;
    vimo_tokenizer *t = load(TOK512);
    assert_int_equal(vimo_tokenizer_kind_of(t), VIMO_TOK_LLAMA2C);
    assert_int_equal(vimo_tokenizer_vocab_size(t), 512);
    assert_int_equal(vimo_tokenizer_bos(t), 1);
    assert_int_equal(vimo_tokenizer_eos(t), 2);
    /* Empty text: BOS only, no dummy prefix (run.c adds " " only to non-empty text). */
    EXPECT(t, "", 1, 1);
    /* "the": dummy " "(410) t(413) h(415) e(411). Pairs in vocab: " t" 259 score -0,
     * "he" 260 score -1 ("th" is not a piece). " t" wins -> [259 h e]; then
     * " th" 308 (-49) vs "he" 260 (-1): "he" -> [259 260]; " the" 265 (-6) -> [265]. */
    EXPECT(t, "the", 1, 1, 265);
    /* "sat", merge priority: " "(410) s(419) a(412) t(413). " s" 262 (-3) beats
     * "at" 294 (-35) -> [262 a t]; now " sa" 296 (-37) vs "at" 294 (-35): the
     * better score wins although it is to the right -> [262 294]; " sat" is not a
     * piece. (Merging leftmost-first would have given " sa" "t".) */
    EXPECT(t, "sat", 1, 1, 262, 294);
    /* "ing": " "(410) i(417) n(416) g(428): only "in" 271 (-12) -> [410 271 g];
     * " in" 322 (-63) vs "ing" 299 (-40): "ing" -> [410 299]. */
    EXPECT(t, "ing", 0, 410, 299);
    /* Multi-byte UTF-8: "é" is the piece 485 (run.c looks up whole code points). */
    EXPECT(t, "é", 0, 410, 485);
    /* "ü" (C3 BC) is no piece: byte fallback, id = byte + 3: 0xC3+3 = 198,
     * 0xBC+3 = 191; no concatenation with them is a piece. */
    EXPECT(t, "ü", 0, 410, 198, 191);
    /* EOS on request. */
    int32_t ids[4];
    size_t n = 0;
    assert_int_equal(vimo_tokenizer_encode(t, "the", 3, 1, 1, ids, 4, &n), VIMO_OK);
    assert_int_equal(n, 3);
    assert_true(ids[0] == 1 && ids[1] == 265 && ids[2] == 2);
    /* Decoding (run.c decode + safe_printf): leading space dropped after BOS only. */
    const int32_t the[] = {265};
    expect_decode(t, 1, the, 1, 0, "the", 3);
    expect_decode(t, 410, the, 1, 0, " the", 4);
    const int32_t ue[] = {198, 191}; /* bytes C3 BC */
    expect_decode(t, -1, ue, 2, 0, "\xC3\xBC", 2);
    const int32_t nl[] = {13}; /* <0x0A> */
    expect_decode(t, -1, nl, 1, VIMO_TOK_DECODE_SAFE, "\n", 1);
    const int32_t ctl[] = {4}; /* <0x01>: not printable, dropped by the safe rule */
    expect_decode(t, -1, ctl, 1, VIMO_TOK_DECODE_SAFE, "", 0);
    expect_decode(t, -1, ctl, 1, 0, "\x01", 1);
    size_t len;
    assert_memory_equal(vimo_tokenizer_id_to_piece(t, 265, &len), " the", 4);
    assert_int_equal(len, 4);
    assert_int_equal(vimo_tokenizer_piece_to_id(t, " the", 4), 265);
    assert_null(vimo_tokenizer_id_to_piece(t, 512, &len));
    /* Count-only call and a buffer that is too small. */
    int32_t two[2];
    assert_int_equal(vimo_tokenizer_encode(t, "sat", 3, 1, 0, NULL, 0, &n), VIMO_OK);
    assert_int_equal(n, 3);
    assert_int_equal(vimo_tokenizer_encode(t, "sat", 3, 1, 0, two, 2, &n), VIMO_ERR_INVALID);
    assert_int_equal(n, 3);
    vimo_tokenizer_free(t);
}

/* llama2.c test.c test_prompt_encodings(): ids from Meta's SentencePiece. */
static void test_llama2c_32k(void **state)
{
    (void)state;
    const char *root = getenv("VIMO_SHARED_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/weights/llama2c_tokenizer32k/tokenizer.bin", root ? root : "");
    if (!root || access(path, R_OK) != 0) {
        skip();
        return;
    }
    vimo_tokenizer *t = load(path);
    EXPECT(t, "", 1, 1);
    EXPECT(t, "I believe the meaning of life is", 1, 1, 306, 4658, 278, 6593, 310, 2834, 338);
    EXPECT(t, "Simply put, the theory of relativity states that ", 1, 1, 3439, 17632, 1925, 29892, 278, 6368, 310,
           14215, 537, 5922, 393, 29871);
    EXPECT(t, "A brief message congratulating the team on the launch:\n\n        Hi everyone,\n\n        I just ", 1, 1,
           319, 11473, 2643, 378, 629, 271, 18099, 278, 3815, 373, 278, 6826, 29901, 13, 13, 4706, 6324, 14332, 29892,
           13, 13, 4706, 306, 925, 29871);
    EXPECT(t,
           "Translate English to French:\n\n        sea otter => loutre de mer\n        peppermint => menthe "
           "poivrée\n        plush girafe => girafe peluche\n        cheese =>",
           1, 1, 4103, 9632, 4223, 304, 5176, 29901, 13, 13, 4706, 7205, 4932, 357, 1149, 301, 449, 276, 316, 2778, 13,
           4706, 1236, 407, 837, 524, 1149, 6042, 354, 772, 440, 29878, 1318, 13, 4706, 715, 1878, 330, 3055, 1725,
           1149, 330, 3055, 1725, 4639, 28754, 13, 4706, 923, 968, 1149);
    vimo_tokenizer_free(t);
}

/* ---- malformed llama2.c files --------------------------------------------------- */

static char g_dir[] = "/tmp/vimo_tok_XXXXXX";

static const char *write_tmp(const char *name, const void *data, size_t n)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
    return path;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(*n);
    assert_int_equal(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

/* The number after "offset " in the last error message, or -1. */
static long error_offset(void)
{
    const char *o = strstr(vimo_last_error(), "offset ");
    return o ? strtol(o + 7, NULL, 10) : -1;
}

static void expect_load_error(const char *path, vimo_status want, const char *msg_part)
{
    vimo_tokenizer *t = NULL;
    vimo_status st = vimo_tokenizer_load(path, &t);
    if (st != want || !strstr(vimo_last_error(), msg_part))
        fprintf(stderr, "%s: status %d, '%s' (want %d, '%s')\n", path, st, vimo_last_error(), want, msg_part);
    assert_int_equal(st, want);
    assert_null(t);
    assert_non_null(strstr(vimo_last_error(), msg_part));
}

static void test_llama2c_malformed(void **state)
{
    (void)state;
    size_t n;
    unsigned char *d = slurp(TOK512, &n);
    /* Truncated anywhere inside an entry (and below the 259 required entries). */
    const size_t cuts[] = {0, 2, 4 + 5, 4 + 8 + 2, 100, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        const char *p = write_tmp("cut.bin", d, cuts[i]);
        expect_load_error(p, VIMO_ERR_FORMAT, "cut.bin");
    }
    /* Offsets are named: entry 0's header is bytes 4..11, its piece 12..16 ("<unk>"). */
    expect_load_error(write_tmp("cut.bin", d, 14), VIMO_ERR_FORMAT, "offset 8: entry 0 length 5 beyond the end");
    /* A hostile length (2^31 - 1) in entry 3. */
    unsigned char *h = malloc(n);
    memcpy(h, d, n);
    size_t off = 4;
    for (int e = 0; e < 3; e++) off += 8 + (size_t)(h[off + 4] | h[off + 5] << 8);
    h[off + 4] = 0xFF, h[off + 5] = 0xFF, h[off + 6] = 0xFF, h[off + 7] = 0x7F;
    expect_load_error(write_tmp("huge.bin", h, n), VIMO_ERR_FORMAT, "entry 3 length 2147483647");
    /* A negative length. */
    h[off + 7] = 0xFF;
    expect_load_error(write_tmp("neg.bin", h, n), VIMO_ERR_FORMAT, "entry 3 length -1");
    free(h);
    free(d);
    expect_load_error(LLM_FIXTURES "/no_such_file.bin", VIMO_ERR_NOT_FOUND, "no_such_file.bin");
}

/* ---- tokenizer.json: byte-level -------------------------------------------------- */
/* Vocabulary (make_llama_fixtures.py bytelevel_tokenizer): ids 0..255 are the
 * GPT-2 byte characters in byte order (' ' = 'Ġ' = 32, '\n' = 'Ċ' = 10,
 * ASCII letters their code); merges, rank r -> id 256 + r:
 *   0 Ġ t, 1 h e, 2 Ġt he, 3 i n, 4 Ġ c, 5 a t, 6 Ġc at, 7 e n, 8 t h,
 *   9 Ġ s, 10 Ġs at, 11 Ġ Ġ, 12 ' s, 13 1 2;
 * added special tokens 270 <|endoftext|>, 271 <|im_start|>, 272 <|im_end|>. */

static void test_hf_bytelevel_qwen2(void **state)
{
    (void)state;
    vimo_tokenizer *t = load(QWEN); /* a folder: its tokenizer.json */
    assert_int_equal(vimo_tokenizer_kind_of(t), VIMO_TOK_HF_BYTELEVEL);
    assert_int_equal(vimo_tokenizer_vocab_size(t), 273);
    /* tokenizer_config.json: bos_token null, eos_token <|endoftext|>. */
    assert_int_equal(vimo_tokenizer_bos(t), -1);
    assert_int_equal(vimo_tokenizer_eos(t), 270);
    /* "the cat sat" splits into "the", " cat", " sat".
     * "the": (t,h) rank 8, (h,e) rank 1 -> he; (t,he) is no merge -> [t he] = [116 257]
     *   (rank order, not position: "th" would win leftmost-first).
     * " cat": Ġ c a t: (Ġ,c) 4, (a,t) 5 -> Ġc; then at; (Ġc,at) 6 -> Ġcat 262.
     * " sat": Ġ s a t: (Ġ,s) 9, (a,t) 5 -> at first; (Ġ,s) -> Ġs; (Ġs,at) 10 -> 266. */
    EXPECT(t, "the cat sat", 0, 116, 257, 262, 266);
    /* With BOS requested but none defined, nothing is added. */
    EXPECT(t, "the cat sat", 1, 116, 257, 262, 266);
    /* "then": (t,h) 8, (h,e) 1, (e,n) 7 -> he takes the e from "en" -> [t he n]. */
    EXPECT(t, "then", 0, 116, 257, 110);
    /* Contractions are case-insensitive in the Qwen2 pattern: "It" then "'s" (268). */
    EXPECT(t, "It's", 0, 73, 116, 268);
    /* Digits one at a time (\p{N}): "a", " ", "1", "2", "3" - the 1 2 merge never
     * sees both digits. The space before a digit stands alone (\s+). */
    EXPECT(t, "a 123", 0, 97, 32, 49, 50, 51);
    /* "hi", "\n\n" (\s*[\r\n]+), "yo". */
    EXPECT(t, "hi\n\nyo", 0, 104, 105, 10, 10, 121, 111);
    /* Two spaces before a word: \s+(?!\S) keeps one space, " b" is a word. */
    EXPECT(t, "a  b", 0, 97, 32, 32, 98);
    /* Added tokens are cut out first; "user\nhi" -> "user", "\n", "hi". */
    EXPECT(t, "<|im_start|>user\nhi<|im_end|>", 0, 271, 117, 115, 101, 114, 10, 104, 105, 272);
    /* Multi-byte UTF-8: é = C3 A9, both bytes stand for themselves (Ã ©). */
    EXPECT(t, "é", 0, 195, 169);
    /* "(hello" is one pre-token: [^\r\n\p{L}\p{N}]?\p{L}+ (no merges apply). */
    EXPECT(t, "(he", 0, 40, 257);
    /* Decoding inverts the byte map; no space stripping for byte-level. */
    const int32_t ids[] = {258, 262, 195, 169, 10};
    expect_decode(t, -1, ids, 5, 0, " the cat\xC3\xA9\n", 11);
    const int32_t sp[] = {271, 104};
    expect_decode(t, -1, sp, 2, 0, "<|im_start|>h", 13);
    expect_decode(t, -1, sp, 2, VIMO_TOK_DECODE_SKIP_SPECIAL, "h", 1);
    size_t len;
    assert_memory_equal(vimo_tokenizer_id_to_piece(t, 258, &len), "\xC4\xA0the", 5); /* "Ġthe" */
    /* Invalid UTF-8 is refused. */
    size_t n;
    assert_int_equal(vimo_tokenizer_encode(t, "a\xC3(", 3, 0, 0, NULL, 0, &n), VIMO_ERR_INVALID);
    vimo_tokenizer_free(t);
}

static void test_hf_bytelevel_gpt2(void **state)
{
    (void)state;
    vimo_tokenizer *t = load(GPT2);
    /* GPT-2 pattern: " ?\p{N}+" keeps " 123" together: Ġ 1 2 3 -> (1,2) rank 13
     * -> Ġ 12 3 = [32 269 51]. */
    EXPECT(t, "a 123", 0, 97, 32, 269, 51);
    /* Case-sensitive contractions: "'S" is not one, so "'" and "S" split. */
    EXPECT(t, "It'S", 0, 73, 116, 39, 83);
    EXPECT(t, "It's", 0, 73, 116, 268);
    /* Trailing spaces at the end of text stay one pre-token (\s+(?!\S) to the end):
     * "  " -> Ġ Ġ -> rank 11 -> 267. */
    EXPECT(t, "a  ", 0, 97, 267);
    /* No tokenizer_config.json here: EOS is found by name, BOS is none. */
    assert_int_equal(vimo_tokenizer_eos(t), 270);
    assert_int_equal(vimo_tokenizer_bos(t), -1);
    vimo_tokenizer_free(t);
}

/* ---- tokenizer.json: SentencePiece style -------------------------------------------- */
/* Vocabulary (make_llama_fixtures.py spm_tokenizer): 0 <unk> 1 <s> 2 </s>,
 * byte pieces 3 <0x0A> 4 <0xC3> 5 <0xA9> 6 <0xE2> 7 <0x82> 8 <0xAC>, then
 * 9 ▁ 10 H 11 e 12 l 13 o 14 w 15 r 16 d 17 t 18 h 19 i 20 ! 21 a 22 n 23 s,
 * merges rank r -> id 24 + r: 0 l l, 1 ▁ w, 2 e ll, 3 H ell, 4 Hell o,
 * 5 ▁ Hello, 6 o r, 7 ▁w or, 8 l d, 9 ▁wor ld, 10 ▁ t, 11 h e, 12 ▁t he,
 * 13 t h, 14 h i, 15 ▁ hi. Normalizer: Prepend ▁, Replace ' ' -> ▁. */

static void test_hf_spm(void **state)
{
    (void)state;
    vimo_tokenizer *t = load(SPM "/tokenizer.json");
    assert_int_equal(vimo_tokenizer_kind_of(t), VIMO_TOK_HF_SPM);
    assert_int_equal(vimo_tokenizer_bos(t), 1); /* from the post_processor template */
    assert_int_equal(vimo_tokenizer_eos(t), 2); /* by name */
    /* "Hello world" -> "▁Hello▁world": ▁ H e l l o ▁ w o r l d.
     * rank 0 l l -> ll; 1 ▁ w; 2 e ll; 3 H ell; 4 Hell o; 5 ▁ Hello (29);
     * 6 o r; 7 ▁w or; 8 l d; 9 ▁wor ld (33). */
    EXPECT(t, "Hello world", 1, 1, 29, 33);
    /* "the" -> ▁ t h e: (▁,t) 10 first -> ▁t; (▁t,h) none, (h,e) 11 -> he;
     * (▁t,he) 12 -> ▁the (36). */
    EXPECT(t, "the", 0, 36);
    /* Byte fallback: é is no piece -> <0xC3> <0xA9>; "!" is a piece. */
    EXPECT(t, "é!", 0, 9, 4, 5, 20);
    /* € = E2 82 AC -> three byte pieces. */
    EXPECT(t, "€", 0, 9, 6, 7, 8);
    /* ß = C3 9F: <0x9F> is missing -> the whole character is <unk>. */
    EXPECT(t, "ß", 0, 9, 0);
    /* Special tokens inside text; each segment gets the ▁ prefix:
     * "hi" -> ▁ h i -> (h,i) 14 -> hi; (▁,hi) 15 -> ▁hi (39). */
    EXPECT(t, "hi</s>hi", 0, 39, 2, 39);
    /* Decoding: ▁ -> space, stripped right after BOS; bytes fused back. */
    const int32_t hw[] = {29, 33};
    expect_decode(t, 1, hw, 2, 0, "Hello world", 11);
    expect_decode(t, -1, hw, 2, 0, " Hello world", 12);
    const int32_t e[] = {4, 5};
    expect_decode(t, -1, e, 2, 0, "\xC3\xA9", 2);
    vimo_tokenizer_free(t);
}

/* ---- tokenizer.json components on tiny inline vocabularies ------------------------------ */

static vimo_tokenizer *load_json(const char *name, const char *json)
{
    return load(write_tmp(name, json, strlen(json)));
}

static void test_hf_components(void **state)
{
    (void)state;
    /* Metaspace (▁ = E2 96 81), split on: "ab b" -> "▁ab▁b" -> "▁ab" "▁b".
     * Merges 0 ▁ a, 1 a b, 2 ▁ b, 3 ▁a b: "▁ab": (▁,a) 0 -> ▁a; (▁a,b) 3 -> ▁ab (7);
     * "▁b": (▁,b) 2 -> ▁b (5). With prepend_scheme never, "ab" -> (a,b) 1 -> ab (6). */
    const char *ms = "{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\u2581\", "
                     "\"prepend_scheme\": \"%s\", \"split\": true}, \"model\": {\"type\": \"BPE\", \"vocab\": "
                     "{\"<unk>\": 0, \"\u2581\": 1, \"a\": 2, \"b\": 3, \"\u2581a\": 4, \"\u2581b\": 5, \"ab\": 6, "
                     "\"\u2581ab\": 7}, \"merges\": [\"\u2581 a\", \"a b\", \"\u2581 b\", \"\u2581a b\"]}}";
    char buf[1024];
    snprintf(buf, sizeof buf, ms, "always");
    vimo_tokenizer *t = load_json("ms1.json", buf);
    assert_int_equal(vimo_tokenizer_kind_of(t), VIMO_TOK_HF_SPM);
    EXPECT(t, "ab b", 0, 7, 5);
    vimo_tokenizer_free(t);
    snprintf(buf, sizeof buf, ms, "never");
    t = load_json("ms2.json", buf);
    EXPECT(t, "ab", 0, 6);
    vimo_tokenizer_free(t);

    /* Digits(individual) then ByteLevel: "a 12" -> "a " "1" "2" -> "a" " " "1" "2":
     * the merge 1 2 never sees both digits. Plain GPT-2 keeps " 12" and merges. */
    const char *dg = "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [%s{\"type\": \"ByteLevel\", "
                     "\"add_prefix_space\": false, \"use_regex\": true}]}, \"model\": {\"type\": \"BPE\", \"vocab\": "
                     "{\"a\": 0, \"\u0120\": 1, \"1\": 2, \"2\": 3, \"12\": 4}, \"merges\": [\"1 2\"]}}";
    snprintf(buf, sizeof buf, dg, "{\"type\": \"Digits\", \"individual_digits\": true}, ");
    t = load_json("dg1.json", buf);
    EXPECT(t, "a 12", 0, 0, 1, 2, 3);
    vimo_tokenizer_free(t);
    snprintf(buf, sizeof buf, dg, "");
    t = load_json("dg2.json", buf);
    EXPECT(t, "a 12", 0, 0, 1, 4);
    vimo_tokenizer_free(t);

    /* ignore_merges: a word that is a vocab piece is taken whole ("abc" = 4),
     * else merged (only "a b" exists: [ab c] = [3 2]). */
    const char *im = "{\"model\": {\"type\": \"BPE\", \"ignore_merges\": %s, \"vocab\": {\"a\": 0, \"b\": 1, "
                     "\"c\": 2, \"ab\": 3, \"abc\": 4}, \"merges\": [\"a b\"]}}";
    snprintf(buf, sizeof buf, im, "true");
    t = load_json("im1.json", buf);
    EXPECT(t, "abc", 0, 4);
    vimo_tokenizer_free(t);
    snprintf(buf, sizeof buf, im, "false");
    t = load_json("im2.json", buf);
    EXPECT(t, "abc", 0, 3, 2);
    vimo_tokenizer_free(t);

    /* Added token with lstrip / rstrip swallows the spaces around it:
     * "a <m> b" -> "a" <m> "b"; without: "a " <m> " b" -> a ' ' <m> ' ' b. */
    const char *ad = "{\"added_tokens\": [{\"id\": 4, \"content\": \"<m>\", \"lstrip\": %s, \"rstrip\": %s, "
                     "\"special\": true}], \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \" \": 2, "
                     "\"<\": 3}, \"merges\": []}}";
    snprintf(buf, sizeof buf, ad, "true", "true");
    t = load_json("ad1.json", buf);
    EXPECT(t, "a <m> b", 0, 0, 4, 1);
    vimo_tokenizer_free(t);
    snprintf(buf, sizeof buf, ad, "false", "false");
    t = load_json("ad2.json", buf);
    EXPECT(t, "a <m> b", 0, 0, 2, 4, 2, 1);
    /* without an unk token, characters missing from the vocab are dropped (as HF) */
    EXPECT(t, "axb", 0, 0, 1);
    vimo_tokenizer_free(t);
}

/* ---- malformed / unsupported tokenizer.json -------------------------------------------- */

static void test_hf_malformed(void **state)
{
    (void)state;
    const char *bad = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0,, }}}";
    /* The second comma is byte 43; the offset is where cJSON stopped. */
    expect_load_error(write_tmp("bad.json", bad, strlen(bad)), VIMO_ERR_FORMAT, "bad JSON");
    assert_non_null(strstr(vimo_last_error(), "bad.json: offset "));
    assert_in_range(error_offset(), 42, 45);
    const char *wp = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}";
    expect_load_error(write_tmp("wp.json", wp, strlen(wp)), VIMO_ERR_UNSUPPORTED, "WordPiece");
    const char *mg = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a c\"]}}";
    expect_load_error(write_tmp("mg.json", mg, strlen(mg)), VIMO_ERR_FORMAT, "merges[0] 'a' + 'c': piece not in vocab");
    const char *re = "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\w+\"}, \"behavior\": "
                     "\"Isolated\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}";
    expect_load_error(write_tmp("re.json", re, strlen(re)), VIMO_ERR_UNSUPPORTED, "Split regex '\\w+'");
    const char *id = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}";
    expect_load_error(write_tmp("id.json", id, strlen(id)), VIMO_ERR_FORMAT, "model.vocab['a']: bad id");
    const char *sp = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 4000000}, \"merges\": []}}";
    expect_load_error(write_tmp("sp.json", sp, strlen(sp)), VIMO_ERR_FORMAT, "id 4000000 for 1 pieces: ids too sparse");
    const char *nv = "{\"model\": {\"type\": \"BPE\"}}";
    expect_load_error(write_tmp("nv.json", nv, strlen(nv)), VIMO_ERR_FORMAT, "model.vocab is missing");
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    const char *names[] = {"cut.bin", "huge.bin", "neg.bin", "bad.json", "wp.json", "mg.json", "re.json", "id.json",
                           "nv.json", "sp.json", "ms1.json", "ms2.json", "dg1.json", "dg2.json", "im1.json", "im2.json",
                           "ad1.json", "ad2.json"};
    char p[600];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, names[i]);
        unlink(p);
    }
    return rmdir(g_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama2c_tok512),    cmocka_unit_test(test_llama2c_32k),
        cmocka_unit_test(test_llama2c_malformed), cmocka_unit_test(test_hf_bytelevel_qwen2),
        cmocka_unit_test(test_hf_bytelevel_gpt2), cmocka_unit_test(test_hf_spm),
        cmocka_unit_test(test_hf_components),     cmocka_unit_test(test_hf_malformed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
