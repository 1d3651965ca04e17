// setjmp-safe wrappers around the system libjpeg. libjpeg's default error handler calls exit();
// these wrappers turn every libjpeg error (and every warning about corrupt data) into a return
// code plus libjpeg's own message, so Swift can throw instead of the process dying.
#ifndef CJPEG_SHIM_H
#define CJPEG_SHIM_H
#include <stddef.h>

#define CJPEG_MESSAGE_LENGTH 256
/// libjpeg's working memory per decode (1.5 GB): a 179 MP progressive colour photo needs about 1.1 GB.
#define CJPEG_MAX_LIBJPEG_MEMORY (1536L * 1024 * 1024)

/// Result codes.
enum {
  CJPEG_OK = 0,
  CJPEG_ERROR_LIBJPEG = 1,      // libjpeg reported an error or a corrupt-data warning (see message)
  CJPEG_ERROR_TOO_LARGE = 2,    // declared size is over the caller's pixel limit
  CJPEG_ERROR_UNSUPPORTED = 3,  // colour space we do not convert (CMYK / YCCK)
  CJPEG_ERROR_NO_MEMORY = 4,
  CJPEG_ERROR_EMPTY = 5         // zero-length input
};

typedef struct {
  int width;
  int height;
  int source_components;              // 1 = grayscale, 3 = YCbCr/RGB in the file
  int progressive;                    // 1 when the file is progressive
  int scale_denom;                    // 1, or 2/4/8 when decoded reduced (cjpeg_decode_reduced)
  int source_width, source_height;    // the size the file declares
  unsigned char *pixels;              // width*height*3 RGB bytes, row-major; free with cjpeg_free
  char message[CJPEG_MESSAGE_LENGTH]; // libjpeg's message when the result is not CJPEG_OK
} cjpeg_decoded;

/// Decodes a JPEG held in memory into 8-bit RGB (grayscale is replicated into R, G, B).
/// Refuses images whose declared width*height exceeds max_pixels before allocating anything.
int cjpeg_decode(const unsigned char *data, size_t size, long long max_pixels, cjpeg_decoded *out);

/// The same, except that an image over max_pixels is decoded reduced by libjpeg's DCT scaling (1/8, 1/4
/// or 1/2: the most reduced whose shorter side is still >= min_short_side and whose size is within
/// max_pixels) instead of refused; min_short_side <= 0 refuses it as cjpeg_decode does.
int cjpeg_decode_reduced(const unsigned char *data, size_t size, long long max_pixels, int min_short_side, cjpeg_decoded *out);

/// Encodes width*height*3 RGB bytes as a baseline JPEG (4:2:0, the given quality 1..100).
/// On success *out_data (free with cjpeg_free) and *out_size hold the file.
int cjpeg_encode_rgb(const unsigned char *rgb, int width, int height, int quality,
                     unsigned char **out_data, unsigned long *out_size, char *message);

void cjpeg_free(void *pointer);

#endif
