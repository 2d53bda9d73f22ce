/*
 * tokenizer_hf.c - Hugging Face tokenizer.json (model "BPE"): loading with
 * cJSON and the encode pipeline (added tokens -> normalizer -> pre-tokenizer
 * -> BPE per word). Two kinds: byte-level (a ByteLevel pre-tokenizer or
 * decoder anywhere: GPT-2, Qwen2, SmolLM, Llama-3) and SentencePiece-style
 * char-level BPE with "▁" and byte fallback (Llama, TinyLlama).
 *
 * Follows the tokenizers library's documented pipeline and component
 * semantics; the supported components and the limits of the regex split are
 * listed in vimo/tokenizer.h. Not here: Unicode normalization (NFC/NFKC are
 * accepted as identity), regex patterns other than the three known ones,
 * WordPiece/Unigram models, BPE dropout, the post_processor template.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_int.h"

#define SPM_SPACE "\xE2\x96\x81" /* U+2581 "▁" */

static const char *PAT_GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char *PAT_QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                               "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *PAT_LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                                "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* ---- GPT-2 byte <-> unicode map ------------------------------------------
 * Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
 * themselves; the other 68 bytes get U+0100.. in byte order. */

static int byte_is_self(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; }

static uint32_t bl_cp(int b)
{
    if (byte_is_self(b)) return (uint32_t)b;
    uint32_t k = 0;
    for (int c = 0; c < b; c++) k += !byte_is_self(c);
    return 256 + k;
}

/* The byte a code point stands for, or -1. */
static int bl_byte(uint32_t cp)
{
    if (cp < 256) return byte_is_self((int)cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    for (int b = 0, k = 0; b < 256; b++)
        if (!byte_is_self(b) && (uint32_t)(256 + k++) == cp) return b;
    return -1;
}

/* ---- small JSON helpers ---------------------------------------------------- */

static int jbool(const cJSON *o, const char *k, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jid(const cJSON *v, int32_t *id)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= TOK_MAX_VOCAB ||
        v->valuedouble != (double)(int32_t)v->valuedouble)
        return 0;
    *id = (int32_t)v->valuedouble;
    return 1;
}

static const char *type_of(const cJSON *o) { return o ? jstr(o, "type") : NULL; }

/* ---- vocab, added tokens, merges ------------------------------------------- */

static vimo_status load_vocab(vimo_tokenizer *t, const cJSON *vocab, const cJSON *added)
{
    int32_t max = -1, id;
    const cJSON *e;
    if (!cJSON_IsObject(vocab))
        return vimo_error(VIMO_ERR_FORMAT, "tokenizer: %s: model.vocab is missing or not an object", t->file);
    cJSON_ArrayForEach(e, vocab)
    {
        if (!jid(e, &id) || strlen(e->string) > TOK_MAX_PIECE)
            return vimo_error(VIMO_ERR_FORMAT, "tokenizer: %s: model.vocab['%.40s']: bad id or piece", t->file,
                              e->string);
        if (id > max) max = id;
    }
    cJSON_ArrayForEach(e, added)
    {
        const char *c = jstr(e, "content");
        if (!jid(cJSON_GetObjectItemCaseSensitive(e, "id"), &id) || !c || !c[0] || strlen(c) > TOK_MAX_PIECE)
            return vimo_error(VIMO_ERR_FORMAT, "tokenizer: %s: added_tokens: entry without id or content", t->file);
        if (id > max) max = id;
    }
    if (max < 0) return vimo_error(VIMO_ERR_FORMAT, "tokenizer: %s: empty vocabulary", t->file);
    /* Ids are dense in real files; a lone huge id must not cost a huge table. */
    size_t count = (size_t)cJSON_GetArraySize(vocab) + (size_t)cJSON_GetArraySize(added);
    if ((size_t)max >= 2 * count + 1024)
        return vimo_error(VIMO_ERR_FORMAT, "tokenizer: %s: id %d for %zu pieces: ids too sparse", t->file, max, count);
    vimo_status st = tok_alloc_ids(t, max + 1);
    if (st) return st;
    cJSON_ArrayForEach(e, vocab)
    {
        jid(e, &id);
        if (t->flags[id] & TOKF_PRESENT)
            return vimo_error(VIMO_ERR_FORMAT, "tokenizer: %s: model.vocab: id %d given to two pieces", t->file, id);
        if (!tok_set_piece(t, id, e->string, strlen(e->string))) goto nomem;
    }
    size_t k = 0;
    if ((t->added = calloc((size_t)cJSON_GetArraySize(added) + 1, sizeof *t->added)) == NULL) goto nomem;
    cJSON_ArrayForEach(e, added)
    {
        const char *c = jstr(e, "content");
        size_t n = strlen(c), m;
        jid(cJSON_GetObjectItemCaseSensitive(e, "id"), &id);
        /* An added token overrides the vocab piece of its id (HF: id_to_token). */
        if (!(t->flags[id] & TOKF_PRESENT) || (m = t->len[id]) != n || memcmp(tok_piece(t, id, &m), c, n) != 0)
            if (!tok_set_piece(t, id, c, n)) goto nomem;
        if (jbool(e, "special", 0)) t->flags[id] |= TOKF_SPECIAL;
        t->added[k++] = (tok_added){id, t->off[id], (uint32_t)n, (uint8_t)jbool(e, "lstrip", 0),
                                    (uint8_t)jbool(e, "rstrip", 0), (uint8_t)jbool(e, "single_word", 0)};
    }
    t->n_added = k;
    return VIMO_OK;
nomem:
    return vimo_error(VIMO_ERR_NOMEM, "tokenizer: %s: out of memory", t->file);
}

/* A merge "a b" (legacy string) or ["a", "b"]: split into its two pieces. */
static int merge_parts(const cJSON *m, const char **a, size_t *na, const char **b, size_t *nb)
{
    if (cJSON_IsString(m)) {
        const char *s = m->valuestring, *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' ')) return 0;
        *a = s, *na = (size_t)(sp - s), *b = sp + 1, *nb = strlen(sp + 1);
        return 1;
    }
    if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
        cJSON_IsString(m->child->next)) {
        *a = m->child->valuestring, *na = strlen(*a), *b = m->child->next->valuestring, *nb = strlen(*b);
        return 1;
    }
    return 0;
}

static vimo_status load_merges(vimo_tokenizer *t, const cJSON *merges)
{
    tok_buf cat = {0};
    vimo_status st = VIMO_OK;
    size_t n = (size_t)cJSON_GetArraySize(merges), rank = 0;
    if (merges && !cJSON_IsArray(merges))
        return vimo_error(VIMO_ERR_FORMAT, "tokenizer: %s: model.merges is not an array", t->file);
    if (!tok_pairmap_init(&t->merges, n)) return vimo_error(VIMO_ERR_NOMEM, "tokenizer: %s: out of memory", t->file);
    const cJSON *m;
    cJSON_ArrayForEach(m, merges)
    {
        const char *a, *b;
        size_t na, nb;
        if (!merge_parts(m, &a, &na, &b, &nb)) {
            st = vimo_error(VIMO_ERR_FORMAT, "tokenizer: %s: model.merges[%zu] is not \"a b\" or [a, b]", t->file,
                            rank);
            break;
        }
        cat.n = 0;
        if (!tok_buf_put(&cat, a, na) || !tok_buf_put(&cat, b, nb)) {
            st = vimo_error(VIMO_ERR_NOMEM, "tokenizer: %s: out of memory", t->file);
            break;
        }
        int32_t ia = tok_strmap_get(t, a, na), ib = tok_strmap_get(t, b, nb), im = tok_strmap_get(t, cat.p, cat.n);
        if (ia < 0 || ib < 0 || im < 0) {
            st = vimo_error(VIMO_ERR_FORMAT, "tokenizer: %s: model.merges[%zu] '%.*s' + '%.*s': piece not in vocab",
                            t->file, rank, (int)(na > 40 ? 40 : na), a, (int)(nb > 40 ? 40 : nb), b);
            break;
        }
        tok_pairmap_put(&t->merges, ia, ib, (int32_t)rank++, im);
    }
    free(cat.p);
    return st;
}

/* ---- normalizer and pre-tokenizer configuration ------------------------------ */

static vimo_status unsupported(const vimo_tokenizer *t, const char *what, const char *type)
{
    return vimo_error(VIMO_ERR_UNSUPPORTED, "tokenizer: %s: %s '%s' is not supported", t->file, what,
                      type ? type : "(no type)");
}

static vimo_status add_norm(vimo_tokenizer *t, int kind, const char *a, const char *b)
{
    tok_norm *q = realloc(t->norm, (t->n_norm + 1) * sizeof *q);
    if (!q) return vimo_error(VIMO_ERR_NOMEM, "tokenizer: out of memory");
    t->norm = q;
    tok_norm *n = &t->norm[t->n_norm++];
    n->kind = kind;
    n->a = strdup(a);
    n->b = b ? strdup(b) : NULL;
    if (!n->a || (b && !n->b)) return vimo_error(VIMO_ERR_NOMEM, "tokenizer: out of memory");
    return VIMO_OK;
}

static vimo_status parse_normalizer(vimo_tokenizer *t, const cJSON *n)
{
    if (!n || cJSON_IsNull(n)) return VIMO_OK;
    const char *ty = type_of(n);
    if (ty && strcmp(ty, "Sequence") == 0) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(n, "normalizers"))
        {
            vimo_status st = parse_normalizer(t, e);
            if (st) return st;
        }
        return VIMO_OK;
    }
    if (ty && (strcmp(ty, "NFC") == 0 || strcmp(ty, "NFKC") == 0)) return VIMO_OK; /* identity, documented */
    if (ty && strcmp(ty, "Prepend") == 0 && jstr(n, "prepend")) return add_norm(t, 0, jstr(n, "prepend"), NULL);
    if (ty && strcmp(ty, "Replace") == 0) {
        const char *from = jstr(cJSON_GetObjectItemCaseSensitive(n, "pattern"), "String"), *to = jstr(n, "content");
        if (from && from[0] && to) return add_norm(t, 1, from, to);
    }
    return unsupported(t, "normalizer", ty);
}

static vimo_status add_pt(vimo_tokenizer *t, tok_pt p)
{
    tok_pt *q = realloc(t->pt, (t->n_pt + 1) * sizeof *q);
    if (!q) return vimo_error(VIMO_ERR_NOMEM, "tokenizer: out of memory");
    t->pt = q;
    t->pt[t->n_pt++] = p;
    return VIMO_OK;
}

static vimo_status parse_metaspace(vimo_tokenizer *t, const cJSON *p)
{
    tok_pt m = {PT_METASPACE, 2, jbool(p, "split", 1), SPM_SPACE};
    const char *r = jstr(p, "replacement"), *scheme = jstr(p, "prepend_scheme");
    if (r) {
        if (strlen(r) >= sizeof m.repl || !r[0]) return unsupported(t, "Metaspace replacement", r);
        strcpy(m.repl, r);
    }
    if (scheme) m.arg = strcmp(scheme, "never") == 0 ? 0 : strcmp(scheme, "first") == 0 ? 1 : 2;
    else m.arg = jbool(p, "add_prefix_space", 1) ? 2 : 0;
    return add_pt(t, m);
}

static vimo_status parse_pretok(vimo_tokenizer *t, const cJSON *p, int *byte_level)
{
    if (!p || cJSON_IsNull(p)) return VIMO_OK;
    const char *ty = type_of(p);
    vimo_status st = VIMO_OK;
    if (!ty) return unsupported(t, "pre_tokenizer", ty);
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(p, "pretokenizers"))
        {
            if ((st = parse_pretok(t, e, byte_level))) return st;
        }
        return VIMO_OK;
    }
    if (strcmp(ty, "ByteLevel") == 0) {
        *byte_level = 1;
        if (jbool(p, "add_prefix_space", 0) && (st = add_pt(t, (tok_pt){PT_PREFIX_SPACE, 0, 0, ""}))) return st;
        return jbool(p, "use_regex", 1) ? add_pt(t, (tok_pt){PT_SPLIT_GPT2, 0, 0, ""}) : VIMO_OK;
    }
    if (strcmp(ty, "Split") == 0) {
        const char *re = jstr(cJSON_GetObjectItemCaseSensitive(p, "pattern"), "Regex");
        const char *beh = jstr(p, "behavior");
        if (!re || !beh || strcmp(beh, "Isolated") != 0 || jbool(p, "invert", 0))
            return unsupported(t, "Split pre-tokenizer (need a Regex, behavior Isolated, no invert)", re);
        tok_pt_kind k;
        if (strcmp(re, PAT_GPT2) == 0) k = PT_SPLIT_GPT2;
        else if (strcmp(re, PAT_QWEN2) == 0) k = PT_SPLIT_QWEN2;
        else if (strcmp(re, PAT_LLAMA3) == 0) k = PT_SPLIT_LLAMA3;
        else return unsupported(t, "Split regex", re);
        return add_pt(t, (tok_pt){k, 0, 0, ""});
    }
    if (strcmp(ty, "Digits") == 0) return add_pt(t, (tok_pt){PT_DIGITS, jbool(p, "individual_digits", 0), 0, ""});
    if (strcmp(ty, "Metaspace") == 0) return parse_metaspace(t, p);
    return unsupported(t, "pre_tokenizer", ty);
}

/* ---- decoded bytes per id ------------------------------------------------------ */

static vimo_status build_decoded(vimo_tokenizer *t)
{
    tok_buf b = {0};
    int ok = 1;
    for (int32_t id = 0; id < t->n && ok; id++) {
        size_t n, i = 0;
        const unsigned char *p = (const unsigned char *)tok_piece(t, id, &n);
        b.n = 0;
        int byte = t->byte_fallback ? tok_parse_byte_piece((const char *)p, n) : -1;
        if (byte >= 0) {
            char c = (char)byte;
            ok = tok_buf_put(&b, &c, 1);
        }
        while (byte < 0 && i < n && ok) {
            uint32_t cp = 0xFFFD;
            size_t l = tok_utf8_next(p + i, n - i, &cp);
            if (!l) l = 1;
            int bb = t->kind == VIMO_TOK_HF_BYTELEVEL ? bl_byte(cp) : -1;
            char c = (char)bb;
            if (bb >= 0) ok = tok_buf_put(&b, &c, 1);
            else if (t->kind == VIMO_TOK_HF_SPM && l == 3 && memcmp(p + i, SPM_SPACE, 3) == 0)
                ok = tok_buf_put(&b, " ", 1);
            else ok = tok_buf_put(&b, p + i, l);
            i += l;
        }
        if (ok) ok = tok_set_decoded(t, id, b.n ? b.p : "", b.n);
        if (t->kind == VIMO_TOK_HF_SPM && n >= 3 && memcmp(p, SPM_SPACE, 3) == 0) t->flags[id] |= TOKF_LEADSPACE;
    }
    free(b.p);
    return ok ? VIMO_OK : vimo_error(VIMO_ERR_NOMEM, "tokenizer: %s: out of memory", t->file);
}

/* ---- BOS / EOS ------------------------------------------------------------------ */

static int32_t id_of(const vimo_tokenizer *t, const char *s) { return s ? tok_strmap_get(t, s, strlen(s)) : -1; }

/* tokenizer_config.json value: "<s>", {"content": "<s>"}, null (none) or absent. */
static int config_token(const vimo_tokenizer *t, const cJSON *cfg, const char *key, int32_t *id)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v) return 0;
    if (cJSON_IsNull(v)) *id = -1;
    else if (cJSON_IsString(v)) *id = id_of(t, v->valuestring);
    else *id = id_of(t, jstr(v, "content"));
    return 1;
}

static const cJSON *find_template(const cJSON *pp)
{
    const char *ty = type_of(pp);
    if (ty && strcmp(ty, "TemplateProcessing") == 0) return pp;
    const cJSON *e, *found;
    if (ty && strcmp(ty, "Sequence") == 0)
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(pp, "processors"))
        {
            if ((found = find_template(e))) return found;
        }
    return NULL;
}

static void pick_special(vimo_tokenizer *t, const char *path, const cJSON *root)
{
    int have_bos = 0, have_eos = 0;
    char *cfgpath = malloc(strlen(path) + 32);
    if (cfgpath) { /* tokenizer_config.json beside tokenizer.json */
        strcpy(cfgpath, path);
        char *slash = strrchr(cfgpath, '/');
        strcpy(slash ? slash + 1 : cfgpath, "tokenizer_config.json");
        FILE *f = fopen(cfgpath, "rb");
        char *txt = NULL;
        long sz = 0;
        if (f && fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) > 0 && sz < (16l << 20) && fseek(f, 0, SEEK_SET) == 0 &&
            (txt = malloc((size_t)sz)) && fread(txt, 1, (size_t)sz, f) == (size_t)sz) {
            cJSON *cfg = cJSON_ParseWithLength(txt, (size_t)sz);
            have_bos = config_token(t, cfg, "bos_token", &t->bos);
            have_eos = config_token(t, cfg, "eos_token", &t->eos);
            cJSON_Delete(cfg);
        }
        free(txt);
        if (f) fclose(f);
        free(cfgpath);
    }
    const cJSON *tpl = find_template(cJSON_GetObjectItemCaseSensitive(root, "post_processor"));
    const cJSON *first = tpl ? cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(tpl, "single"), 0) : NULL;
    const cJSON *sp = first ? cJSON_GetObjectItemCaseSensitive(first, "SpecialToken") : NULL;
    if (!have_bos && sp) have_bos = (t->bos = id_of(t, jstr(sp, "id"))) >= 0;
    static const char *bos_names[] = {"<s>", "<|begin_of_text|>", "<|startoftext|>"};
    static const char *eos_names[] = {"</s>", "<|endoftext|>", "<|end_of_text|>"};
    for (size_t i = 0; i < 3 && !have_bos; i++) have_bos = (t->bos = id_of(t, bos_names[i])) >= 0;
    for (size_t i = 0; i < 3 && !have_eos; i++) have_eos = (t->eos = id_of(t, eos_names[i])) >= 0;
}

/* ---- load ----------------------------------------------------------------------- */

static vimo_status check_model(const vimo_tokenizer *t, const cJSON *model)
{
    const char *ty = type_of(model);
    if (!cJSON_IsObject(model)) return vimo_error(VIMO_ERR_FORMAT, "tokenizer: %s: no \"model\" object", t->file);
    if (ty && strcmp(ty, "BPE") != 0) return unsupported(t, "model type", ty);
    const char *cs = jstr(model, "continuing_subword_prefix"), *ew = jstr(model, "end_of_word_suffix");
    if ((cs && cs[0]) || (ew && ew[0])) return unsupported(t, "BPE subword prefix/suffix", cs ? cs : ew);
    const cJSON *dr = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (cJSON_IsNumber(dr) && dr->valuedouble > 0) return unsupported(t, "BPE option", "dropout");
    return VIMO_OK;
}

static int has_type(const cJSON *o, const char *type, const char *list_key)
{
    const char *ty = type_of(o);
    if (!ty) return 0;
    if (strcmp(ty, type) == 0) return 1;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, list_key))
    {
        if (has_type(e, type, list_key)) return 1;
    }
    return 0;
}

vimo_status tok_load_hf(vimo_tokenizer *t, const char *path, const char *data, size_t size)
{
    vimo_status st = VIMO_OK;
    const char *end = NULL;
    int byte_level = 0;
    cJSON *root = cJSON_ParseWithLengthOpts(data, size, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        st = vimo_error(VIMO_ERR_FORMAT, "tokenizer: %s: offset %zu: bad JSON", t->file,
                        (size_t)(end && end >= data ? end - data : 0));
        goto fail;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    VIMO_TRY(check_model(t, model));
    VIMO_TRY(load_vocab(t, cJSON_GetObjectItemCaseSensitive(model, "vocab"), added));
    VIMO_TRY(parse_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer")));
    VIMO_TRY(parse_pretok(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), &byte_level));
    byte_level |= has_type(cJSON_GetObjectItemCaseSensitive(root, "decoder"), "ByteLevel", "decoders");
    t->kind = byte_level ? VIMO_TOK_HF_BYTELEVEL : VIMO_TOK_HF_SPM;
    t->byte_fallback = jbool(model, "byte_fallback", 0);
    t->fuse_unk = jbool(model, "fuse_unk", 0);
    t->ignore_merges = jbool(model, "ignore_merges", 0);
    if (!tok_strmap_build(t)) {
        st = vimo_error(VIMO_ERR_NOMEM, "tokenizer: %s: out of memory", t->file);
        goto fail;
    }
    VIMO_TRY(load_merges(t, cJSON_GetObjectItemCaseSensitive(model, "merges")));
    t->unk = id_of(t, jstr(model, "unk_token"));
    for (int b = 0; b < 256; b++) {
        char s[8];
        size_t n = byte_level ? tok_utf8_put(bl_cp(b), s) : (size_t)snprintf(s, sizeof s, "<0x%02X>", b);
        t->byte_id[b] = byte_level || t->byte_fallback ? tok_strmap_get(t, s, n) : -1;
    }
    VIMO_TRY(build_decoded(t));
    pick_special(t, path, root);
fail:
    cJSON_Delete(root);
    return st;
}

/* ---- encode --------------------------------------------------------------------- */

/* Pieces of text being pre-tokenized: byte ranges of one buffer. */
typedef struct span {
    size_t off, len;
    int first; /* starts at offset 0 of the input (Metaspace "first") */
} span;

typedef struct spans {
    tok_buf text;
    span *s;
    size_t n, cap;
} spans;

static int spans_add(spans *v, const char *p, size_t n, int first)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 16;
        span *q = realloc(v->s, cap * sizeof *q);
        if (!q) return 0;
        v->s = q;
        v->cap = cap;
    }
    v->s[v->n++] = (span){v->text.n, n, first};
    return tok_buf_put(&v->text, p, n);
}

static void spans_free(spans *v)
{
    free(v->text.p);
    free(v->s);
}

/* Appends piece text with every occurrence of `from` replaced by `to`. */
static int put_replaced(tok_buf *b, const char *p, size_t n, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    for (size_t i = 0; i < n;) {
        if (i + fl <= n && memcmp(p + i, from, fl) == 0) {
            if (!tok_buf_put(b, to, tl)) return 0;
            i += fl;
        } else {
            if (!tok_buf_put(b, p + i, 1)) return 0;
            i++;
        }
    }
    return 1;
}

static int normalize(const vimo_tokenizer *t, const char *s, size_t n, tok_buf *out)
{
    if (!tok_buf_put(out, s, n)) return 0;
    for (size_t k = 0; k < t->n_norm; k++) {
        const tok_norm *nm = &t->norm[k];
        tok_buf next = {0};
        int ok;
        if (nm->kind == 0) { /* Prepend: only to non-empty text */
            if (!out->n) continue;
            ok = tok_buf_put(&next, nm->a, strlen(nm->a)) && tok_buf_put(&next, out->p, out->n);
        } else {
            ok = put_replaced(&next, out->p, out->n, nm->a, nm->b);
        }
        free(out->p);
        *out = next;
        if (!ok) return 0;
    }
    return 1;
}

static int digit_at(const unsigned char *u, size_t n, size_t i, size_t *l)
{
    uint32_t cp = 0;
    *l = tok_utf8_next(u + i, n - i, &cp);
    if (!*l) *l = 1;
    return tok_cclass_of(cp) == CC_NUMBER;
}

/* Applies one pre-tokenizer step to every span of `in`, into `out`. */
static int pretok_step(const tok_pt *pt, const spans *in, spans *out)
{
    for (size_t k = 0; k < in->n; k++) {
        const char *p = in->text.p + in->s[k].off;
        const unsigned char *u = (const unsigned char *)p;
        size_t n = in->s[k].len;
        int first = in->s[k].first;
        switch (pt->kind) {
        case PT_PREFIX_SPACE: {
            tok_buf b = {0};
            int ok = (n && p[0] == ' ') || tok_buf_put(&b, " ", 1);
            ok = ok && tok_buf_put(&b, p, n) && spans_add(out, b.p, b.n, first);
            free(b.p);
            if (!ok) return 0;
            break;
        }
        case PT_SPLIT_GPT2:
        case PT_SPLIT_QWEN2:
        case PT_SPLIT_LLAMA3:
            for (size_t i = 0; i < n;) {
                size_t m = tok_split_match(pt->kind, u, n, i);
                if (!spans_add(out, p + i, m, first && i == 0)) return 0;
                i += m;
            }
            break;
        case PT_DIGITS: /* runs of digits and of non-digits; each digit alone if individual */
            for (size_t i = 0, l; i < n;) {
                int dig = digit_at(u, n, i, &l);
                size_t j = i + l;
                if (!(dig && pt->arg))
                    while (j < n && digit_at(u, n, j, &l) == dig) j += l;
                if (!spans_add(out, p + i, j - i, first && i == 0)) return 0;
                i = j;
            }
            break;
        case PT_METASPACE: {
            tok_buf b = {0};
            size_t rl = strlen(pt->repl);
            int pre = (pt->arg == 2 || (pt->arg == 1 && first)) && !(n >= rl && memcmp(p, pt->repl, rl) == 0);
            int ok = (!pre || tok_buf_put(&b, pt->repl, rl)) && put_replaced(&b, p, n, " ", pt->repl);
            for (size_t i = 0, start = 0; ok && i <= b.n; i++) { /* split before each replacement */
                int cut = i == b.n || (pt->split && i > start && i + rl <= b.n && memcmp(b.p + i, pt->repl, rl) == 0);
                if (!cut) continue;
                if (i > start) ok = spans_add(out, b.p + start, i - start, first && start == 0);
                start = i;
            }
            free(b.p);
            if (!ok) return 0;
            break;
        }
        }
    }
    return 1;
}

/* Initial symbols of a word, then BPE. */
static int encode_word(const vimo_tokenizer *t, const char *p, size_t n, tok_ids *out)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t first = out->n;
    tok_buf mapped = {0};
    if (t->kind == VIMO_TOK_HF_BYTELEVEL) {
        for (size_t i = 0; i < n; i++) {
            char c[4];
            if (!tok_buf_put(&mapped, c, tok_utf8_put(bl_cp(u[i]), c))) goto nomem;
        }
        p = mapped.p;
        n = mapped.n;
        u = (const unsigned char *)p;
    }
    int32_t whole = t->ignore_merges ? tok_strmap_get(t, p, n) : -1;
    if (whole >= 0) {
        free(mapped.p);
        return tok_ids_push(out, whole);
    }
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = tok_utf8_next(u + i, n - i, &cp);
        if (!l) l = 1;
        int32_t id = tok_strmap_get(t, p + i, l);
        if (id >= 0) {
            if (!tok_ids_push(out, id)) goto nomem;
        } else {
            int all = t->byte_fallback;
            for (size_t j = 0; j < l && all; j++) all = t->byte_id[u[i + j]] >= 0;
            for (size_t j = 0; j < l && all; j++)
                if (!tok_ids_push(out, t->byte_id[u[i + j]])) goto nomem;
            /* unknown: unk (fused with a preceding unk when fuse_unk), or dropped as HF does without unk */
            if (!all && t->unk >= 0 && !(t->fuse_unk && out->n > first && out->p[out->n - 1] == t->unk))
                if (!tok_ids_push(out, t->unk)) goto nomem;
        }
        i += l;
    }
    free(mapped.p);
    size_t m = tok_bpe(t, out->p + first, out->n - first);
    if (m == (size_t)-1) return 0;
    out->n = first + m;
    return 1;
nomem:
    free(mapped.p);
    return 0;
}

static int encode_segment(const vimo_tokenizer *t, const char *s, size_t n, int first, tok_ids *out)
{
    spans cur = {0};
    tok_buf norm = {0};
    int ok = normalize(t, s, n, &norm) && spans_add(&cur, norm.p, norm.n, first);
    free(norm.p);
    for (size_t k = 0; k < t->n_pt && ok; k++) {
        spans next = {0};
        ok = pretok_step(&t->pt[k], &cur, &next);
        spans_free(&cur);
        cur = next;
    }
    for (size_t k = 0; k < cur.n && ok; k++)
        if (cur.s[k].len) ok = encode_word(t, cur.text.p + cur.s[k].off, cur.s[k].len, out);
    spans_free(&cur);
    return ok;
}

static int is_word_char(const unsigned char *s, size_t n, size_t i)
{
    uint32_t cp;
    size_t l = tok_utf8_next(s + i, n - i, &cp);
    tok_cclass c = l ? tok_cclass_of(cp) : CC_OTHER;
    return c == CC_LETTER || c == CC_NUMBER || s[i] == '_';
}

static int is_ws(unsigned char c) { return c == ' ' || (c >= 0x09 && c <= 0x0D); }

/* Longest added token at s[i], honouring single_word; -1 if none. */
static long match_added(const vimo_tokenizer *t, const unsigned char *s, size_t n, size_t i, size_t *len)
{
    long best = -1;
    *len = 0;
    for (size_t k = 0; k < t->n_added; k++) {
        const tok_added *a = &t->added[k];
        if (a->len <= *len || a->len > n - i || memcmp(s + i, t->arena.p + a->off, a->len) != 0) continue;
        if (a->single_word &&
            ((i > 0 && is_word_char(s, n, i - 1)) || (i + a->len < n && is_word_char(s, n, i + a->len))))
            continue;
        best = (long)k;
        *len = a->len;
    }
    return best;
}

vimo_status tok_encode_hf(const vimo_tokenizer *t, const char *text, size_t len, tok_ids *out)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t l = tok_utf8_next(s + i, len - i, &cp);
        if (!l) return vimo_error(VIMO_ERR_INVALID, "tokenizer: encode: text is not valid UTF-8 at byte %zu", i);
        i += l;
    }
    size_t seg = 0; /* start of the pending plain-text segment */
    for (size_t i = 0; i <= len;) {
        size_t mlen = 0;
        long k = i < len ? match_added(t, s, len, i, &mlen) : -1;
        if (k < 0 && i < len) {
            i++;
            continue;
        }
        size_t seg_end = i, next = i + mlen;
        if (k >= 0 && t->added[k].lstrip)
            while (seg_end > seg && is_ws(s[seg_end - 1])) seg_end--;
        if (k >= 0 && t->added[k].rstrip)
            while (next < len && is_ws(s[next])) next++;
        if (seg_end > seg && !encode_segment(t, text + seg, seg_end - seg, seg == 0, out)) goto nomem;
        if (k >= 0 && !tok_ids_push(out, t->added[k].id)) goto nomem;
        if (i == len) break;
        seg = i = next;
    }
    return VIMO_OK;
nomem:
    return vimo_error(VIMO_ERR_NOMEM, "tokenizer: encode: out of memory");
}
