// setjmp/longjmp error handling around libjpeg: see include/cjpeg_shim.h.
#include "cjpeg_shim.h"

#include <stdio.h>  // before jpeglib.h, which uses FILE
#include <jpeglib.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  struct jpeg_error_mgr base;
  jmp_buf jump;
  char message[CJPEG_MESSAGE_LENGTH];
  int warned;
} shim_error_mgr;

// Called by libjpeg on a fatal error: remember the message and jump back instead of exit().
static void shim_error_exit(j_common_ptr cinfo) {
  shim_error_mgr *err = (shim_error_mgr *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

// Called for warnings (msg_level -1) and trace messages (>= 0). A warning means the data is
// corrupt (bad Huffman code, premature end of file, ...): keep the first one's text.
static void shim_emit_message(j_common_ptr cinfo, int msg_level) {
  shim_error_mgr *err = (shim_error_mgr *)cinfo->err;
  if (msg_level < 0) {
    if (!err->warned) (*cinfo->err->format_message)(cinfo, err->message);
    err->warned = 1;
    cinfo->err->num_warnings++;
  }
}

static void shim_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void shim_copy_message(char *dst, const char *src) {
  strncpy(dst, src, CJPEG_MESSAGE_LENGTH - 1);
  dst[CJPEG_MESSAGE_LENGTH - 1] = 0;
}

int cjpeg_decode(const unsigned char *data, size_t size, long long max_pixels, cjpeg_decoded *out) {
  return cjpeg_decode_reduced(data, size, max_pixels, 0, out);
}

int cjpeg_decode_reduced(const unsigned char *data, size_t size, long long max_pixels, int min_short_side, cjpeg_decoded *out) {
  memset(out, 0, sizeof(*out));
  if (size == 0 || data == NULL) {
    shim_copy_message(out->message, "empty input (0 bytes)");
    return CJPEG_ERROR_EMPTY;
  }
  struct jpeg_decompress_struct cinfo;
  shim_error_mgr jerr;
  memset(&jerr, 0, sizeof(jerr));
  cinfo.err = jpeg_std_error(&jerr.base);
  jerr.base.error_exit = shim_error_exit;
  jerr.base.emit_message = shim_emit_message;
  jerr.base.output_message = shim_output_message;
  // volatile: these are modified between setjmp and a possible longjmp.
  unsigned char *volatile pixels = NULL;
  unsigned char *volatile row = NULL;

  if (setjmp(jerr.jump)) {
    jpeg_destroy_decompress(&cinfo);
    free(pixels);
    free(row);
    shim_copy_message(out->message, jerr.message);
    return CJPEG_ERROR_LIBJPEG;
  }
  jpeg_create_decompress(&cinfo);
  // A cap on libjpeg's own memory: a progressive JPEG keeps every DCT coefficient of the whole image
  // (width x height x components x 2 bytes, at any output scale), so a small file declaring 65500x65500
  // would ask for 25 GB. Past the cap libjpeg asks for a backing store, which this build lacks: an error.
  cinfo.mem->max_memory_to_use = CJPEG_MAX_LIBJPEG_MEMORY;
  jpeg_mem_src(&cinfo, data, (unsigned long)size);
  jpeg_read_header(&cinfo, TRUE);

  long long declared = (long long)cinfo.image_width * (long long)cinfo.image_height;
  out->scale_denom = 1;
  if (declared > max_pixels) {
    // Over the limit: decode at 1/2, 1/4 or 1/8 in the DCT (libjpeg's scaling, nearly free), the most
    // reduced that still keeps the shorter side at min_short_side, when the caller allows it.
    int chosen = 0;
    for (int d = 8; d >= 2 && min_short_side > 0; d /= 2) {
      long long w = ((long long)cinfo.image_width + d - 1) / d, h = ((long long)cinfo.image_height + d - 1) / d;
      if ((w < h ? w : h) >= min_short_side && w * h <= max_pixels) { chosen = d; break; }
    }
    if (!chosen) {
      snprintf(out->message, CJPEG_MESSAGE_LENGTH,
               "declared size %ux%u (%lld pixels) is over the limit of %lld pixels",
               cinfo.image_width, cinfo.image_height, declared, max_pixels);
      jpeg_destroy_decompress(&cinfo);
      return CJPEG_ERROR_TOO_LARGE;
    }
    cinfo.scale_num = 1;
    cinfo.scale_denom = (unsigned int)chosen;
    out->scale_denom = chosen;
  }
  out->source_width = (int)cinfo.image_width;
  out->source_height = (int)cinfo.image_height;
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    shim_copy_message(out->message, "CMYK/YCCK JPEGs are not supported (convert the file to RGB)");
    jpeg_destroy_decompress(&cinfo);
    return CJPEG_ERROR_UNSUPPORTED;
  }
  int gray = cinfo.num_components == 1;
  out->source_components = cinfo.num_components;
  out->progressive = cinfo.progressive_mode ? 1 : 0;
  // libjpeg's defaults, as Pillow uses them: JDCT_ISLOW and fancy upsampling.
  cinfo.out_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);

  size_t width = cinfo.output_width, height = cinfo.output_height;
  pixels = (unsigned char *)malloc(width * height * 3);
  row = (unsigned char *)malloc(width * (size_t)cinfo.output_components);
  if (!pixels || !row) {
    jpeg_destroy_decompress(&cinfo);
    free(pixels);
    free(row);
    shim_copy_message(out->message, "out of memory");
    return CJPEG_ERROR_NO_MEMORY;
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    size_t y = cinfo.output_scanline;
    JSAMPROW rows[1] = {row};
    jpeg_read_scanlines(&cinfo, rows, 1);
    unsigned char *dst = pixels + y * width * 3;
    if (gray) {
      for (size_t x = 0; x < width; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
    } else {
      memcpy(dst, row, width * 3);
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  free(row);
  if (jerr.warned) {
    free(pixels);
    shim_copy_message(out->message, jerr.message);
    return CJPEG_ERROR_LIBJPEG;
  }
  out->width = (int)width;
  out->height = (int)height;
  out->pixels = pixels;
  return CJPEG_OK;
}

int cjpeg_encode_rgb(const unsigned char *rgb, int width, int height, int quality,
                     unsigned char **out_data, unsigned long *out_size, char *message) {
  struct jpeg_compress_struct cinfo;
  shim_error_mgr jerr;
  memset(&jerr, 0, sizeof(jerr));
  cinfo.err = jpeg_std_error(&jerr.base);
  jerr.base.error_exit = shim_error_exit;
  jerr.base.emit_message = shim_emit_message;
  jerr.base.output_message = shim_output_message;
  unsigned char *volatile buffer = NULL;
  unsigned long buffer_size = 0;
  *out_data = NULL;
  *out_size = 0;
  if (setjmp(jerr.jump)) {
    jpeg_destroy_compress(&cinfo);
    free(buffer);
    shim_copy_message(message, jerr.message);
    return CJPEG_ERROR_LIBJPEG;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, (unsigned char **)&buffer, &buffer_size);
  cinfo.image_width = (JDIMENSION)width;
  cinfo.image_height = (JDIMENSION)height;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW rows[1] = {(JSAMPROW)(rgb + (size_t)cinfo.next_scanline * (size_t)width * 3)};
    jpeg_write_scanlines(&cinfo, rows, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  *out_data = buffer;
  *out_size = buffer_size;
  return CJPEG_OK;
}

void cjpeg_free(void *pointer) { free(pointer); }
