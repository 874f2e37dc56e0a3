// SPDX-License-Identifier: Apache-2.0
/*
 * Entry points of the libkrun 1.x API whose devices are not built yet.
 * They exist so that existing clients link; each returns -ENOSYS and says
 * so in the log.  README's status table lists them.
 */
#include <errno.h>

#include "libkrun.h"

#include "api/api.h"
#define UNUSED(x) (void)(x)

static int missing(const char *fn)
{
	log_error("%s is not implemented by this libkrun yet", fn);
	return -ENOSYS;
}

/* Upstream builds without the GPU feature accept and ignore these. */
KRUN_API int32_t krun_set_gpu_options(uint32_t ctx_id, uint32_t virgl_flags)
{
	UNUSED(ctx_id), UNUSED(virgl_flags);
	return 0;
}

KRUN_API int32_t krun_set_gpu_options2(uint32_t ctx_id, uint32_t virgl_flags, uint64_t shm_size)
{
	UNUSED(ctx_id), UNUSED(virgl_flags), UNUSED(shm_size);
	return 0;
}

KRUN_API int32_t krun_add_display(uint32_t ctx_id, uint32_t width, uint32_t height)
{
	UNUSED(ctx_id), UNUSED(width), UNUSED(height);
	return missing(__func__);
}

KRUN_API int32_t krun_display_set_edid(uint32_t ctx_id, uint32_t display_id,
				       const uint8_t *edid_blob, size_t blob_size)
{
	UNUSED(ctx_id), UNUSED(display_id), UNUSED(edid_blob), UNUSED(blob_size);
	return missing(__func__);
}

KRUN_API int32_t krun_display_set_dpi(uint32_t ctx_id, uint32_t display_id, uint32_t dpi)
{
	UNUSED(ctx_id), UNUSED(display_id), UNUSED(dpi);
	return missing(__func__);
}

KRUN_API int32_t krun_display_set_physical_size(uint32_t ctx_id, uint32_t display_id,
						uint16_t width_mm, uint16_t height_mm)
{
	UNUSED(ctx_id), UNUSED(display_id), UNUSED(width_mm), UNUSED(height_mm);
	return missing(__func__);
}

KRUN_API int32_t krun_display_set_refresh_rate(uint32_t ctx_id, uint32_t display_id,
					       uint32_t refresh_rate)
{
	UNUSED(ctx_id), UNUSED(display_id), UNUSED(refresh_rate);
	return missing(__func__);
}

KRUN_API int32_t krun_set_display_backend(uint32_t ctx_id, const void *display_backend,
					  size_t backend_size)
{
	UNUSED(ctx_id), UNUSED(display_backend), UNUSED(backend_size);
	return missing(__func__);
}

KRUN_API int krun_add_input_device(uint32_t ctx_id, const void *config_backend,
				   size_t config_backend_size, const void *events_backend,
				   size_t events_backend_size)
{
	UNUSED(ctx_id), UNUSED(config_backend), UNUSED(config_backend_size),
		UNUSED(events_backend), UNUSED(events_backend_size);
	return missing(__func__);
}

KRUN_API int krun_add_input_device_fd(uint32_t ctx_id, int input_fd)
{
	UNUSED(ctx_id), UNUSED(input_fd);
	return missing(__func__);
}

KRUN_API int32_t krun_set_snd_device(uint32_t ctx_id, bool enable)
{
	LOCK_CTX(c, ctx_id);
	ctx_unlock();
	if (!enable)
		return 0;
	log_error("%s: this libkrun has no sound device", __func__);
	return -ENOTSUP;
}

KRUN_API int32_t krun_set_tee_config_file(uint32_t ctx_id, const char *filepath)
{
	UNUSED(ctx_id), UNUSED(filepath);
	return missing(__func__);
}
