/*
 * intern.c - a string interner (byte strings <-> dense uint32 ids) for the
 * evaluation code: caption tokens, n-grams (keys are packed token ids), QA
 * categories and answers.
 *
 * Open addressing with linear probing at load <= 1/2; keys live in one arena.
 * Deliberately no deletion and no iteration order other than id order.
 */
#include <stdlib.h>
#include <string.h>

#include "eval_internal.h"

#define EV_INTERN_MAX_IDS 0x7fffffffu /* ids stay far below UINT32_MAX */

void ev_intern_init(ev_intern *t) { memset(t, 0, sizeof *t); }

void ev_intern_free(ev_intern *t)
{
    if (!t) return;
    free(t->slots);
    free(t->off);
    free(t->len);
    free(t->hash);
    free(t->arena);
    memset(t, 0, sizeof *t);
}

/* FNV-1a, then a splitmix64 finaliser: FNV alone clusters the packed ids. */
static uint64_t hash_bytes(const void *key, uint32_t len)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < len; i++) h = (h ^ p[i]) * 1099511628211ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

static vimo_status rehash(ev_intern *t, size_t new_cap, const char *op)
{
    uint32_t *slots = calloc(new_cap, sizeof *slots);
    if (!slots) return vimo_error(VIMO_ERR_NOMEM, "%s: interner: %zu slots", op, new_cap);
    for (uint32_t id = 0; id < t->count; id++) {
        size_t i = (size_t)t->hash[id] & (new_cap - 1);
        while (slots[i]) i = (i + 1) & (new_cap - 1);
        slots[i] = id + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = new_cap;
    return VIMO_OK;
}

static vimo_status grow_ids(ev_intern *t, const char *op)
{
    uint32_t nc = t->id_cap ? t->id_cap * 2 : 64;
    if (t->id_cap >= EV_INTERN_MAX_IDS / 2)
        return vimo_error(VIMO_ERR_NOMEM, "%s: interner: more than %u keys", op,
                          EV_INTERN_MAX_IDS / 2);
    size_t *off = realloc(t->off, nc * sizeof *off);
    if (off) t->off = off;
    uint32_t *len = realloc(t->len, nc * sizeof *len);
    if (len) t->len = len;
    uint64_t *hash = realloc(t->hash, nc * sizeof *hash);
    if (hash) t->hash = hash;
    if (!off || !len || !hash)
        return vimo_error(VIMO_ERR_NOMEM, "%s: interner: %u keys", op, nc);
    t->id_cap = nc;
    return VIMO_OK;
}

static vimo_status arena_append(ev_intern *t, const void *key, uint32_t len, const char *op)
{
    size_t need = t->arena_len + (size_t)len + 1;
    if (need > t->arena_cap) {
        size_t nc = t->arena_cap ? t->arena_cap : 4096;
        while (nc < need) nc *= 2;
        char *a = realloc(t->arena, nc);
        if (!a) return vimo_error(VIMO_ERR_NOMEM, "%s: interner: %zu key bytes", op, nc);
        t->arena = a;
        t->arena_cap = nc;
    }
    if (len) memcpy(t->arena + t->arena_len, key, len);
    t->arena[t->arena_len + len] = '\0';
    t->arena_len = need;
    return VIMO_OK;
}

vimo_status ev_intern_put(ev_intern *t, const void *key, uint32_t len, uint32_t *id,
                          int *is_new, const char *op)
{
    vimo_status st = VIMO_OK;
    uint64_t h = hash_bytes(key, len);
    if (is_new) *is_new = 0;
    if (t->cap) {
        for (size_t i = (size_t)h & (t->cap - 1); t->slots[i]; i = (i + 1) & (t->cap - 1)) {
            uint32_t k = t->slots[i] - 1;
            if (t->hash[k] == h && t->len[k] == len &&
                (len == 0 || memcmp(t->arena + t->off[k], key, len) == 0)) {
                *id = k;
                return VIMO_OK;
            }
        }
    }
    if (2 * ((size_t)t->count + 1) > t->cap) VIMO_TRY(rehash(t, t->cap ? t->cap * 2 : 256, op));
    if (t->count == t->id_cap) VIMO_TRY(grow_ids(t, op));
    size_t at = t->arena_len;
    VIMO_TRY(arena_append(t, key, len, op));
    uint32_t k = t->count++;
    t->off[k] = at;
    t->len[k] = len;
    t->hash[k] = h;
    size_t i = (size_t)h & (t->cap - 1);
    while (t->slots[i]) i = (i + 1) & (t->cap - 1);
    t->slots[i] = k + 1;
    *id = k;
    if (is_new) *is_new = 1;
fail:
    return st;
}

const char *ev_intern_key(const ev_intern *t, uint32_t id, uint32_t *len)
{
    if (len) *len = t->len[id];
    return t->arena + t->off[id];
}
