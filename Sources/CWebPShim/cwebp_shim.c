// See include/cwebp_shim.h.
#include "cwebp_shim.h"

#include <string.h>
#include <webp/decode.h>

static void copy_message(char *dst, const char *src) {
  strncpy(dst, src, CWEBP_MESSAGE_LENGTH - 1);
  dst[CWEBP_MESSAGE_LENGTH - 1] = 0;
}

int cwebp_decode(const unsigned char *data, size_t size, long long max_pixels, cwebp_decoded *out) {
  memset(out, 0, sizeof(*out));
  WebPBitstreamFeatures features;
  VP8StatusCode status = WebPGetFeatures(data, size, &features);
  if (status != VP8_STATUS_OK) {
    copy_message(out->message, status == VP8_STATUS_NOT_ENOUGH_DATA ? "premature end of WebP data (the file is truncated)"
                                                                       : "not a valid WebP bitstream");
    return CWEBP_ERROR_CORRUPT;
  }
  out->width = features.width;
  out->height = features.height;
  out->has_alpha = features.has_alpha;
  if (features.has_animation) {
    copy_message(out->message, "an animated WebP: only still images are read");
    return CWEBP_ERROR_UNSUPPORTED;
  }
  if ((long long)features.width * (long long)features.height > max_pixels) {
    copy_message(out->message, "declared size is over the pixel limit");
    return CWEBP_ERROR_TOO_LARGE;
  }
  int width = 0, height = 0;
  unsigned char *rgb = WebPDecodeRGB(data, size, &width, &height);
  if (!rgb || width != features.width || height != features.height) {
    if (rgb) WebPFree(rgb);
    copy_message(out->message, "the WebP data is corrupt (libwebp could not decode it)");
    return CWEBP_ERROR_CORRUPT;
  }
  out->pixels = rgb;
  return CWEBP_OK;
}

void cwebp_free(void *pointer) { WebPFree(pointer); }
