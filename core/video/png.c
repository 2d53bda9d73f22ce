/*
 * png.c - RGB8 images to PNG files with cairo (cairo_surface_write_to_png).
 *
 * Does not read PNGs and does not write alpha: frames are opaque.
 */
#include <cairo.h>

#include "vimo/video.h"

vimo_status vimo_video_write_png(const char *path, const uint8_t *rgb, int width, int height)
{
    if (!path || !rgb || width < 1 || height < 1 || width > VIMO_VIDEO_MAX_SIDE ||
        height > VIMO_VIDEO_MAX_SIDE)
        return vimo_error(VIMO_ERR_INVALID, "png: %s: bad image %dx%d", path ? path : "(null)",
                          width, height);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return vimo_error(VIMO_ERR_NOMEM, "png: %s: %dx%d surface", path, width, height);
    }
    /* CAIRO_FORMAT_RGB24 is one native-endian uint32 0x00RRGGBB per pixel. */
    cairo_surface_flush(s);
    unsigned char *dst = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < height; y++) {
        uint32_t *row = (uint32_t *)(void *)(dst + (size_t)y * stride);
        const uint8_t *p = rgb + (size_t)y * width * 3;
        for (int x = 0; x < width; x++, p += 3)
            row[x] = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    }
    cairo_surface_mark_dirty(s);
    cairo_status_t cs = cairo_surface_write_to_png(s, path);
    cairo_surface_destroy(s);
    if (cs != CAIRO_STATUS_SUCCESS)
        return vimo_error(VIMO_ERR_IO, "png: %s: %s", path, cairo_status_to_string(cs));
    return VIMO_OK;
}
