/*
 * bvh.c - BVH parser and accessors (see vimo/bvh.h).
 *
 * The whole (decompressed) text is read into memory through zlib, capped at
 * VIMO_BVH_MAX_BYTES, then parsed: the HIERARCHY by a recursive-descent parser
 * over whitespace-separated tokens, the MOTION section line by line so a
 * short or long frame line is reported at its own line. Every error names the
 * file and line. Deliberately not a writer, and no FK here (bvh_fk.c).
 */
#include "motion_internal.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <threads.h>
#include <zlib.h>

/* ---- reading the file ------------------------------------------------- */

static vimo_status read_all(const char *path, char **out, size_t *out_len)
{
    vimo_status st = VIMO_OK;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    gzFile g = gzopen(path, "rb");
    if (!g) return vimo_error(VIMO_ERR_IO, "bvh: %s: %s", path, errno ? strerror(errno) : "cannot open");
    gzbuffer(g, 1 << 17);
    for (;;) {
        if (cap - len < (1 << 16)) {
            size_t ncap = cap ? cap * 2 : (1 << 18);
            if (ncap > (size_t)VIMO_BVH_MAX_BYTES + (1 << 16)) ncap = (size_t)VIMO_BVH_MAX_BYTES + (1 << 16);
            if (ncap <= cap) {
                st = vimo_error(VIMO_ERR_FORMAT, "bvh: %s: larger than %u bytes of text", path,
                                (unsigned)VIMO_BVH_MAX_BYTES);
                goto fail;
            }
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                st = vimo_error(VIMO_ERR_NOMEM, "bvh: %s: out of memory", path);
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
        int n = gzread(g, buf + len, (unsigned)(cap - len));
        if (n < 0) {
            int zerr;
            const char *m = gzerror(g, &zerr);
            st = vimo_error(VIMO_ERR_IO, "bvh: %s: read failed: %s", path, m ? m : "zlib error");
            goto fail;
        }
        if (n == 0) break;
        len += (size_t)n;
        if (len > VIMO_BVH_MAX_BYTES) {
            st = vimo_error(VIMO_ERR_FORMAT, "bvh: %s: larger than %u bytes of text", path,
                            (unsigned)VIMO_BVH_MAX_BYTES);
            goto fail;
        }
    }
    int rc = gzclose_r(g);
    g = NULL;
    if (rc != Z_OK) {
        st = vimo_error(VIMO_ERR_FORMAT, "bvh: %s: truncated or corrupt gzip stream", path);
        goto fail;
    }
    if (!buf) { /* empty file */
        buf = malloc(1);
        if (!buf) return vimo_error(VIMO_ERR_NOMEM, "bvh: %s: out of memory", path);
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return VIMO_OK;
fail:
    if (g) gzclose_r(g);
    free(buf);
    return st;
}

/* ---- numbers --------------------------------------------------------- */

/* BVH numbers use '.', whatever LC_NUMERIC the host program set. */
static locale_t g_c_locale;
static once_flag g_c_locale_once = ONCE_FLAG_INIT;
static void c_locale_init(void) { g_c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0); }

static double parse_double(const char *s, char **end)
{
    call_once(&g_c_locale_once, c_locale_init);
    return g_c_locale ? strtod_l(s, end, g_c_locale) : strtod(s, end);
}

/* ---- tokenizer ------------------------------------------------------- */

typedef struct parser {
    const char *start;   /* first byte of the text                      */
    const char *p, *end; /* NUL-terminated at end                       */
    int line;            /* 1-based line of p                           */
    const char *name;    /* file name for messages                      */
    bvh_node *joints, *sites;
    int nj, ns, cap_j, cap_s;
    int n_channels;
} parser;

#define PERR(P, ...) perr_((P), __VA_ARGS__)

/* Sets "bvh: FILE:LINE: message" for the parser's current line. */
__attribute__((format(printf, 2, 3))) static vimo_status perr_(const parser *P, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* At end of input after a final newline, blame the last line, not the empty one after it. */
    int line = P->line;
    if (P->p >= P->end && P->end > P->start && P->end[-1] == '\n') line--;
    return vimo_error(VIMO_ERR_FORMAT, "bvh: %s:%d: %s", P->name, line, msg);
}

static void skip_ws(parser *P)
{
    while (P->p < P->end) {
        char c = *P->p;
        if (c == '\n') P->line++;
        else if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') break;
        P->p++;
    }
}

/* Next whitespace-separated token; returns its length, 0 at end of input. */
static size_t next_tok(parser *P, const char **tok)
{
    skip_ws(P);
    const char *s = P->p;
    while (P->p < P->end && !isspace((unsigned char)*P->p)) P->p++;
    *tok = s;
    return (size_t)(P->p - s);
}

static int tok_is(const char *t, size_t n, const char *word)
{
    return strlen(word) == n && strncmp(t, word, n) == 0;
}

/* Prints a token safely into a message buffer. */
static const char *tok_show(const char *t, size_t n, char *buf, size_t cap)
{
    if (n == 0) return "end of file";
    size_t k = n < cap - 3 ? n : cap - 6;
    buf[0] = '\'';
    for (size_t i = 0; i < k; i++) buf[1 + i] = isprint((unsigned char)t[i]) ? t[i] : '?';
    if (k < n) memcpy(buf + 1 + k, "...", 3), k += 3;
    buf[1 + k] = '\'';
    buf[2 + k] = '\0';
    return buf;
}

static vimo_status parse_number(parser *P, const char *t, size_t n, double *out)
{
    char buf[64], show[48];
    if (n == 0) return PERR(P, "expected a number, found end of file");
    if (n >= sizeof buf) return PERR(P, "%s is not a number", tok_show(t, n, show, sizeof show));
    memcpy(buf, t, n);
    buf[n] = '\0';
    char *e;
    double v = parse_double(buf, &e);
    if (e != buf + n || !isfinite(v)) return PERR(P, "%s is not a number", tok_show(t, n, show, sizeof show));
    *out = v;
    return VIMO_OK;
}

static vimo_status expect_number(parser *P, double *out)
{
    const char *t;
    size_t n = next_tok(P, &t);
    return parse_number(P, t, n, out);
}

/* ---- hierarchy ------------------------------------------------------- */

static vimo_status add_node(parser *P, int site, const char *name, size_t nlen, int parent, int *idx)
{
    bvh_node **arr = site ? &P->sites : &P->joints;
    int *n = site ? &P->ns : &P->nj, *cap = site ? &P->cap_s : &P->cap_j;
    if (*n >= VIMO_BVH_MAX_JOINTS)
        return PERR(P, "more than %d %s", VIMO_BVH_MAX_JOINTS, site ? "End Sites" : "joints");
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 32;
        bvh_node *na = realloc(*arr, (size_t)nc * sizeof *na);
        if (!na) return vimo_error(VIMO_ERR_NOMEM, "bvh: %s: out of memory", P->name);
        *arr = na;
        *cap = nc;
    }
    bvh_node *nd = &(*arr)[*n];
    memset(nd, 0, sizeof *nd);
    nd->parent = parent;
    nd->offset[0] = NAN;
    nd->name = malloc(nlen + 1);
    if (!nd->name) return vimo_error(VIMO_ERR_NOMEM, "bvh: %s: out of memory", P->name);
    memcpy(nd->name, name, nlen);
    nd->name[nlen] = '\0';
    *idx = (*n)++;
    return VIMO_OK;
}

static int channel_of(const char *t, size_t n)
{
    static const char *names[6] = {"Xposition", "Yposition", "Zposition",
                                   "Xrotation", "Yrotation", "Zrotation"};
    for (int i = 0; i < 6; i++)
        if (strlen(names[i]) == n && strncasecmp(t, names[i], n) == 0) return i;
    return -1;
}

static vimo_status parse_channels(parser *P, bvh_node *nd)
{
    double v;
    vimo_status st = expect_number(P, &v);
    if (st) return st;
    if (v != floor(v) || v < 0 || v > 6) return PERR(P, "CHANNELS count %g is not an integer in 0..6", v);
    nd->nch = (int)v;
    nd->ch_off = P->n_channels;
    for (int i = 0; i < nd->nch; i++) {
        const char *t;
        char show[48];
        size_t n = next_tok(P, &t);
        int c = channel_of(t, n);
        if (c < 0)
            return PERR(P, "CHANNELS %d lists %d channel names, then %s", nd->nch, i,
                        tok_show(t, n, show, sizeof show));
        nd->ch[i] = (unsigned char)c;
    }
    P->n_channels += nd->nch;
    return VIMO_OK;
}

static vimo_status parse_offset(parser *P, bvh_node *nd)
{
    if (!isnan(nd->offset[0])) return PERR(P, "second OFFSET in one block");
    for (int k = 0; k < 3; k++) {
        vimo_status st = expect_number(P, &nd->offset[k]);
        if (st) return st;
    }
    return VIMO_OK;
}

/* Reads the rest of the current line as a name (ROOT/JOINT NAME). A trailing
 * '{' on the same line is split off; *brace tells the caller. */
static vimo_status read_name(parser *P, const char *kw, const char **name, size_t *len, int *brace)
{
    while (P->p < P->end && (*P->p == ' ' || *P->p == '\t')) P->p++;
    const char *s = P->p;
    while (P->p < P->end && *P->p != '\n') P->p++;
    const char *e = P->p;
    while (e > s && isspace((unsigned char)e[-1])) e--;
    *brace = 0;
    if (e > s && e[-1] == '{') {
        *brace = 1;
        e--;
        while (e > s && isspace((unsigned char)e[-1])) e--;
    }
    if (e == s) return PERR(P, "%s without a name", kw);
    *name = s;
    *len = (size_t)(e - s);
    return VIMO_OK;
}

static vimo_status expect_brace(parser *P, const char *what)
{
    const char *t;
    char show[48];
    size_t n = next_tok(P, &t);
    if (!tok_is(t, n, "{"))
        return PERR(P, "expected '{' after %s, found %s", what, tok_show(t, n, show, sizeof show));
    return VIMO_OK;
}

static vimo_status parse_site(parser *P, int parent)
{
    vimo_status st = VIMO_OK;
    int idx, open_line = P->line;
    const char *pname = P->joints[parent].name;
    /* Name "<parent>_End", "<parent>_End2", ... */
    int k = 1;
    for (int i = 0; i < P->ns; i++)
        if (P->sites[i].parent == parent) k++;
    char name[300];
    int nl = k == 1 ? snprintf(name, sizeof name, "%.250s_End", pname)
                    : snprintf(name, sizeof name, "%.250s_End%d", pname, k);
    VIMO_TRY(add_node(P, 1, name, (size_t)nl, parent, &idx));
    VIMO_TRY(expect_brace(P, "End Site"));
    for (;;) {
        const char *t;
        char show[48];
        size_t n = next_tok(P, &t);
        if (n == 0) return PERR(P, "end of file inside End Site opened at line %d", open_line);
        if (tok_is(t, n, "OFFSET")) {
            VIMO_TRY(parse_offset(P, &P->sites[idx]));
        } else if (tok_is(t, n, "}")) {
            break;
        } else {
            return PERR(P, "unexpected %s in End Site", tok_show(t, n, show, sizeof show));
        }
    }
    if (isnan(P->sites[idx].offset[0])) return PERR(P, "End Site without OFFSET");
fail:
    return st;
}

static vimo_status parse_joint(parser *P, const char *kw, int parent, int depth)
{
    vimo_status st = VIMO_OK;
    const char *name = NULL;
    size_t nlen = 0;
    int brace = 0, idx = 0;
    if (depth > VIMO_BVH_MAX_DEPTH) return PERR(P, "hierarchy nested deeper than %d", VIMO_BVH_MAX_DEPTH);
    VIMO_TRY(read_name(P, kw, &name, &nlen, &brace));
    VIMO_TRY(add_node(P, 0, name, nlen, parent, &idx));
    int open_line = P->line;
    if (!brace) {
        char what[300];
        snprintf(what, sizeof what, "%s %.*s", kw, (int)(nlen > 200 ? 200 : nlen), name);
        VIMO_TRY(expect_brace(P, what));
        open_line = P->line;
    }
    int seen_channels = 0;
    for (;;) {
        const char *t;
        char show[48];
        size_t n = next_tok(P, &t);
        if (n == 0)
            return PERR(P, "end of file inside %s %s opened at line %d (missing '}')", kw,
                        P->joints[idx].name, open_line);
        if (tok_is(t, n, "OFFSET")) {
            VIMO_TRY(parse_offset(P, &P->joints[idx]));
        } else if (tok_is(t, n, "CHANNELS")) {
            if (seen_channels++) return PERR(P, "second CHANNELS in %s", P->joints[idx].name);
            VIMO_TRY(parse_channels(P, &P->joints[idx]));
        } else if (tok_is(t, n, "JOINT")) {
            VIMO_TRY(parse_joint(P, "JOINT", idx, depth + 1));
        } else if (tok_is(t, n, "End")) {
            const char *t2;
            size_t n2 = next_tok(P, &t2);
            if (!tok_is(t2, n2, "Site")) return PERR(P, "expected 'Site' after 'End'");
            VIMO_TRY(parse_site(P, idx));
        } else if (tok_is(t, n, "}")) {
            break;
        } else if (tok_is(t, n, "ROOT") || tok_is(t, n, "MOTION")) {
            return PERR(P, "%s inside %s %s opened at line %d (missing '}')",
                        tok_show(t, n, show, sizeof show), kw, P->joints[idx].name, open_line);
        } else {
            return PERR(P, "unexpected %s in %s %s", tok_show(t, n, show, sizeof show), kw,
                        P->joints[idx].name);
        }
    }
    if (isnan(P->joints[idx].offset[0])) return PERR(P, "%s %s has no OFFSET", kw, P->joints[idx].name);
fail:
    return st;
}

/* ---- motion ---------------------------------------------------------- */

static vimo_status expect_word(parser *P, const char *word)
{
    const char *t;
    char show[48];
    size_t n = next_tok(P, &t);
    if (!tok_is(t, n, word)) return PERR(P, "expected '%s', found %s", word, tok_show(t, n, show, sizeof show));
    return VIMO_OK;
}

static vimo_status parse_header_counts(parser *P, long long *frames, double *ft)
{
    vimo_status st = VIMO_OK;
    const char *t;
    char show[48];
    VIMO_TRY(expect_word(P, "Frames:"));
    size_t n = next_tok(P, &t);
    if (n == 0) return PERR(P, "expected the frame count, found end of file");
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] < '0' || t[i] > '9')
            return PERR(P, "frame count %s is not a non-negative integer", tok_show(t, n, show, sizeof show));
        if (v > VIMO_BVH_MAX_FRAMES) break;
        v = v * 10 + (t[i] - '0');
    }
    if (v > VIMO_BVH_MAX_FRAMES)
        return PERR(P, "Frames: %s exceeds the limit of %d", tok_show(t, n, show, sizeof show),
                    VIMO_BVH_MAX_FRAMES);
    *frames = v;
    VIMO_TRY(expect_word(P, "Frame"));
    VIMO_TRY(expect_word(P, "Time:"));
    VIMO_TRY(expect_number(P, ft));
    if (!(*ft > 0.0)) return PERR(P, "Frame Time %g must be positive", *ft);
    /* The rest of this line must be empty. */
    while (P->p < P->end && *P->p != '\n') {
        if (!isspace((unsigned char)*P->p)) return PERR(P, "unexpected text after Frame Time");
        P->p++;
    }
fail:
    return st;
}

/* Parses one frame line starting at P->p (not blank) into row[0..C-1]. */
static vimo_status parse_frame_line(parser *P, float *row, int C, long long frame)
{
    int k = 0;
    for (;;) {
        while (*P->p == ' ' || *P->p == '\t' || *P->p == '\r' || *P->p == '\f' || *P->p == '\v') P->p++;
        if (P->p >= P->end || *P->p == '\n') break;
        if (k == C) return PERR(P, "frame %lld has more than the %d values CHANNELS declare", frame, C);
        char *e;
        double v = parse_double(P->p, &e);
        if (e == P->p || !isfinite(v) || (*e && !isspace((unsigned char)*e))) {
            const char *s = P->p;
            while (s < P->end && !isspace((unsigned char)*s)) s++;
            char show[48];
            return PERR(P, "frame %lld value %d: %s is not a number", frame, k + 1,
                        tok_show(P->p, (size_t)(s - P->p), show, sizeof show));
        }
        if (fabs(v) > FLT_MAX) return PERR(P, "frame %lld value %d: %g is out of float range", frame, k + 1, v);
        row[k++] = (float)v;
        P->p = e;
    }
    if (k < C) return PERR(P, "frame %lld has %d values, CHANNELS declare %d", frame, k, C);
    return VIMO_OK;
}

static vimo_status parse_motion(parser *P, vimo_bvh *b)
{
    vimo_status st = VIMO_OK;
    long long declared = 0;
    VIMO_TRY(parse_header_counts(P, &declared, &b->frame_time));
    int C = b->n_channels;
    long long cap = 0, n = 0;
    float *fr = NULL;
    for (;;) {
        /* Move to the start of the next line. */
        while (P->p < P->end && *P->p != '\n') P->p++;
        if (P->p >= P->end) break;
        P->p++;
        P->line++;
        const char *s = P->p;
        while (s < P->end && (*s == ' ' || *s == '\t' || *s == '\r')) s++;
        if (s >= P->end || *s == '\n') continue; /* blank line */
        if (n == declared) {
            st = PERR(P, "more frame lines than 'Frames: %lld' declares", declared);
            goto fail_fr;
        }
        if (n == cap) {
            long long nc = cap ? cap * 2 : 64;
            if (nc > declared) nc = declared;
            float *nf = realloc(fr, (size_t)nc * (size_t)(C ? C : 1) * sizeof *nf);
            if (!nf) {
                st = vimo_error(VIMO_ERR_NOMEM, "bvh: %s: out of memory at frame %lld", P->name, n);
                goto fail_fr;
            }
            fr = nf;
            cap = nc;
        }
        st = parse_frame_line(P, fr + (size_t)n * (size_t)C, C, n);
        if (st) goto fail_fr;
        n++;
    }
    if (n < declared) {
        st = PERR(P, "end of file after %lld frames, 'Frames:' declares %lld", n, declared);
        goto fail_fr;
    }
    b->frames = fr;
    b->n_frames = (int)n;
    return VIMO_OK;
fail_fr:
    free(fr);
fail:
    return st;
}

/* ---- top level ------------------------------------------------------- */

static void free_nodes(bvh_node *a, int n)
{
    for (int i = 0; i < n && a; i++) free(a[i].name);
    free(a);
}

void vimo_bvh_free(vimo_bvh *b)
{
    if (!b) return;
    free_nodes(b->nodes, b->n_joints + b->n_sites);
    free(b->frames);
    free(b->name);
    free(b);
}

/* Parses NUL-terminated TEXT of LEN bytes. */
static vimo_status parse_text(vimo_bvh **out, const char *text, size_t len, const char *name)
{
    vimo_status st = VIMO_OK;
    parser P = {text, text, text + len, 1, name, NULL, NULL, 0, 0, 0, 0, 0};
    vimo_bvh *b = calloc(1, sizeof *b);
    if (!b) return vimo_error(VIMO_ERR_NOMEM, "bvh: %s: out of memory", name);
    b->name = strdup(name);
    if (!b->name) {
        st = vimo_error(VIMO_ERR_NOMEM, "bvh: %s: out of memory", name);
        goto fail;
    }
    if (memchr(text, '\0', len)) {
        const char *z = memchr(text, '\0', len);
        for (const char *q = text; q < z; q++)
            if (*q == '\n') P.line++;
        st = PERR(&P, "NUL byte in text (binary file?)");
        goto fail;
    }
    VIMO_TRY(expect_word(&P, "HIERARCHY"));
    for (;;) {
        const char *t;
        char show[48];
        size_t n = next_tok(&P, &t);
        if (tok_is(t, n, "ROOT")) {
            VIMO_TRY(parse_joint(&P, "ROOT", -1, 0));
        } else if (tok_is(t, n, "MOTION")) {
            break;
        } else {
            st = PERR(&P, "expected ROOT or MOTION, found %s", tok_show(t, n, show, sizeof show));
            goto fail;
        }
    }
    if (P.nj == 0) {
        st = PERR(&P, "MOTION before any ROOT");
        goto fail;
    }
    if (P.n_channels == 0) {
        st = PERR(&P, "the hierarchy declares no CHANNELS");
        goto fail;
    }
    b->n_channels = P.n_channels;
    VIMO_TRY(parse_motion(&P, b));

    /* Nodes: joints, then End Sites (whose parents are joint indices). */
    b->nodes = malloc((size_t)(P.nj + P.ns) * sizeof *b->nodes);
    if (!b->nodes) {
        st = vimo_error(VIMO_ERR_NOMEM, "bvh: %s: out of memory", name);
        goto fail;
    }
    memcpy(b->nodes, P.joints, (size_t)P.nj * sizeof *b->nodes);
    if (P.ns) memcpy(b->nodes + P.nj, P.sites, (size_t)P.ns * sizeof *b->nodes);
    b->n_joints = P.nj;
    b->n_sites = P.ns;
    free(P.joints);
    free(P.sites);
    *out = b;
    return VIMO_OK;
fail:
    free_nodes(P.joints, P.nj);
    free_nodes(P.sites, P.ns);
    vimo_bvh_free(b);
    return st;
}

vimo_status vimo_bvh_parse(vimo_bvh **out, const char *text, size_t len, const char *name)
{
    if (!out || (!text && len)) return vimo_error(VIMO_ERR_INVALID, "bvh: parse: NULL argument");
    *out = NULL;
    if (!name) name = "<memory>";
    if (len > VIMO_BVH_MAX_BYTES)
        return vimo_error(VIMO_ERR_FORMAT, "bvh: %s: larger than %u bytes of text", name,
                          (unsigned)VIMO_BVH_MAX_BYTES);
    char *copy = malloc(len + 1); /* NUL-terminated for strtod */
    if (!copy) return vimo_error(VIMO_ERR_NOMEM, "bvh: %s: out of memory", name);
    if (len) memcpy(copy, text, len);
    copy[len] = '\0';
    vimo_status st = parse_text(out, copy, len, name);
    free(copy);
    return st;
}

vimo_status vimo_bvh_load(vimo_bvh **out, const char *path)
{
    if (!out || !path) return vimo_error(VIMO_ERR_INVALID, "bvh: load: NULL argument");
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    vimo_status st = read_all(path, &text, &len);
    if (st) return st;
    st = parse_text(out, text, len, path);
    free(text);
    return st;
}

/* ---- accessors ------------------------------------------------------- */

int vimo_bvh_joint_count(const vimo_bvh *b) { return b ? b->n_joints : 0; }
int vimo_bvh_end_site_count(const vimo_bvh *b) { return b ? b->n_sites : 0; }
int vimo_bvh_node_count(const vimo_bvh *b) { return b ? b->n_joints + b->n_sites : 0; }
int vimo_bvh_frame_count(const vimo_bvh *b) { return b ? b->n_frames : 0; }
int vimo_bvh_channel_count(const vimo_bvh *b) { return b ? b->n_channels : 0; }
double vimo_bvh_frame_time(const vimo_bvh *b) { return b ? b->frame_time : 0.0; }
double vimo_bvh_fps(const vimo_bvh *b) { return b && b->frame_time > 0 ? 1.0 / b->frame_time : 0.0; }
const char *vimo_bvh_name(const vimo_bvh *b) { return b ? b->name : ""; }
const float *vimo_bvh_frames(const vimo_bvh *b) { return b ? b->frames : NULL; }

static int node_ok(const vimo_bvh *b, int i) { return b && i >= 0 && i < b->n_joints + b->n_sites; }

const char *vimo_bvh_node_name(const vimo_bvh *b, int i) { return node_ok(b, i) ? b->nodes[i].name : ""; }
int vimo_bvh_node_parent(const vimo_bvh *b, int i) { return node_ok(b, i) ? b->nodes[i].parent : -1; }

int vimo_bvh_find(const vimo_bvh *b, const char *name)
{
    if (!b || !name) return -1;
    for (int i = 0; i < b->n_joints + b->n_sites; i++)
        if (strcmp(b->nodes[i].name, name) == 0) return i;
    return -1;
}

void vimo_bvh_node_offset(const vimo_bvh *b, int i, double out[3])
{
    for (int k = 0; k < 3; k++) out[k] = node_ok(b, i) ? b->nodes[i].offset[k] : 0.0;
}

int vimo_bvh_joint_channels(const vimo_bvh *b, int j, vimo_bvh_channel out[6])
{
    if (!node_ok(b, j)) return 0;
    for (int k = 0; k < b->nodes[j].nch; k++) out[k] = (vimo_bvh_channel)b->nodes[j].ch[k];
    return b->nodes[j].nch;
}

int vimo_bvh_channel_offset(const vimo_bvh *b, int j) { return node_ok(b, j) ? b->nodes[j].ch_off : 0; }
