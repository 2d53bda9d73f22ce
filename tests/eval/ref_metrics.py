#!/usr/bin/env python3
"""Independent plain-Python reference for vimo's evaluation metrics.

Re-implements, from the published formulas and without any package outside
the standard library, what core/eval computes:
  - the caption tokeniser documented in vimo/eval.h (here as a regex on bytes);
  - BLEU-1..4 as pycocoevalcap's BleuScorer with option "closest"
    (coco-caption pycocoevalcap/bleu/bleu_scorer.py);
  - ROUGE-L as pycocoevalcap/rouge/rouge.py (beta 1.2, P and R maximised
    separately over references, captions split on " " so an empty caption is
    one empty token);
  - CIDEr-D as pycocoevalcap/cider/cider_scorer.py (df from references,
    log(max(1, df)), ref length log(#items), clipped tf-idf cosine, Gaussian
    penalty sigma 6 on the bigram-count "length", x10);
  - QA normalisation, yes/no first-word matching and per-category majority
    baselines as documented in vimo/eval.h.
It is written the way pycocoevalcap is (dicts of n-gram tuples, a full LCS
table), not the way the C code is (interned ids, merged sorted lists,
one-row LCS), so the two fail differently.

Usage: ref_metrics.py CAPTIONS.tsv QA.tsv   (prints one result per line)
"""
import math
import re
import string
import sys
from collections import Counter, defaultdict

N = 4
SIGMA = 6.0
BETA = 1.2
TINY, SMALL = 1e-15, 1e-9

WORD = re.compile(rb"[A-Za-z0-9'\x80-\xff]+")


def tokenize(text):
    toks = []
    for m in WORD.finditer(text):
        t = m.group(0).strip(b"'").lower()  # bytes.lower touches ASCII only
        if t:
            toks.append(t)
    return toks


def ngram_counts(words, n=N):
    c = Counter()
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            c[tuple(words[i:i + k])] += 1
    return c


# ---- BLEU -------------------------------------------------------------------

def bleu(items):
    correct = [0] * N
    guess = [0] * N
    testlen = reflen = 0
    for cand, refs in items:
        maxref = {}
        for r in refs:
            for g, k in ngram_counts(r).items():
                maxref[g] = max(maxref.get(g, 0), k)
        tl = len(cand)
        testlen += tl
        reflen += min((abs(len(r) - tl), len(r)) for r in refs)[1]
        for k in range(N):
            guess[k] += max(0, tl - k)
        for g, k in ngram_counts(cand).items():
            correct[len(g) - 1] += min(maxref.get(g, 0), k)
    ratio = (testlen + TINY) / (reflen + SMALL)
    out = []
    for nn in range(1, N + 1):
        b = 1.0
        for k in range(nn):
            b *= float(correct[k] + TINY) / (guess[k] + SMALL)
        b = b ** (1.0 / nn)
        if ratio < 1:
            b *= math.exp(1 - 1 / ratio)
        out.append(b)
    return out


# ---- ROUGE-L ----------------------------------------------------------------

def lcs_len(a, b):
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    return table[len(a)][len(b)]


def rouge_item(cand, refs):
    c = b" ".join(cand).split(b" ")  # pycocoevalcap's split(" "): "" -> [""]
    precs, recs = [], []
    for r in refs:
        rt = b" ".join(r).split(b" ")
        m = lcs_len(rt, c)
        precs.append(m / float(len(c)))
        recs.append(m / float(len(rt)))
    p, r = max(precs), max(recs)
    if p == 0 or r == 0:
        return 0.0
    return ((1 + BETA ** 2) * p * r) / float(r + BETA ** 2 * p)


# ---- CIDEr-D ----------------------------------------------------------------

def cider_items(items):
    df = defaultdict(float)
    for _, refs in items:
        for g in set(g for r in refs for g in ngram_counts(r)):
            df[g] += 1
    log_n = math.log(float(len(items)))

    def vec(words):
        v = [dict() for _ in range(N)]
        norm = [0.0] * N
        length = 0
        for g, tf in ngram_counts(words).items():
            k = len(g) - 1
            v[k][g] = float(tf) * (log_n - math.log(max(1.0, df.get(g, 0.0))))
            norm[k] += v[k][g] ** 2
            if k == 1:
                length += tf
        return v, [math.sqrt(x) for x in norm], length

    scores = []
    for cand, refs in items:
        vc, nc, lc = vec(cand)
        total = [0.0] * N
        for r in refs:
            vr, nr, lr = vec(r)
            delta = float(lc - lr)
            for k in range(N):
                val = 0.0
                for g, w in vc[k].items():
                    val += min(w, vr[k].get(g, 0.0)) * vr[k].get(g, 0.0)
                if nc[k] != 0 and nr[k] != 0:
                    val /= nc[k] * nr[k]
                total[k] += val * math.e ** (-(delta ** 2) / (2 * SIGMA ** 2))
        scores.append(sum(total) / N / len(refs) * 10.0)
    return scores


# ---- QA ---------------------------------------------------------------------

PUNCT = set(string.punctuation.encode())
NUMBERS = {w.encode(): str(i).encode() for i, w in enumerate(
    "zero one two three four five six seven eight nine ten".split())}


def qa_normalize(s):
    out = bytearray()
    for i, ch in enumerate(s):
        if 65 <= ch <= 90:
            ch += 32
        if ch == ord("'"):
            continue
        between_digits = (0 < i < len(s) - 1 and 48 <= s[i - 1] <= 57
                          and s[i + 1:i + 2].isdigit())
        if ch in b".," and between_digits:
            out.append(ch)
        elif ch <= 32 or ch == 127 or ch in PUNCT:
            out.append(32)
        else:
            out.append(ch)
    words = [NUMBERS.get(w, w) for w in bytes(out).split(b" ")
             if w and w not in (b"a", b"an", b"the")]
    return b" ".join(words)


def qa_match_norm(pred, gold):
    if gold in (b"yes", b"no"):
        return pred.split(b" ")[0] == gold
    return pred == gold


def majority(counter):
    if not counter:
        return None
    return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def qa_rows(train, test):
    per_cat = defaultdict(Counter)
    overall = Counter()
    for cat, ans in train:
        per_cat[cat][qa_normalize(ans)] += 1
        overall[qa_normalize(ans)] += 1
    g_maj = majority(overall)
    rows = []
    tot = [0, 0, 0]
    for cat in sorted(set(c for c, _, _ in test)):
        qs = [(p, g) for c, p, g in test if c == cat]
        maj = majority(per_cat.get(cat, Counter()))
        fallback = maj is None and g_maj is not None
        if maj is None:
            maj = g_maj
        ok = sum(qa_match_norm(qa_normalize(p), qa_normalize(g)) for p, g in qs)
        mok = 0 if maj is None else sum(qa_match_norm(maj, qa_normalize(g)) for _, g in qs)
        rows.append((cat, len(qs), ok, maj, mok, int(fallback)))
        tot = [tot[0] + len(qs), tot[1] + ok, tot[2] + mok]
    return rows, (tot[0], tot[1], g_maj, tot[2])


# ---- driver -----------------------------------------------------------------

def data_lines(path):
    with open(path, "rb") as f:
        for line in f.read().split(b"\n"):
            if line and not line.startswith(b"#"):
                yield line.split(b"\t")


def show(b):
    return "-" if b is None else b.decode("utf-8", "replace")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: ref_metrics.py CAPTIONS.tsv QA.tsv")
    raw = list(data_lines(sys.argv[1]))
    items = [(tokenize(f[0]), [tokenize(r) for r in f[1:]]) for f in raw]
    for i, f in enumerate(raw):
        for j, text in enumerate(f):
            print("tok %d %d %s" % (i, j, b" ".join(tokenize(text)).decode("utf-8", "replace")))
    print("bleu %r %r %r %r" % tuple(bleu(items)))
    rouge = [rouge_item(c, r) for c, r in items]
    cider = cider_items(items)
    print("rouge_l %r" % (sum(rouge) / len(rouge)))
    print("cider_d %r" % (sum(cider) / len(cider)))
    for i, (r, c) in enumerate(zip(rouge, cider)):
        print("item %d %r %r" % (i, r, c))

    train, test = [], []
    for f in data_lines(sys.argv[2]):
        if f[0] == b"train":
            train.append((f[1], f[2]))
        else:
            test.append((f[1], f[2], f[3]))
    rows, (n, ok, g_maj, mok) = qa_rows(train, test)
    for cat, qn, qok, maj, mok_c, fb in rows:
        print("qa %s %d %d %s %d %d" % (show(cat), qn, qok, show(maj).replace(" ", "_"), mok_c, fb))
    print("qa_overall %d %d %s %d" % (n, ok, show(g_maj).replace(" ", "_"), mok))


if __name__ == "__main__":
    main()
