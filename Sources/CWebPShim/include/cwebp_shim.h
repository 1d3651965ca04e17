// A thin wrapper around the system libwebp (libwebp-dev): libwebp reports errors by return value, so
// no setjmp is needed; the wrapper adds the pixel limit and the messages.
#ifndef CWEBP_SHIM_H
#define CWEBP_SHIM_H
#include <stddef.h>

#define CWEBP_MESSAGE_LENGTH 256

enum { CWEBP_OK = 0, CWEBP_ERROR_CORRUPT = 1, CWEBP_ERROR_TOO_LARGE = 2, CWEBP_ERROR_UNSUPPORTED = 3 };

typedef struct {
  int width;
  int height;
  int has_alpha;          // the alpha channel is dropped, as Pillow's convert("RGB") drops it
  unsigned char *pixels;  // width*height*3 RGB bytes; free with cwebp_free
  char message[CWEBP_MESSAGE_LENGTH];
} cwebp_decoded;

/// Decodes a still WebP (lossy or lossless, with or without alpha) held in memory into 8-bit RGB.
/// Refuses images whose declared width*height exceeds max_pixels before decoding, and animations.
int cwebp_decode(const unsigned char *data, size_t size, long long max_pixels, cwebp_decoded *out);

void cwebp_free(void *pointer);

#endif
