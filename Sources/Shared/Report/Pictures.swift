// Pictures the chapters write: PNG files (lossless, viewable anywhere) built from RGBImage, plus
// helpers to upscale, draw grids and tile images. The PNG writer uses stored (uncompressed)
// deflate blocks — no zlib needed — so files are larger than usual but exact.

import IO
import Image
import Foundation

public enum PNG {
  /// Encodes an RGB image as an 8-bit truecolor PNG.
  public static func encode(_ image: RGBImage) -> [UInt8] {
    var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    var ihdr: [UInt8] = []
    ihdr += bigEndian32(UInt32(image.width))
    ihdr += bigEndian32(UInt32(image.height))
    ihdr += [8, 2, 0, 0, 0]  // 8 bits, truecolor, deflate, adaptive filter, no interlace
    appendChunk(&out, "IHDR", ihdr)
    // Raw scanlines, each prefixed with filter type 0 (none).
    var raw: [UInt8] = []
    raw.reserveCapacity((image.width * 3 + 1) * image.height)
    for y in 0..<image.height {
      raw.append(0)
      raw += image.pixels[(y * image.width * 3)..<((y + 1) * image.width * 3)]
    }
    appendChunk(&out, "IDAT", zlibStored(raw))
    appendChunk(&out, "IEND", [])
    return out
  }

  public static func write(_ image: RGBImage, to path: String) throws {
    try writeFileAtomically(encode(image), to: path)
  }

  static func bigEndian32(_ v: UInt32) -> [UInt8] {
    [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
  }

  static func appendChunk(_ out: inout [UInt8], _ type: String, _ data: [UInt8]) {
    out += bigEndian32(UInt32(data.count))
    let typed = Array(type.utf8) + data
    out += typed
    out += bigEndian32(crc32(typed))
  }

  /// zlib stream made of stored deflate blocks (max 65535 bytes each) and an Adler-32 trailer.
  static func zlibStored(_ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x78, 0x01]
    var offset = 0
    repeat {
      let n = min(65535, data.count - offset)
      let final: UInt8 = offset + n == data.count ? 1 : 0
      out.append(final)
      out += [UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
      out += data[offset..<(offset + n)]
      offset += n
    } while offset < data.count
    var a: UInt32 = 1, b: UInt32 = 0
    for byte in data {
      a = (a + UInt32(byte)) % 65521
      b = (b + a) % 65521
    }
    out += bigEndian32((b << 16) | a)
    return out
  }

  static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
  }

  static func crc32(_ data: [UInt8]) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for byte in data { c = crcTable[Int((c ^ UInt32(byte)) & 0xff)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
  }
}

extension RGBImage {
  /// Nearest-neighbour upscaling by an integer factor (for looking at small images).
  public func upscaled(by factor: Int) -> RGBImage {
    var out = RGBImage(width: width * factor, height: height * factor)
    for y in 0..<out.height {
      for x in 0..<out.width {
        let s = ((y / factor) * width + x / factor) * 3, d = (y * out.width + x) * 3
        out.pixels[d] = pixels[s]
        out.pixels[d + 1] = pixels[s + 1]
        out.pixels[d + 2] = pixels[s + 2]
      }
    }
    return out
  }

  /// Copies `other` into this image with its top-left at (x, y), clipping at the edges.
  public mutating func paste(_ other: RGBImage, x: Int, y: Int) {
    for row in 0..<other.height where y + row >= 0 && y + row < height {
      for col in 0..<other.width where x + col >= 0 && x + col < width {
        for c in 0..<3 { self[x: x + col, y: y + row, channel: c] = other[x: col, y: row, channel: c] }
      }
    }
  }
}

/// A picture of the patch grid: each patch drawn apart from its neighbours by `gap` pixels,
/// magnified by `zoom`, so the reader sees the 14×14 tokens the ViT will read.
public func explodedPatchGrid(_ image: RGBImage, patch: Int, gap: Int = 3, zoom: Int = 2,
                              background: (UInt8, UInt8, UInt8) = (250, 250, 250)) -> RGBImage {
  let gx = image.width / patch, gy = image.height / patch
  let cell = patch * zoom
  var out = RGBImage(width: gx * cell + (gx + 1) * gap, height: gy * cell + (gy + 1) * gap, fill: background)
  for py in 0..<gy {
    for px in 0..<gx {
      let tile = image.cropped(x: px * patch, y: py * patch, width: patch, height: patch).upscaled(by: zoom)
      out.paste(tile, x: gap + px * (cell + gap), y: gap + py * (cell + gap))
    }
  }
  return out
}
