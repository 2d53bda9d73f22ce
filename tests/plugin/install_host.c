/*
 * install_host.c - a program built against an installed vimo (pkg-config
 * flags only): finds plugin argv[1] with the installed loader, checks it
 * came from folder argv[2], runs its encoder forward and backward.
 * Compiled and run by install_test.sh; exits non-zero with a message on
 * any failure.
 */
#include <stdio.h>
#include <string.h>

#include <vimo/encoder.h>
#include <vimo/vimo.h>

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (!(c)) {                                                                       \
            fprintf(stderr, "install_host: %s:%d: %s (%s)\n", __FILE__, __LINE__, #c,     \
                    vimo_last_error());                                                   \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

int main(int argc, char **argv)
{
    const vimo_plugin_desc *d = NULL;
    const char *path = NULL;
    vimo_options *o = NULL;
    vimo_instance *inst = NULL;
    vimo_ctx *ctx = NULL;
    vimo_tensor *x = NULL, *tokens = NULL, *loss = NULL;
    CHECK(argc == 3);
    CHECK(vimo_plugin_find(argv[1], &d) == VIMO_OK);
    for (int i = 0; i < vimo_plugin_count(); i++)
        if (vimo_plugin_at(i, &path) == d) break;
    CHECK(path && strncmp(path, argv[2], strlen(argv[2])) == 0);
    CHECK(vimo_options_new(&o, d) == VIMO_OK);
    CHECK(vimo_options_set(o, "in_dim", "6") == VIMO_OK);
    CHECK(vimo_options_set(o, "dim", "5") == VIMO_OK);
    CHECK(vimo_options_set(o, "pool", "3") == VIMO_OK);
    CHECK(vimo_instance_new(&inst, argv[1], o) == VIMO_OK);
    const vimo_encoder_iface *enc = vimo_instance_iface(inst, VIMO_IFACE_ENCODER);
    const vimo_module_iface *mod = vimo_instance_iface(inst, VIMO_IFACE_MODULE);
    CHECK(enc && mod && mod->num_params(vimo_instance_handle(inst)) == 4);
    CHECK(vimo_ctx_new(&ctx) == VIMO_OK);
    CHECK(vimo_tensor_new3(&x, 2, 7, 6) == VIMO_OK); /* T = 7, pool 3 -> 2 tokens */
    vimo_tensor_fill(x, 0.25f);
    CHECK(enc->forward(vimo_instance_handle(inst), ctx, x, 2, NULL, &tokens) == VIMO_OK);
    CHECK(vimo_tensor_dim(tokens, 0) == 2 && vimo_tensor_dim(tokens, 1) == 2 && vimo_tensor_dim(tokens, 2) == 5);
    CHECK(vimo_sum(ctx, &loss, tokens) == VIMO_OK);
    CHECK(vimo_backward(ctx, loss) == VIMO_OK);
    const char *name = NULL;
    vimo_tensor *w = mod->param(vimo_instance_handle(inst), 0, &name);
    CHECK(vimo_tensor_grad(w) != NULL);
    printf("install_host: %s from %s: tokens (2, 2, 5), %s has a gradient\n", argv[1], path, name);
    vimo_tensor_free(x);
    vimo_ctx_free(ctx);
    vimo_instance_free(inst);
    vimo_options_free(o);
    return 0;
}
