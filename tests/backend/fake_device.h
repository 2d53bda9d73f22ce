/*
 * fake_device.h - "hostdev", a test-only backend whose device memory is
 * host memory the host must not touch (tests only).
 *
 * It runs vimo's CPU kernels (vimo_backend_cpu), but every pointer it hands
 * out is the real address plus 2^47: a non-canonical x86-64 address, so any
 * host code that reads a device pointer as host memory faults at once
 * instead of silently working. Its kernels translate the pointers back and
 * fail (VIMO_ERR_INTERNAL, "hostdev: <kernel> got a host pointer") when
 * given one that is not device memory, which catches ops that forget to
 * move an argument. New memory is filled with NaN bytes (poison), so a
 * kernel that reads what nobody wrote shows up in the results.
 * What it does not check: asynchrony (everything is synchronous here) and
 * the numerics of a real device (that is the CUDA op test's job).
 */
#ifndef VIMO_TEST_FAKE_DEVICE_H
#define VIMO_TEST_FAKE_DEVICE_H

#include "vimo/backend.h"

/* Registers "hostdev" (once per process) and returns its device id, or -1
 * with vimo_last_error() set. */
int fake_device_register(void);
/* The descriptor (for ABI tests that copy and alter it). */
const vimo_backend *fake_device_backend(void);
/* Kernel calls since the start, and live allocations. */
long fake_device_calls(void);
long fake_device_live(void);

#endif
