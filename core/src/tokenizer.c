/*
 * tokenizer.c - the vimo_tokenizer handle: loading dispatch, the piece tables
 * and hash maps, the BPE merge engine shared by every kind, and decoding.
 * See vimo/tokenizer.h for the contract.
 *
 * Not here: the file formats (tokenizer_llama2c.c, tokenizer_hf.c) and the
 * pre-tokenizer splits (tokenizer_split.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tokenizer_int.h"

/* ---- small containers ---------------------------------------------------- */

int tok_buf_put(tok_buf *b, const void *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) return 0;
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 1;
}

int tok_ids_push(tok_ids *v, int32_t id)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        int32_t *q = realloc(v->p, cap * sizeof *q);
        if (!q) return 0;
        v->p = q;
        v->cap = cap;
    }
    v->p[v->n++] = id;
    return 1;
}

vimo_status tok_alloc_ids(vimo_tokenizer *t, int32_t n)
{
    t->n = n;
    t->off = calloc((size_t)n, sizeof *t->off);
    t->len = calloc((size_t)n, sizeof *t->len);
    t->doff = calloc((size_t)n, sizeof *t->doff);
    t->dlen = calloc((size_t)n, sizeof *t->dlen);
    t->flags = calloc((size_t)n, 1);
    if (!t->off || !t->len || !t->doff || !t->dlen || !t->flags)
        return vimo_error(VIMO_ERR_NOMEM, "tokenizer: %s: out of memory for %d ids", t->file, n);
    return VIMO_OK;
}

int tok_set_piece(vimo_tokenizer *t, int32_t id, const char *p, size_t n)
{
    t->off[id] = (uint32_t)t->arena.n;
    t->len[id] = (uint32_t)n;
    t->flags[id] |= TOKF_PRESENT;
    return tok_buf_put(&t->arena, p, n);
}

int tok_set_decoded(vimo_tokenizer *t, int32_t id, const char *p, size_t n)
{
    t->doff[id] = (uint32_t)t->darena.n;
    t->dlen[id] = (uint32_t)n;
    return tok_buf_put(&t->darena, p, n);
}

const char *tok_piece(const vimo_tokenizer *t, int32_t id, size_t *n)
{
    *n = t->len[id];
    return t->arena.p + t->off[id];
}

/* ---- maps ---------------------------------------------------------------- */

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

/* First id wins when two ids share a piece. */
int tok_strmap_build(vimo_tokenizer *t)
{
    size_t cap = 16;
    while (cap < 2 * (size_t)t->n) cap *= 2;
    free(t->vocab.slot);
    if (!(t->vocab.slot = malloc(cap * sizeof *t->vocab.slot))) return 0;
    t->vocab.cap = cap;
    memset(t->vocab.slot, 0xff, cap * sizeof *t->vocab.slot);
    for (int32_t id = 0; id < t->n; id++) {
        if (!(t->flags[id] & TOKF_PRESENT)) continue;
        size_t n;
        const char *p = tok_piece(t, id, &n);
        if (tok_strmap_get(t, p, n) >= 0) continue;
        size_t h = hash_bytes(p, n) & (cap - 1);
        while (t->vocab.slot[h] >= 0) h = (h + 1) & (cap - 1);
        t->vocab.slot[h] = id;
    }
    return 1;
}

int32_t tok_strmap_get(const vimo_tokenizer *t, const char *p, size_t n)
{
    if (!t->vocab.cap) return -1;
    size_t mask = t->vocab.cap - 1, h = hash_bytes(p, n) & mask;
    for (int32_t id; (id = t->vocab.slot[h]) >= 0; h = (h + 1) & mask) {
        size_t m;
        const char *q = tok_piece(t, id, &m);
        if (m == n && memcmp(p, q, n) == 0) return id;
    }
    return -1;
}

static size_t pair_hash(uint64_t k, size_t mask)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k & mask;
}

int tok_pairmap_init(tok_pairmap *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    m->key = malloc(cap * sizeof *m->key);
    m->rank = malloc(cap * sizeof *m->rank);
    m->merged = malloc(cap * sizeof *m->merged);
    if (!m->key || !m->rank || !m->merged) return 0;
    memset(m->key, 0xff, cap * sizeof *m->key);
    m->cap = cap;
    return 1;
}

/* Keeps the first (lowest) rank of a pair given twice. */
int tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t merged)
{
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t mask = m->cap - 1, h = pair_hash(k, mask);
    while (m->key[h] != UINT64_MAX) {
        if (m->key[h] == k) return 1;
        h = (h + 1) & mask;
    }
    m->key[h] = k;
    m->rank[h] = rank;
    m->merged[h] = merged;
    return 1;
}

int tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *merged)
{
    if (!m->cap) return 0;
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t mask = m->cap - 1;
    for (size_t h = pair_hash(k, mask); m->key[h] != UINT64_MAX; h = (h + 1) & mask)
        if (m->key[h] == k) {
            *rank = m->rank[h];
            *merged = m->merged[h];
            return 1;
        }
    return 0;
}

/* ---- BPE merge engine -----------------------------------------------------
 * Symbols form a linked list; candidate pairs sit in a min-heap ordered by
 * (priority, position of the left symbol). Popping the heap and skipping
 * stale entries gives exactly "merge the best pair, leftmost on ties, then
 * look again", i.e. llama2.c's O(n^2) loop and Hugging Face's BPE, in
 * O(n log n). */

typedef struct bpe_sym {
    int32_t id, prev, next;
} bpe_sym;

typedef struct bpe_cand {
    double key;
    int32_t left, right, lid, rid, merged;
} bpe_cand;

typedef struct bpe_heap {
    bpe_cand *c;
    size_t n, cap;
} bpe_heap;

static int cand_less(const bpe_cand *a, const bpe_cand *b)
{
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

static int heap_push(bpe_heap *h, bpe_cand c)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        bpe_cand *q = realloc(h->c, cap * sizeof *q);
        if (!q) return 0;
        h->c = q;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i && cand_less(&c, &h->c[(i - 1) / 2])) {
        h->c[i] = h->c[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->c[i] = c;
    return 1;
}

static bpe_cand heap_pop(bpe_heap *h)
{
    bpe_cand top = h->c[0], last = h->c[--h->n];
    size_t i = 0;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= h->n) break;
        if (k + 1 < h->n && cand_less(&h->c[k + 1], &h->c[k])) k++;
        if (!cand_less(&h->c[k], &last)) break;
        h->c[i] = h->c[k];
        i = k;
    }
    if (h->n) h->c[i] = last;
    return top;
}

/* May ids a, b merge? llama2.c: their concatenation is a vocab piece (scored
 * above run.c's starting best of -1e10); tokenizer.json: a listed merge. */
static int bpe_pair(const vimo_tokenizer *t, int32_t a, int32_t b, tok_buf *scratch, double *key, int32_t *merged)
{
    if (t->kind != VIMO_TOK_LLAMA2C) {
        int32_t rank;
        if (!tok_pairmap_get(&t->merges, a, b, &rank, merged)) return 0;
        *key = rank;
        return 1;
    }
    size_t na, nb;
    const char *pa = tok_piece(t, a, &na), *pb = tok_piece(t, b, &nb);
    scratch->n = 0;
    if (!tok_buf_put(scratch, pa, na) || !tok_buf_put(scratch, pb, nb)) return -1;
    int32_t id = tok_strmap_get(t, scratch->p, scratch->n);
    if (id < 0 || !(t->score[id] > -1e10f)) return 0;
    *key = -(double)t->score[id];
    *merged = id;
    return 1;
}

static int bpe_offer(const vimo_tokenizer *t, bpe_heap *h, const bpe_sym *s, int32_t l, int32_t r, tok_buf *scratch)
{
    if (l < 0 || r < 0) return 1;
    bpe_cand c = {0, l, r, s[l].id, s[r].id, 0};
    int ok = bpe_pair(t, c.lid, c.rid, scratch, &c.key, &c.merged);
    if (ok < 0) return 0;
    return ok ? heap_push(h, c) : 1;
}

size_t tok_bpe(const vimo_tokenizer *t, int32_t *ids, size_t n)
{
    if (n < 2) return n;
    bpe_sym *s = malloc(n * sizeof *s);
    bpe_heap h = {0};
    tok_buf scratch = {0};
    size_t out = (size_t)-1;
    if (!s) goto done;
    for (size_t i = 0; i < n; i++) s[i] = (bpe_sym){ids[i], (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1};
    for (size_t i = 0; i + 1 < n; i++)
        if (!bpe_offer(t, &h, s, (int32_t)i, (int32_t)i + 1, &scratch)) goto done;
    while (h.n) {
        bpe_cand c = heap_pop(&h);
        if (s[c.left].id != c.lid || s[c.left].next != c.right || s[c.right].id != c.rid) continue; /* stale */
        int32_t nx = s[c.right].next;
        s[c.left].id = c.merged;
        s[c.left].next = nx;
        if (nx >= 0) s[nx].prev = c.left;
        s[c.right].id = -1;
        if (!bpe_offer(t, &h, s, s[c.left].prev, c.left, &scratch) ||
            !bpe_offer(t, &h, s, c.left, nx, &scratch))
            goto done;
    }
    out = 0;
    for (int32_t i = 0; i >= 0; i = s[i].next) ids[out++] = s[i].id;
done:
    free(s);
    free(h.c);
    free(scratch.p);
    return out;
}

/* ---- UTF-8 and byte pieces ----------------------------------------------- */

size_t tok_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (!n) return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (!len || c > 0xF4 || len > n) return 0;
    uint32_t v = c & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0; /* overlong, surrogate */
    *cp = v;
    return len;
}

size_t tok_utf8_put(uint32_t cp, char *o)
{
    unsigned char *u = (unsigned char *)o;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (unsigned char)(0xF0 | (cp >> 18));
    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int tok_parse_byte_piece(const char *p, size_t n)
{
    if (n != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>') return -1;
    int hi = hexval(p[3]), lo = hexval(p[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* ---- loading ------------------------------------------------------------- */

static vimo_status read_file(const char *path, char **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return vimo_error(errno == ENOENT ? VIMO_ERR_NOT_FOUND : VIMO_ERR_IO, "tokenizer: %s: %s", path,
                          strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > TOK_MAX_FILE) {
        fclose(f);
        return vimo_error(VIMO_ERR_FORMAT, "tokenizer: %s: not a regular file or larger than %u MB", path,
                          TOK_MAX_FILE >> 20);
    }
    char *p = malloc((size_t)sb.st_size + 1);
    size_t n = p ? fread(p, 1, (size_t)sb.st_size, f) : 0;
    int bad = !p || ferror(f);
    fclose(f);
    if (bad) {
        free(p);
        return vimo_error(p ? VIMO_ERR_IO : VIMO_ERR_NOMEM, "tokenizer: %s: read failed", path);
    }
    p[n] = '\0';
    *data = p;
    *size = n;
    return VIMO_OK;
}

static int looks_like_json(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') continue;
        return p[i] == '{';
    }
    return 0;
}

vimo_status vimo_tokenizer_load(const char *path, vimo_tokenizer **out)
{
    vimo_status st = VIMO_OK;
    vimo_tokenizer *t = NULL;
    char *file = NULL, *data = NULL;
    size_t size = 0;
    struct stat sb;
    if (!path || !out) return vimo_error(VIMO_ERR_INVALID, "tokenizer: NULL argument");
    *out = NULL;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if (!(file = malloc(strlen(path) + 16))) return vimo_error(VIMO_ERR_NOMEM, "tokenizer: out of memory");
        sprintf(file, "%s/tokenizer.json", path);
    } else if (!(file = strdup(path))) {
        return vimo_error(VIMO_ERR_NOMEM, "tokenizer: out of memory");
    }
    VIMO_TRY(read_file(file, &data, &size));
    const char *slash = strrchr(file, '/');
    if (!(t = calloc(1, sizeof *t)) || !(t->file = strdup(slash ? slash + 1 : file))) {
        st = vimo_error(VIMO_ERR_NOMEM, "tokenizer: out of memory");
        goto fail;
    }
    t->bos = t->eos = t->unk = -1;
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    if (looks_like_json(data, size)) VIMO_TRY(tok_load_hf(t, file, data, size));
    else VIMO_TRY(tok_load_llama2c(t, (const unsigned char *)data, size));
    if (!t->vocab.cap && !tok_strmap_build(t)) {
        st = vimo_error(VIMO_ERR_NOMEM, "tokenizer: %s: out of memory", t->file);
        goto fail;
    }
    free(data);
    free(file);
    *out = t;
    return VIMO_OK;
fail:
    free(data);
    free(file);
    vimo_tokenizer_free(t);
    return st;
}

void vimo_tokenizer_free(vimo_tokenizer *t)
{
    if (!t) return;
    free(t->file);
    free(t->arena.p);
    free(t->darena.p);
    free(t->off);
    free(t->len);
    free(t->doff);
    free(t->dlen);
    free(t->flags);
    free(t->score);
    free(t->vocab.slot);
    free(t->merges.key);
    free(t->merges.rank);
    free(t->merges.merged);
    free(t->added);
    free(t->pt);
    for (size_t i = 0; i < t->n_norm; i++) {
        free(t->norm[i].a);
        free(t->norm[i].b);
    }
    free(t->norm);
    free(t);
}

/* ---- queries ------------------------------------------------------------- */

vimo_tokenizer_kind vimo_tokenizer_kind_of(const vimo_tokenizer *t) { return t->kind; }
int32_t vimo_tokenizer_vocab_size(const vimo_tokenizer *t) { return t ? t->n : 0; }
int32_t vimo_tokenizer_bos(const vimo_tokenizer *t) { return t ? t->bos : -1; }
int32_t vimo_tokenizer_eos(const vimo_tokenizer *t) { return t ? t->eos : -1; }

vimo_status vimo_tokenizer_set_special(vimo_tokenizer *t, int32_t bos, int32_t eos)
{
    if (!t || bos < -1 || bos >= t->n || eos < -1 || eos >= t->n)
        return vimo_error(VIMO_ERR_INVALID, "tokenizer: special ids %d, %d outside [-1, %d)", bos, eos,
                          t ? t->n : 0);
    t->bos = bos;
    t->eos = eos;
    return VIMO_OK;
}

int32_t vimo_tokenizer_piece_to_id(const vimo_tokenizer *t, const char *piece, size_t len)
{
    return t && piece ? tok_strmap_get(t, piece, len) : -1;
}

const char *vimo_tokenizer_id_to_piece(const vimo_tokenizer *t, int32_t id, size_t *len)
{
    size_t n = 0;
    const char *p = NULL;
    if (t && id >= 0 && id < t->n && (t->flags[id] & TOKF_PRESENT)) p = tok_piece(t, id, &n);
    if (len) *len = n;
    return p;
}

/* ---- encode / decode ----------------------------------------------------- */

vimo_status vimo_tokenizer_encode(const vimo_tokenizer *t, const char *text, size_t len, int bos, int eos,
                                  int32_t *ids, size_t cap, size_t *n)
{
    vimo_status st = VIMO_OK;
    tok_ids v = {0};
    if (!t || !n || (!text && len)) return vimo_error(VIMO_ERR_INVALID, "tokenizer: encode: NULL argument");
    if (bos && t->bos >= 0 && !tok_ids_push(&v, t->bos)) goto nomem;
    if (t->kind == VIMO_TOK_LLAMA2C) VIMO_TRY(tok_encode_llama2c(t, text, len, &v));
    else VIMO_TRY(tok_encode_hf(t, text, len, &v));
    if (eos && t->eos >= 0 && !tok_ids_push(&v, t->eos)) goto nomem;
    *n = v.n;
    if (ids && cap < v.n) {
        st = vimo_error(VIMO_ERR_INVALID, "tokenizer: encode: %zu ids do not fit in %zu", v.n, cap);
        goto fail;
    }
    if (ids && v.n) memcpy(ids, v.p, v.n * sizeof *ids);
    free(v.p);
    return VIMO_OK;
nomem:
    st = vimo_error(VIMO_ERR_NOMEM, "tokenizer: encode: out of memory");
fail:
    free(v.p);
    return st;
}

/* C-locale isprint() || isspace(), as run.c's safe_printf sees bytes. */
static int printable_or_space(unsigned char c) { return (c >= 0x20 && c < 0x7F) || (c >= 0x09 && c <= 0x0D); }

const char *vimo_tokenizer_decode_piece(const vimo_tokenizer *t, int32_t prev, int32_t id, unsigned flags,
                                        size_t *len)
{
    *len = 0;
    if (!t || id < 0 || id >= t->n || !(t->flags[id] & TOKF_PRESENT)) return "";
    if ((flags & VIMO_TOK_DECODE_SKIP_SPECIAL) && (t->flags[id] & TOKF_SPECIAL)) return "";
    const char *p = t->darena.p + t->doff[id];
    size_t n = t->dlen[id];
    if (prev >= 0 && prev == t->bos && (t->flags[id] & TOKF_LEADSPACE)) {
        p++;
        n--;
    }
    if ((flags & VIMO_TOK_DECODE_SAFE) && n == 1 && !printable_or_space((unsigned char)p[0])) return "";
    *len = n;
    return p;
}

vimo_status vimo_tokenizer_decode(const vimo_tokenizer *t, int32_t prev, const int32_t *ids, size_t n,
                                  unsigned flags, char *buf, size_t cap, size_t *len)
{
    if (!t || !len || (!ids && n)) return vimo_error(VIMO_ERR_INVALID, "tokenizer: decode: NULL argument");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n)
            return vimo_error(VIMO_ERR_INVALID, "tokenizer: decode: id %d at %zu outside [0, %d)", ids[i], i,
                              t->n);
        size_t k;
        const char *p = vimo_tokenizer_decode_piece(t, i ? ids[i - 1] : prev, ids[i], flags, &k);
        if (buf && total + k < cap) memcpy(buf + total, p, k);
        total += k;
    }
    *len = total;
    if (!buf) return VIMO_OK;
    if (total >= cap)
        return vimo_error(VIMO_ERR_INVALID, "tokenizer: decode: %zu bytes do not fit in %zu", total, cap);
    buf[total] = '\0';
    return VIMO_OK;
}
