/*
 * hostdev_plugin.c - backend.hostdev: the fake device of fake_device.h as a
 * loadable backend plugin (tests only, never installed), so that scripts
 * reach it the way they reach the CUDA backend: vimo_backend_get("hostdev")
 * in C, vimo.device("hostdev") or t:move("hostdev") in Lua. The plugin is
 * written into the build tree's plugin folder, where the loader of a build
 * tree looks.
 *
 * A process that also links fake_device.c and calls fake_device_register
 * gets a second "hostdev" descriptor: registering both fails with
 * "another backend has the name" (use one or the other).
 */
#include <string.h>

#include "fake_device.h"
#include "vimo/plugin.h"

/* A backend has no instances: create/destroy exist for the loader's checks. */
static vimo_status create(const vimo_options *opts, void **inst)
{
    (void)opts;
    *inst = (void *)fake_device_backend();
    return VIMO_OK;
}
static void destroy(void *inst) { (void)inst; }

static const void *get_iface(const char *name)
{
    return strcmp(name, VIMO_IFACE_BACKEND) ? NULL : (const void *)fake_device_backend();
}

VIMO_PLUGIN_DEFINE(hostdev) = {
    VIMO_PLUGIN_HEADER,
    .kind = VIMO_PLUGIN_BACKEND,
    .id = "backend.hostdev",
    .version = "0.1.0",
    .license = "MIT",
    .summary = "test-only fake device: CPU kernels behind pointers the host cannot dereference",
    .options = NULL,
    .create = create,
    .destroy = destroy,
    .get_iface = get_iface,
};
