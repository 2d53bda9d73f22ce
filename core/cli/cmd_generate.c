/*
 * cmd_generate.c - `vimo generate`: text from a Llama-family model, printed
 * as llama2.c's run.c prints it (the prompt's pieces, then each sampled
 * piece with run.c's safe-printing rule, then one newline).
 *
 * With a llama2.c checkpoint and the same settings this prints exactly what
 * `./run model.bin -z tok.bin -t T -p P -s S -n N -i PROMPT` prints on stdout
 * (tests/llm). Not here: chat templates, multimodal prefixes (the engine
 * takes them; no CLI yet), interactive mode.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "vimo/tokenizer.h"
#include "vimo_llama.h"

static const char USAGE[] =
    "usage: vimo generate --model PATH [--tokenizer PATH] [--prompt TEXT] [--steps N]\n"
    "                     [--temperature T] [--top-p P] [--top-k K] [--seed S] [--threads N]\n"
    "                     [--weights f32|q8] [--stats]\n"
    "\n"
    "Generates text with a Llama-family model and prints only the text (stdout),\n"
    "as llama2.c's run.c does: the prompt, the continuation, a final newline.\n"
    "\n"
    "  --model PATH       llama2.c checkpoint (.bin, legacy v0), or a Hugging Face\n"
    "                     folder (config.json + *.safetensors; Llama or Qwen2)\n"
    "  --tokenizer PATH   llama2.c tokenizer.bin or tokenizer.json; required for a\n"
    "                     .bin model, default for a folder: its tokenizer.json\n"
    "  --prompt TEXT      prompt (default: empty; generation starts from BOS)\n"
    "  --steps N          positions to run, prompt included (default 256; 0 or more\n"
    "                     than the model's context: the context length)\n"
    "  --temperature T    0 = greedy (default 1.0)\n"
    "  --top-p P          nucleus sampling in (0, 1); 0 or 1 = off (default 0.9)\n"
    "  --top-k K          keep the K most probable tokens; 0 = off (default)\n"
    "  --seed S           RNG seed (default: the time, as run.c)\n"
    "  --threads N        threads (default: 1 for tiny models such as stories260K,\n"
    "                     else VIMO_NUM_THREADS / OMP_NUM_THREADS / all cores)\n"
    "  --weights W        f32 (default; bit-exact with llama2.c) or q8: int8 weight\n"
    "                     matrices, one scale per 32 columns (faster where decode\n"
    "                     is bound by memory bandwidth; not exact)\n"
    "  --stats            print run.c's \"achieved tok/s\" line to stderr\n"
    "\n"
    "Generation stops at BOS or EOS (run.c stops at BOS) or after --steps.\n"
    "Example: vimo generate --model llm/llama/weights/stories260K.bin \\\n"
    "           --tokenizer llm/llama/weights/tok512.bin --temperature 0 --steps 200";

typedef struct gen_opts {
    const char *model, *tokenizer, *prompt;
    long steps, top_k, threads;
    double temperature, top_p;
    unsigned long long seed;
    int stats;
    vimo_llama_weights weights;
} gen_opts;

/* Parses --name as a number into *v; returns 0 on error (message printed). */
static int num_opt(int argc, char **argv, const char *name, int integer, double lo, double hi, double *v)
{
    const char *s = vimo_cli_opt(argc, argv, name);
    if (!s) return 1;
    char *end = NULL;
    errno = 0;
    double d = integer ? (double)strtoll(s, &end, 10) : strtod(s, &end);
    if (errno || end == s || *end || !(d >= lo && d <= hi)) {
        fprintf(stderr, "vimo generate: --%s %s: want a%s number in [%.15g, %.15g]\n", name, s,
                integer ? "n integer" : "", lo, hi);
        return 0;
    }
    *v = d;
    return 1;
}

/* --seed: any unsigned 64-bit value (0 or absent: the time). */
static int seed_opt(int argc, char **argv, unsigned long long *seed)
{
    const char *s = vimo_cli_opt(argc, argv, "seed");
    char *end = NULL;
    *seed = 0;
    if (!s) return 1;
    errno = 0;
    *seed = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') {
        fprintf(stderr, "vimo generate: --seed %s: want an unsigned integer\n", s);
        return 0;
    }
    return 1;
}

static int parse(int argc, char **argv, gen_opts *o)
{
    double steps = 256, top_k = 0, threads = 0, temp = 1.0, top_p = 0.9;
    o->model = vimo_cli_opt(argc, argv, "model");
    o->tokenizer = vimo_cli_opt(argc, argv, "tokenizer");
    const char *w = vimo_cli_opt(argc, argv, "weights");
    if (w && strcmp(w, "f32") && strcmp(w, "q8")) {
        fprintf(stderr, "vimo generate: --weights %s: want f32 or q8\n", w);
        return 0;
    }
    o->weights = w && !strcmp(w, "q8") ? VIMO_LLAMA_WEIGHTS_Q8 : VIMO_LLAMA_WEIGHTS_F32;
    o->prompt = vimo_cli_opt(argc, argv, "prompt");
    o->stats = vimo_cli_flag(argc, argv, "stats");
    if (!o->prompt) o->prompt = "";
    if (!o->model) {
        fprintf(stderr, "vimo generate: --model is required (see vimo help generate)\n");
        return 0;
    }
    if (!num_opt(argc, argv, "steps", 1, 0, 1 << 30, &steps) || !num_opt(argc, argv, "top-k", 1, 0, 1 << 30, &top_k) ||
        !num_opt(argc, argv, "threads", 1, 0, 1024, &threads) || !seed_opt(argc, argv, &o->seed) ||
        !num_opt(argc, argv, "temperature", 0, 0, 1e6, &temp) || !num_opt(argc, argv, "top-p", 0, 0, 1, &top_p))
        return 0;
    o->steps = (long)steps;
    o->top_k = (long)top_k;
    o->threads = (long)threads;
    o->temperature = temp;
    o->top_p = top_p;
    if (o->seed == 0) o->seed = (unsigned long long)time(NULL); /* run.c's default */
    return 1;
}

static int emit(void *user, int32_t prev, int32_t token)
{
    size_t n;
    const char *p = vimo_tokenizer_decode_piece(user, prev, token, VIMO_TOK_DECODE_SAFE, &n);
    fwrite(p, 1, n, stdout);
    fflush(stdout);
    return 0;
}

/* The tokenizer for the model (default for a HF folder: its tokenizer.json);
 * EOS from config.json where the tokenizer has none. */
static vimo_status open_tokenizer(const gen_opts *o, const vimo_llama_model *m, vimo_tokenizer **t)
{
    int hf = strcmp(m->cfg.arch, "llama2c") != 0;
    const char *path = o->tokenizer ? o->tokenizer : hf ? m->path : NULL; /* m->path: the HF folder */
    if (!path) return vimo_error(VIMO_ERR_INVALID, "a llama2.c model needs --tokenizer (tokenizer.bin)");
    vimo_status st = vimo_tokenizer_load(path, t);
    if (st) return st;
    int32_t n = vimo_tokenizer_vocab_size(*t), V = m->cfg.vocab_size;
    int llama2c = vimo_tokenizer_kind_of(*t) == VIMO_TOK_LLAMA2C;
    if (llama2c ? n != V : n > V)
        return vimo_error(VIMO_ERR_SHAPE, "tokenizer %s has %d ids, model %s has vocab_size %d", path, n, m->path, V);
    if (!llama2c && vimo_tokenizer_eos(*t) < 0 && m->cfg.eos_id >= 0)
        return vimo_tokenizer_set_special(*t, vimo_tokenizer_bos(*t), m->cfg.eos_id);
    return VIMO_OK;
}

static int run(const gen_opts *o)
{
    vimo_status st = VIMO_OK;
    vimo_llama_model *m = NULL;
    vimo_tokenizer *t = NULL;
    vimo_llama_decoder *d = NULL;
    vimo_llama_sampler s = {0};
    int32_t *ids = NULL;
    size_t n = 0, len = strlen(o->prompt);
    VIMO_TRY(vimo_llama_load(o->model, &m));
    VIMO_TRY(open_tokenizer(o, m, &t));
    if (!(ids = malloc((6 * len + 8) * sizeof *ids))) {
        st = vimo_error(VIMO_ERR_NOMEM, "out of memory");
        goto fail;
    }
    VIMO_TRY(vimo_tokenizer_encode(t, o->prompt, len, 1, 0, ids, 6 * len + 8, &n));
    if (n == 0) {
        st = vimo_error(VIMO_ERR_INVALID, "empty prompt and the tokenizer has no BOS to start from");
        goto fail;
    }
    long steps = o->steps == 0 || o->steps > m->cfg.seq_len ? m->cfg.seq_len : o->steps; /* run.c */
    vimo_llama_decoder_opts dopt = {.max_pos = (int)steps, .n_threads = (int)o->threads, .weights = o->weights};
    VIMO_TRY(vimo_llama_decoder_new_opts(m, &dopt, &d));
    VIMO_TRY(vimo_llama_sampler_init(&s, m->cfg.vocab_size, (float)o->temperature, (float)o->top_p, (int)o->top_k,
                                     o->seed));
    /* run.c never prints the first prompt token: it is BOS. Without a BOS it is text. */
    if (ids[0] != vimo_tokenizer_bos(t)) emit(t, -1, ids[0]);
    int32_t stop[3] = {vimo_tokenizer_bos(t), vimo_tokenizer_eos(t), m->cfg.eos_id};
    vimo_llama_gen_stats gs;
    VIMO_TRY(vimo_llama_generate(d, &s, NULL, 0, ids, (int)n, (int)steps, stop, 3, emit, t, &gs));
    printf("\n");
    if (o->stats && gs.n_steps > 1 && gs.seconds_after_first > 0)
        fprintf(stderr, "achieved tok/s: %f\n", (gs.n_steps - 1) / gs.seconds_after_first);
fail:
    vimo_llama_sampler_free(&s);
    vimo_llama_decoder_free(d);
    vimo_tokenizer_free(t);
    vimo_llama_free(m);
    free(ids);
    if (st) fprintf(stderr, "vimo generate: %s\n", vimo_last_error());
    return st ? 1 : 0;
}

static int cmd_generate(int argc, char **argv)
{
    gen_opts o;
    if (!parse(argc, argv, &o)) return 2;
    return run(&o);
}

VIMO_COMMAND(g_cmd_generate, "generate", "generate text with a Llama-family model (llama2.c, HF Llama/Qwen2)", USAGE,
             cmd_generate)
