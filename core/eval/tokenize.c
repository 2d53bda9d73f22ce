/*
 * tokenize.c - the caption tokeniser every caption metric uses.
 *
 * Lowercase ASCII, split on every byte that is not an ASCII letter/digit, a
 * byte >= 0x80 or an apostrophe; strip apostrophes from token ends. It stands
 * in for coco-caption's Stanford PTBTokenizer + punctuation filter, which
 * needs Java; docs/metrics.md lists where the two differ (hyphens, clitics,
 * decimal numbers). Deliberately no Unicode case folding or normalisation.
 */
#include <string.h>

#include "eval_internal.h"

static int is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80 || c == '\'';
}

int ev_token_next(const char *s, size_t *pos, size_t *start, size_t *len)
{
    size_t i = *pos;
    for (;;) {
        while (s[i] && !is_word_byte((unsigned char)s[i])) i++;
        if (!s[i]) {
            *pos = i;
            return 0;
        }
        size_t b = i;
        while (s[i] && is_word_byte((unsigned char)s[i])) i++;
        size_t e = i;
        while (b < e && s[b] == '\'') b++; /* quotes, not clitics */
        while (e > b && s[e - 1] == '\'') e--;
        if (e > b) {
            *pos = i;
            *start = b;
            *len = e - b;
            return 1;
        }
    }
}

vimo_status vimo_caption_tokenize(const char *text, char *out, size_t cap, size_t *n_tokens)
{
    if (!text || !out)
        return vimo_error(VIMO_ERR_INVALID, "caption_tokenize: %s is NULL", text ? "out" : "text");
    size_t pos = 0, start = 0, len = 0, w = 0, n = 0;
    while (ev_token_next(text, &pos, &start, &len)) {
        size_t need = w + (n ? 1 : 0) + len + 1;
        if (need > cap)
            return vimo_error(VIMO_ERR_INVALID,
                              "caption_tokenize: output needs more than %zu bytes (give "
                              "strlen(text) + 1)", cap);
        if (n) out[w++] = ' ';
        for (size_t k = 0; k < len; k++) out[w++] = ev_lower(text[start + k]);
        n++;
    }
    if (cap < 1) return vimo_error(VIMO_ERR_INVALID, "caption_tokenize: cap is 0");
    out[w] = '\0';
    if (n_tokens) *n_tokens = n;
    return VIMO_OK;
}
