/*
 * tokenizer_split.c - the regex pre-tokenizer splits of byte-level BPE
 * tokenizers, written out as hand matchers (no regex engine):
 *
 *   GPT-2:  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   Qwen2:  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}
 *           | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   Llama-3: as Qwen2 with \p{N}{1,3}
 *
 * Each matcher returns the length of the match at a position, trying the
 * alternatives in order as a backtracking regex engine does; every character
 * falls in one class, so some alternative always matches and the matches
 * tile the text.
 *
 * Character classes are exact for ASCII. Beyond ASCII this file knows the
 * Unicode White_Space list and a table of common punctuation / symbol /
 * number / mark blocks; any other code point is taken as a letter. This is a
 * documented approximation of \p{L} and \p{N} (see vimo/tokenizer.h).
 */
#include "tokenizer_int.h"

typedef struct cc_range {
    uint32_t lo, hi;
    tok_cclass cls;
} cc_range;

/* Non-ASCII ranges that are not letters (sorted; everything else is CC_LETTER). */
static const cc_range g_ranges[] = {
    {0x0085, 0x0085, CC_SPACE},   {0x00A0, 0x00A0, CC_SPACE},   {0x00A1, 0x00A9, CC_OTHER},
    {0x00AB, 0x00B1, CC_OTHER},   {0x00B2, 0x00B3, CC_NUMBER},  {0x00B4, 0x00B4, CC_OTHER},
    {0x00B6, 0x00B8, CC_OTHER},   {0x00B9, 0x00B9, CC_NUMBER},  {0x00BB, 0x00BB, CC_OTHER},
    {0x00BC, 0x00BE, CC_NUMBER},  {0x00BF, 0x00BF, CC_OTHER},   {0x00D7, 0x00D7, CC_OTHER},
    {0x00F7, 0x00F7, CC_OTHER},   {0x0300, 0x036F, CC_OTHER},   {0x0660, 0x0669, CC_NUMBER},
    {0x06F0, 0x06F9, CC_NUMBER},  {0x0966, 0x096F, CC_NUMBER},  {0x1680, 0x1680, CC_SPACE},
    {0x2000, 0x200A, CC_SPACE},   {0x200B, 0x2027, CC_OTHER},   {0x2028, 0x2029, CC_SPACE},
    {0x202A, 0x202E, CC_OTHER},   {0x202F, 0x202F, CC_SPACE},   {0x2030, 0x205E, CC_OTHER},
    {0x205F, 0x205F, CC_SPACE},   {0x2060, 0x206F, CC_OTHER},   {0x2070, 0x2070, CC_NUMBER},
    {0x2074, 0x2079, CC_NUMBER},  {0x207A, 0x207E, CC_OTHER},   {0x2080, 0x2089, CC_NUMBER},
    {0x208A, 0x208E, CC_OTHER},   {0x20A0, 0x20CF, CC_OTHER},   {0x2150, 0x2182, CC_NUMBER},
    {0x2190, 0x245F, CC_OTHER},   {0x2460, 0x249B, CC_NUMBER},  {0x249C, 0x24E9, CC_OTHER},
    {0x24EA, 0x24FF, CC_NUMBER},  {0x2500, 0x2775, CC_OTHER},   {0x2776, 0x2793, CC_NUMBER},
    {0x2794, 0x2BFF, CC_OTHER},   {0x2E00, 0x2E7F, CC_OTHER},   {0x3000, 0x3000, CC_SPACE},
    {0x3001, 0x3004, CC_OTHER},   {0x3008, 0x3020, CC_OTHER},   {0x3030, 0x3030, CC_OTHER},
    {0xE000, 0xF8FF, CC_OTHER},   {0xFE00, 0xFE0F, CC_OTHER},   {0xFE10, 0xFE1F, CC_OTHER},
    {0xFE30, 0xFE4F, CC_OTHER},   {0xFEFF, 0xFEFF, CC_OTHER},   {0xFF01, 0xFF0F, CC_OTHER},
    {0xFF10, 0xFF19, CC_NUMBER},  {0xFF1A, 0xFF20, CC_OTHER},   {0xFF3B, 0xFF40, CC_OTHER},
    {0xFF5B, 0xFF65, CC_OTHER},   {0xFFF9, 0xFFFD, CC_OTHER},   {0x1F000, 0x1FAFF, CC_OTHER},
};

tok_cclass tok_cclass_of(uint32_t cp)
{
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return CC_LETTER;
        if (cp >= '0' && cp <= '9') return CC_NUMBER;
        if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return CC_SPACE;
        return CC_OTHER;
    }
    size_t lo = 0, hi = sizeof g_ranges / sizeof g_ranges[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < g_ranges[mid].lo) hi = mid;
        else if (cp > g_ranges[mid].hi) lo = mid + 1;
        else return g_ranges[mid].cls;
    }
    return CC_LETTER;
}

/* Class and length of the code point at s[i] (s is valid UTF-8). */
static tok_cclass cls_at(const unsigned char *s, size_t n, size_t i, size_t *len)
{
    uint32_t cp = 0xFFFD;
    size_t l = tok_utf8_next(s + i, n - i, &cp);
    *len = l ? l : 1;
    return tok_cclass_of(cp);
}

/* End of the run of class `c` starting at i. */
static size_t run_of(const unsigned char *s, size_t n, size_t i, tok_cclass c)
{
    size_t l;
    while (i < n && cls_at(s, n, i, &l) == c) i += l;
    return i;
}

static int is_crlf(unsigned char c) { return c == '\r' || c == '\n'; }

/* \s+(?!\S)|\s+ at a whitespace character: the whole run when it reaches the
 * end of text, else the run less its last character (so that the last space
 * can lead the next word), but at least one character. */
static size_t match_space(const unsigned char *s, size_t n, size_t i)
{
    size_t j = i, last = i, l;
    while (j < n && cls_at(s, n, j, &l) == CC_SPACE) {
        last = j;
        j += l;
    }
    if (j == n || last == i) return j - i;
    return last - i;
}

/* 's 't 're 've 'm 'll 'd (case-insensitive for Qwen2 / Llama-3). */
static size_t match_contraction(const unsigned char *s, size_t n, size_t i, int icase)
{
    if (s[i] != '\'' || i + 1 >= n) return 0;
    unsigned char a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0;
    if (icase) {
        a = (unsigned char)(a >= 'A' && a <= 'Z' ? a + 32 : a);
        b = (unsigned char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

static size_t match_gpt2(const unsigned char *s, size_t n, size_t i)
{
    size_t m = match_contraction(s, n, i, 0), l0, l1;
    if (m) return m;
    tok_cclass c0 = cls_at(s, n, i, &l0);
    if (s[i] == ' ' && i + 1 < n) { /* " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+" */
        tok_cclass c1 = cls_at(s, n, i + 1, &l1);
        if (c1 != CC_SPACE) return run_of(s, n, i + 1, c1) - i;
    }
    if (c0 != CC_SPACE) return run_of(s, n, i, c0) - i;
    return match_space(s, n, i);
}

static size_t match_qwen(int digits3, const unsigned char *s, size_t n, size_t i)
{
    size_t m = match_contraction(s, n, i, 1), l0, l1 = 0;
    if (m) return m;
    tok_cclass c0 = cls_at(s, n, i, &l0);
    tok_cclass c1 = i + l0 < n ? cls_at(s, n, i + l0, &l1) : CC_SPACE;
    int has1 = i + l0 < n;
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (c0 == CC_LETTER) return run_of(s, n, i, CC_LETTER) - i;
    if (!is_crlf(s[i]) && c0 != CC_NUMBER && has1 && c1 == CC_LETTER) return run_of(s, n, i + l0, CC_LETTER) - i;
    /* \p{N} or \p{N}{1,3} */
    if (c0 == CC_NUMBER) {
        size_t j = i + l0, l;
        for (int k = 1; digits3 && k < 3 && j < n && cls_at(s, n, j, &l) == CC_NUMBER; k++) j += l;
        return j - i;
    }
    /* " ?[^\s\p{L}\p{N}]+[\r\n]*" */
    size_t k = (size_t)-1;
    if (s[i] == ' ' && has1 && c1 == CC_OTHER) k = i + 1;
    else if (c0 == CC_OTHER) k = i;
    if (k != (size_t)-1) {
        size_t e = run_of(s, n, k, CC_OTHER);
        while (e < n && is_crlf(s[e])) e++;
        return e - i;
    }
    /* \s*[\r\n]+ : up to and including the last newline of the run */
    size_t j = i, nl = (size_t)-1, l;
    while (j < n && cls_at(s, n, j, &l) == CC_SPACE) {
        if (is_crlf(s[j])) nl = j;
        j += l;
    }
    if (nl != (size_t)-1) return nl + 1 - i;
    return match_space(s, n, i);
}

size_t tok_split_match(tok_pt_kind kind, const unsigned char *s, size_t n, size_t i)
{
    if (kind == PT_SPLIT_GPT2) return match_gpt2(s, n, i);
    return match_qwen(kind == PT_SPLIT_LLAMA3, s, n, i);
}
