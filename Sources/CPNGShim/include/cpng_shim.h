// setjmp-safe wrapper around the system libpng (libpng-dev). libpng reports errors by longjmp to a
// jmp_buf the caller owns; this wrapper owns it, so a corrupt file becomes a return code and libpng's
// own message instead of a crash, and warnings are kept rather than printed.
#ifndef CPNG_SHIM_H
#define CPNG_SHIM_H
#include <stddef.h>

#define CPNG_MESSAGE_LENGTH 256

enum {
  CPNG_OK = 0,
  CPNG_ERROR_LIBPNG = 1,     // libpng reported an error (see message)
  CPNG_ERROR_TOO_LARGE = 2,  // declared size is over the caller's pixel limit
  CPNG_ERROR_NOT_PNG = 3,    // no PNG signature
  CPNG_ERROR_NO_MEMORY = 4,
  CPNG_ERROR_EMPTY = 5
};

typedef struct {
  int width;
  int height;
  int bit_depth;       // as the file declares: 1, 2, 4, 8 or 16
  int color_type;      // PNG's: 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA
  int interlaced;      // 1 for Adam7
  int had_alpha;       // 1 when an alpha channel or a tRNS chunk was dropped
  unsigned char *pixels;  // width*height*3 RGB bytes; free with cpng_free
  char message[CPNG_MESSAGE_LENGTH];
} cpng_decoded;

/// Decodes a PNG held in memory into 8-bit RGB: palettes expanded, grey replicated into R, G and B,
/// alpha and transparency dropped (as Pillow's convert("RGB") drops them), 16-bit samples scaled to 8
/// bits as round(v / 257), Adam7 de-interlaced, no gamma applied. Refuses images whose declared
/// width*height exceeds max_pixels before allocating them.
int cpng_decode(const unsigned char *data, size_t size, long long max_pixels, cpng_decoded *out);

void cpng_free(void *pointer);

#endif
