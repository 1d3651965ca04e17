// setjmp/longjmp error handling around libpng: see include/cpng_shim.h.
#include "cpng_shim.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const unsigned char *data;
  size_t size;
  size_t position;
  char message[CPNG_MESSAGE_LENGTH];
} shim_source;

static void shim_copy_message(char *dst, const char *src) {
  strncpy(dst, src, CPNG_MESSAGE_LENGTH - 1);
  dst[CPNG_MESSAGE_LENGTH - 1] = 0;
}

// libpng's error callback: keep the message, jump back to cpng_decode's setjmp.
static void shim_error(png_structp png, png_const_charp message) {
  shim_source *source = (shim_source *)png_get_error_ptr(png);
  shim_copy_message(source->message, message);
  png_longjmp(png, 1);
}

// Warnings (a bad ancillary chunk, say) do not stop the decode and are not printed.
static void shim_warning(png_structp png, png_const_charp message) { (void)png; (void)message; }

static void shim_read(png_structp png, png_bytep out, png_size_t length) {
  shim_source *source = (shim_source *)png_get_io_ptr(png);
  if (length > source->size - source->position) png_error(png, "premature end of PNG data (the file is truncated)");
  memcpy(out, source->data + source->position, length);
  source->position += length;
}

int cpng_decode(const unsigned char *data, size_t size, long long max_pixels, cpng_decoded *out) {
  memset(out, 0, sizeof(*out));
  if (size == 0 || data == NULL) {
    shim_copy_message(out->message, "empty input (0 bytes)");
    return CPNG_ERROR_EMPTY;
  }
  if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
    shim_copy_message(out->message, "not a PNG file (no PNG signature)");
    return CPNG_ERROR_NOT_PNG;
  }
  shim_source source = {data, size, 0, {0}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, shim_error, shim_warning);
  if (!png) return CPNG_ERROR_NO_MEMORY;
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    return CPNG_ERROR_NO_MEMORY;
  }
  // volatile: modified between setjmp and a possible longjmp.
  unsigned char *volatile rgb = NULL;
  png_bytep *volatile rows = NULL;
  unsigned char *volatile raw = NULL;
  if (setjmp(png_jmpbuf(png))) {
    free(rgb);
    free(rows);
    free(raw);
    png_destroy_read_struct(&png, &info, NULL);
    shim_copy_message(out->message, source.message);
    return CPNG_ERROR_LIBPNG;
  }
  png_set_read_fn(png, &source, shim_read);
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_read_info(png, info);
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
  out->width = (int)width;
  out->height = (int)height;
  out->bit_depth = bit_depth;
  out->color_type = color_type;
  out->interlaced = interlace != PNG_INTERLACE_NONE;
  out->had_alpha = (color_type & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS);
  if ((long long)width * (long long)height > max_pixels) {
    png_destroy_read_struct(&png, &info, NULL);
    shim_copy_message(out->message, "declared size is over the pixel limit");
    return CPNG_ERROR_TOO_LARGE;
  }
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (bit_depth == 16) png_set_scale_16(png);  // (v * 255 + 32895) >> 16 = round(v / 257)
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  int channels = png_get_channels(png, info);
  size_t row_bytes = png_get_rowbytes(png, info);
  if (png_get_bit_depth(png, info) != 8 || channels < 1 || channels > 4 || row_bytes != (size_t)width * channels) {
    png_error(png, "unexpected layout after the transforms");
  }
  raw = malloc(row_bytes * height);
  rows = malloc(sizeof(png_bytep) * height);
  rgb = malloc((size_t)width * height * 3);
  if (!raw || !rows || !rgb) png_error(png, "out of memory");
  for (png_uint_32 y = 0; y < height; y++) rows[y] = raw + y * row_bytes;
  png_read_image(png, rows);
  // Grey (1 or 2 channels) replicated, RGB(A) copied; alpha, wherever it came from, dropped.
  for (size_t i = 0, n = (size_t)width * height; i < n; i++) {
    const unsigned char *p = raw + i * channels;
    unsigned char *q = rgb + i * 3;
    if (channels <= 2) {
      q[0] = q[1] = q[2] = p[0];
    } else {
      q[0] = p[0]; q[1] = p[1]; q[2] = p[2];
    }
  }
  free(rows);
  free(raw);
  png_destroy_read_struct(&png, &info, NULL);
  out->pixels = rgb;
  return CPNG_OK;
}

void cpng_free(void *pointer) { free(pointer); }
