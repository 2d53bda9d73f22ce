/*
 * test_device.c - the device machinery on the "hostdev" fake device
 * (fake_device.h), so it runs on machines without a GPU: registration and
 * ABI checks, placement and copies, vimo_tensor_data's refusal, mixed-device
 * errors naming the op, dispatch of forward and backward to the device's
 * kernels, the differentiable transfer op, a training run that must be
 * bit-identical to the CPU's (hostdev runs the CPU kernels), checkpoints of
 * device tensors (saved and loaded through host copies), and a kernel table
 * from an older ABI minor (shorter: its missing kernels fail cleanly).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vimo/checkpoint.h"
#include "../core/toy_model.h"
#include "fake_device.h"

static int g_dev;

static int setup(void **state)
{
    (void)state;
    g_dev = fake_device_register();
    return g_dev > 0 ? 0 : -1;
}

static void test_registry(void **state)
{
    (void)state;
    int d = -1;
    assert_int_equal(vimo_backend_get("hostdev", &d), VIMO_OK);
    assert_int_equal(d, g_dev);
    assert_int_equal(vimo_backend_get("cpu", &d), VIMO_OK);
    assert_int_equal(d, 0);
    assert_string_equal(vimo_device_name(g_dev), "hostdev");
    assert_string_equal(vimo_device_name(0), "cpu");
    assert_null(vimo_backend_of(VIMO_MAX_DEVICES));
    /* again: the same id */
    assert_int_equal(vimo_backend_register(fake_device_backend(), &d), VIMO_OK);
    assert_int_equal(d, g_dev);
    /* a newer ABI minor, a wrong major, a missing kernel, a taken name */
    vimo_backend b = *fake_device_backend();
    b.abi_minor = VIMO_BACKEND_ABI_MINOR + 1;
    assert_int_equal(vimo_backend_register(&b, &d), VIMO_ERR_ABI);
    b = *fake_device_backend();
    b.abi_major = VIMO_BACKEND_ABI_MAJOR + 1;
    assert_int_equal(vimo_backend_register(&b, &d), VIMO_ERR_ABI);
    vimo_backend_kernels k = *fake_device_backend()->kernels;
    k.attention_bwd = NULL;
    b = *fake_device_backend();
    b.kernels = &k;
    b.name = "hostdev2";
    assert_int_equal(vimo_backend_register(&b, &d), VIMO_ERR_FORMAT);
    assert_non_null(strstr(vimo_last_error(), "NULL"));
    b = *fake_device_backend();
    assert_int_equal(vimo_backend_register(&b, &d), VIMO_ERR_STATE); /* another "hostdev" */
    /* a backend that is not there: a clear error, no crash */
    assert_int_equal(vimo_backend_get("nosuch", &d), VIMO_ERR_NOT_FOUND);
    assert_non_null(strstr(vimo_last_error(), "backend.nosuch"));
}

static void test_placement(void **state)
{
    (void)state;
    vimo_tensor *h, *d, *back, *v;
    vimo_ctx *c;
    float src[12], dst[12];
    for (int i = 0; i < 12; i++) src[i] = (float)i - 3.5f;
    assert_int_equal(vimo_tensor_new2(&h, 3, 4), VIMO_OK);
    assert_int_equal(vimo_tensor_copy_from(h, src, 12), VIMO_OK);
    assert_int_equal(vimo_tensor_to(&d, h, g_dev), VIMO_OK);
    assert_int_equal(vimo_tensor_device(d), g_dev);
    /* no host pointer for device memory */
    assert_null(vimo_tensor_data(d));
    assert_non_null(strstr(vimo_last_error(), "hostdev"));
    assert_null(vimo_tensor_grad(d));
    assert_non_null(vimo_tensor_device_data(d));
    assert_int_equal(vimo_tensor_copy_to(d, dst, 12), VIMO_OK);
    assert_memory_equal(src, dst, sizeof src);
    /* a strided view on the device, read and written through copies */
    assert_int_equal(vimo_ctx_new(&c), VIMO_OK);
    assert_int_equal(vimo_transpose(c, &v, d, 0, 1), VIMO_OK);
    assert_int_equal(vimo_tensor_device(v), g_dev);
    assert_int_equal(vimo_tensor_copy_to(v, dst, 12), VIMO_OK);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) assert_true(dst[i * 3 + j] == src[j * 4 + i]);
    vimo_tensor_fill(v, 2.0f);
    assert_int_equal(vimo_tensor_copy_to(d, dst, 12), VIMO_OK);
    for (int i = 0; i < 12; i++) assert_true(dst[i] == 2.0f);
    vimo_ctx_free(c);
    assert_int_equal(vimo_tensor_to(&back, d, 0), VIMO_OK);
    assert_int_equal(vimo_tensor_device(back), 0);
    assert_true(vimo_tensor_data(back)[5] == 2.0f);
    /* in-place move keeps the handle; a gradient moves with it */
    assert_int_equal(vimo_tensor_set_requires_grad(h, 1), VIMO_OK);
    vimo_tensor_grad(h)[1] = 7.0f;
    assert_int_equal(vimo_tensor_move(h, g_dev), VIMO_OK);
    assert_int_equal(vimo_tensor_device(h), g_dev);
    assert_int_equal(vimo_tensor_grad_to_host(h, dst, 12), VIMO_OK);
    assert_true(dst[1] == 7.0f && dst[0] == 0.0f);
    assert_int_equal(vimo_tensor_move(h, 0), VIMO_OK);
    assert_true(vimo_tensor_data(h)[3] == src[3] && vimo_tensor_grad(h)[1] == 7.0f);
    vimo_tensor_free(h);
    vimo_tensor_free(d);
    vimo_tensor_free(back);
    assert_int_equal(fake_device_live(), 0); /* every device allocation freed */
}

static void test_mixed_devices(void **state)
{
    (void)state;
    vimo_tensor *x, *w, *wd, *y = (vimo_tensor *)1;
    vimo_ctx *c;
    assert_int_equal(vimo_ctx_new(&c), VIMO_OK);
    assert_int_equal(vimo_tensor_new2(&x, 2, 3), VIMO_OK);
    assert_int_equal(vimo_tensor_new2(&w, 4, 3), VIMO_OK);
    assert_int_equal(vimo_tensor_to(&wd, w, g_dev), VIMO_OK);
    assert_int_equal(vimo_matmul(c, &y, x, wd, NULL), VIMO_ERR_INVALID);
    assert_null(y);
    assert_non_null(strstr(vimo_last_error(), "matmul: x on cpu, W on hostdev"));
    assert_int_equal(vimo_add(c, &y, wd, w), VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), "add: a on hostdev, b on cpu"));
    assert_int_equal(vimo_concat(c, &y, (vimo_tensor *[]){w, wd}, 2, 0), VIMO_ERR_INVALID);
    assert_non_null(strstr(vimo_last_error(), "concat"));
    /* the transfer op: forward to the device, gradient back to the cpu */
    vimo_tensor *xd, *h, *loss;
    assert_int_equal(vimo_tensor_set_requires_grad(x, 1), VIMO_OK);
    vimo_tensor_fill(x, 0.5f);
    vimo_tensor_fill(wd, 2.0f);
    assert_int_equal(vimo_to_device(c, &xd, x, g_dev), VIMO_OK);
    assert_int_equal(vimo_matmul(c, &h, xd, wd, NULL), VIMO_OK);
    assert_int_equal(vimo_sum(c, &loss, h), VIMO_OK);
    assert_int_equal(vimo_tensor_device(loss), g_dev);
    long before = fake_device_calls();
    assert_int_equal(vimo_backward(c, loss), VIMO_OK);
    assert_true(fake_device_calls() > before); /* backward ran on the device */
    float l;
    assert_int_equal(vimo_tensor_copy_to(loss, &l, 1), VIMO_OK);
    assert_true(l == 2 * 4 * 3 * 0.5f * 2.0f);
    for (int i = 0; i < 6; i++) assert_true(vimo_tensor_grad(x)[i] == 8.0f); /* sum over 4 outputs of W = 2 */
    vimo_ctx_free(c);
    vimo_tensor_free(x);
    vimo_tensor_free(w);
    vimo_tensor_free(wd);
}

/* The toy transformer trained 8 steps: on hostdev every kernel is the
 * CPU's, so every loss must be bit-identical to the CPU run. */
static void train(int dev, float *losses)
{
    vimo_rng r, drop;
    toy_tf m;
    vimo_adamw *opt;
    vimo_ctx *c;
    vimo_rng_seed(&r, 3);
    vimo_rng_seed(&drop, 4);
    toy_tf_init(&m, 10, 32, 4, 2, 48, &r);
    for (int i = 0; i < 11; i++) assert_int_equal(vimo_tensor_move(m.params[i], dev), VIMO_OK);
    assert_int_equal(vimo_adamw_new(&opt, NULL), VIMO_OK);
    assert_int_equal(vimo_adamw_add_group(opt, m.params, 11, 1e-2f, 0.01f, NULL), VIMO_OK);
    assert_int_equal(vimo_ctx_new(&c), VIMO_OK);
    int32_t ids[16], tg[16];
    uint8_t mask[16];
    for (int s = 0; s < 8; s++) {
        for (int i = 0; i < 16; i++) {
            ids[i] = (int32_t)((i * 3 + s) % 10);
            tg[i] = i == 0 ? -100 : ids[i];
            mask[i] = i != 15;
        }
        vimo_tensor *loss;
        vimo_ctx_reset(c);
        vimo_adamw_zero_grad(opt);
        assert_int_equal(toy_tf_loss(c, &m, ids, tg, 2, 8, mask, 0.1f, &drop, &loss), VIMO_OK);
        assert_int_equal(vimo_tensor_device(loss), dev);
        assert_int_equal(vimo_backward(c, loss), VIMO_OK);
        assert_int_equal(vimo_clip_grad_norm(m.params, 11, 1.0f, NULL), VIMO_OK);
        assert_int_equal(vimo_adamw_step(opt, 1.0f), VIMO_OK);
        assert_int_equal(vimo_tensor_copy_to(loss, &losses[s], 1), VIMO_OK);
    }
    if (dev) { /* moments have no host pointer there */
        float *mm;
        assert_int_equal(vimo_adamw_moments(opt, 0, 0, NULL, &mm, NULL), VIMO_ERR_UNSUPPORTED);
    }
    vimo_ctx_free(c);
    vimo_adamw_free(opt);
    toy_tf_free(&m);
}

static void test_train_bit_identical(void **state)
{
    (void)state;
    float lc[8], ld[8];
    train(0, lc);
    long before = fake_device_calls();
    train(g_dev, ld);
    assert_true(fake_device_calls() - before > 8 * 40);
    for (int s = 0; s < 8; s++) {
        printf("step %d: cpu %.7f hostdev %.7f\n", s, (double)lc[s], (double)ld[s]);
        assert_memory_equal(&lc[s], &ld[s], sizeof(float));
    }
    assert_true(lc[7] < lc[0]);
    assert_int_equal(fake_device_live(), 0);
}

/* Checkpoints read and write device tensors through host copies: a hostdev
 * tensor (and a strided view of one) round-trips, loading into a device
 * tensor works, and AdamW moments on a device are saved and restored. */
static void test_checkpoint(void **state)
{
    (void)state;
    char path[] = "/tmp/vimo_test_device_ckpt_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    float src[12], dst[12];
    for (int i = 0; i < 12; i++) src[i] = (float)i * 0.25f - 1.0f;
    vimo_tensor *h, *d, *v, *back, *dd;
    vimo_ctx *c;
    assert_int_equal(vimo_ctx_new(&c), VIMO_OK);
    assert_int_equal(vimo_tensor_new2(&h, 3, 4), VIMO_OK);
    assert_int_equal(vimo_tensor_copy_from(h, src, 12), VIMO_OK);
    assert_int_equal(vimo_tensor_to(&d, h, g_dev), VIMO_OK);
    assert_int_equal(vimo_transpose(c, &v, d, 0, 1), VIMO_OK); /* (4, 3) strided, on hostdev */
    vimo_ckpt_writer *w;
    assert_int_equal(vimo_ckpt_writer_new(&w, path), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_tensor(w, "w", d), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_tensor(w, "wt", v), VIMO_OK);
    assert_int_equal(vimo_ckpt_commit(w), VIMO_OK);
    vimo_ckpt_writer_free(w);
    vimo_ckpt *ck;
    assert_int_equal(vimo_ckpt_open(&ck, path), VIMO_OK);
    /* into a new host tensor: the device tensor's values */
    assert_int_equal(vimo_ckpt_load_tensor(ck, "w", &back), VIMO_OK);
    assert_int_equal(vimo_tensor_device(back), 0);
    assert_memory_equal(vimo_tensor_data(back), src, sizeof src);
    assert_int_equal(vimo_ckpt_read_f32(ck, "wt", dst, 12), VIMO_OK);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) assert_true(dst[i * 3 + j] == src[j * 4 + i]);
    /* into a device tensor and into a strided device view */
    assert_int_equal(vimo_tensor_new_on(&dd, g_dev, 2, (int64_t[]){3, 4}), VIMO_OK);
    assert_int_equal(vimo_ckpt_get_tensor(ck, "w", dd), VIMO_OK);
    assert_int_equal(vimo_tensor_copy_to(dd, dst, 12), VIMO_OK);
    assert_memory_equal(dst, src, sizeof src);
    vimo_tensor_fill(d, 0.0f);
    assert_int_equal(vimo_ckpt_get_tensor(ck, "wt", v), VIMO_OK); /* writes d through the view */
    assert_int_equal(vimo_tensor_copy_to(d, dst, 12), VIMO_OK);
    assert_memory_equal(dst, src, sizeof src);
    vimo_ckpt_close(ck);
    /* AdamW moments on a device are saved and restored through host copies */
    float m0[12], v0[12], m1[12], v1[12];
    for (int i = 0; i < 12; i++) m0[i] = 0.5f * (float)i, v0[i] = 1.0f + (float)i;
    vimo_adamw *opt;
    assert_int_equal(vimo_tensor_set_name(dd, "p"), VIMO_OK);
    assert_int_equal(vimo_tensor_set_requires_grad(dd, 1), VIMO_OK);
    assert_int_equal(vimo_adamw_new(&opt, NULL), VIMO_OK);
    assert_int_equal(vimo_adamw_add_group(opt, &dd, 1, 1e-3f, 0.0f, NULL), VIMO_OK);
    assert_int_equal(vimo_adamw_moments_from_host(opt, 0, 0, m0, v0), VIMO_OK);
    vimo_adamw_set_steps(opt, 5);
    assert_int_equal(vimo_ckpt_writer_new(&w, path), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_tensor(w, "p", dd), VIMO_OK);
    assert_int_equal(vimo_ckpt_add_adamw(w, opt), VIMO_OK);
    assert_int_equal(vimo_ckpt_commit(w), VIMO_OK);
    vimo_ckpt_writer_free(w);
    vimo_adamw_free(opt);
    /* into a fresh optimiser on the device, and into one on the host */
    vimo_tensor *hp;
    assert_int_equal(vimo_tensor_new2(&hp, 3, 4), VIMO_OK);
    assert_int_equal(vimo_tensor_set_requires_grad(hp, 1), VIMO_OK);
    for (int pass = 0; pass < 2; pass++) {
        vimo_tensor *p = pass ? hp : dd;
        assert_int_equal(vimo_adamw_new(&opt, NULL), VIMO_OK);
        assert_int_equal(vimo_adamw_add_group(opt, &p, 1, 1e-3f, 0.0f, NULL), VIMO_OK);
        assert_int_equal(vimo_ckpt_open(&ck, path), VIMO_OK);
        assert_int_equal(vimo_ckpt_get_tensor(ck, "p", p), VIMO_OK);
        assert_int_equal(vimo_ckpt_restore_adamw(ck, opt), VIMO_OK);
        vimo_ckpt_close(ck);
        assert_int_equal(vimo_adamw_steps(opt), 5);
        assert_int_equal(vimo_adamw_moments_to_host(opt, 0, 0, m1, v1), VIMO_OK);
        assert_memory_equal(m0, m1, sizeof m0);
        assert_memory_equal(v0, v1, sizeof v0);
        vimo_adamw_free(opt);
    }
    assert_memory_equal(vimo_tensor_data(hp), src, sizeof src);
    /* initialisation of a device tensor: the same draws as on the host */
    vimo_rng r1, r2;
    vimo_rng_seed(&r1, 9);
    vimo_rng_seed(&r2, 9);
    vimo_init_fan_in(hp, &r1, 4);
    vimo_init_fan_in(dd, &r2, 4);
    assert_int_equal(vimo_tensor_copy_to(dd, dst, 12), VIMO_OK);
    assert_memory_equal(dst, vimo_tensor_data(hp), sizeof dst);
    vimo_tensor_free(hp);
    vimo_ctx_free(c);
    vimo_tensor_free(h);
    vimo_tensor_free(d);
    vimo_tensor_free(back);
    vimo_tensor_free(dd);
    unlink(path);
    assert_int_equal(fake_device_live(), 0);
}

/* A backend built for an older ABI minor has a shorter kernel table: it
 * registers, and an op whose kernel it lacks fails with
 * VIMO_ERR_UNSUPPORTED naming the kernel and the backend, never a crash. */
static void test_older_minor(void **state)
{
    (void)state;
    static vimo_backend_kernels k;
    static vimo_backend b;
    k = *fake_device_backend()->kernels;
    k.size = (uint32_t)offsetof(vimo_backend_kernels, adamw); /* no adamw, no sumsq */
    k.adamw = NULL;
    k.sumsq = NULL;
    b = *fake_device_backend();
    b.name = "hostdev_old";
    b.kernels = &k;
    int d = -1;
    assert_int_equal(vimo_backend_register(&b, &d), VIMO_OK);
    assert_true(d > 0 && d != g_dev);
    assert_non_null(vimo_backend_kernels_of(d)->sumsq);
    /* an op it has works */
    vimo_tensor *p;
    assert_int_equal(vimo_tensor_new_on(&p, d, 1, (int64_t[]){8}), VIMO_OK);
    vimo_tensor_fill(p, 1.5f);
    float x[8];
    assert_int_equal(vimo_tensor_copy_to(p, x, 8), VIMO_OK);
    assert_true(x[7] == 1.5f);
    /* ops whose kernel it lacks: a clean error */
    assert_int_equal(vimo_tensor_set_requires_grad(p, 1), VIMO_OK);
    float norm;
    assert_int_equal(vimo_clip_grad_norm(&p, 1, 1.0f, &norm), VIMO_ERR_UNSUPPORTED);
    assert_non_null(strstr(vimo_last_error(), "sumsq"));
    assert_non_null(strstr(vimo_last_error(), "hostdev_old"));
    vimo_adamw *opt;
    assert_int_equal(vimo_adamw_new(&opt, NULL), VIMO_OK);
    assert_int_equal(vimo_adamw_add_group(opt, &p, 1, 1e-3f, 0.0f, NULL), VIMO_OK);
    assert_int_equal(vimo_adamw_step(opt, 1.0f), VIMO_ERR_UNSUPPORTED);
    assert_non_null(strstr(vimo_last_error(), "adamw"));
    vimo_adamw_free(opt);
    vimo_tensor_free(p);
    /* a table with an entry inside its size left NULL is still malformed */
    static vimo_backend_kernels k2;
    static vimo_backend b2;
    k2 = k;
    k2.copy = NULL;
    b2 = b;
    b2.name = "hostdev_bad";
    b2.kernels = &k2;
    assert_int_equal(vimo_backend_register(&b2, &d), VIMO_ERR_FORMAT);
    assert_non_null(strstr(vimo_last_error(), "copy"));
    assert_int_equal(vimo_backend_get("hostdev_bad", &d), VIMO_ERR_NOT_FOUND); /* nothing registered */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_placement),
        cmocka_unit_test(test_mixed_devices),
        cmocka_unit_test(test_train_bit_identical),
        cmocka_unit_test(test_checkpoint),
        cmocka_unit_test(test_older_minor),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
