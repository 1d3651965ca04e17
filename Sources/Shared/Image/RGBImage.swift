// An 8-bit RGB image, the form every picture takes between the JPEG decoder and the float tensor
// the ViT sees. Pixels are row-major, three bytes per pixel: (H, W, 3).

import TensorCore
import IO

public struct RGBImage: Sendable, Equatable {
  public var width: Int
  public var height: Int
  /// height × width × 3 bytes, row-major, R G B.
  public var pixels: [UInt8]

  public init(width: Int, height: Int, pixels: [UInt8]) {
    precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                 "RGBImage \(width)×\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
    self.width = width
    self.height = height
    self.pixels = pixels
  }

  /// A solid image.
  public init(width: Int, height: Int, fill: (r: UInt8, g: UInt8, b: UInt8) = (0, 0, 0)) {
    var p = [UInt8](repeating: 0, count: width * height * 3)
    for i in 0..<(width * height) {
      p[3 * i] = fill.r
      p[3 * i + 1] = fill.g
      p[3 * i + 2] = fill.b
    }
    self.init(width: width, height: height, pixels: p)
  }

  @inline(__always)
  public subscript(x x: Int, y y: Int, channel channel: Int) -> UInt8 {
    get { pixels[(y * width + x) * 3 + channel] }
    set { pixels[(y * width + x) * 3 + channel] = newValue }
  }

  /// The sub-image with top-left (x, y) and the given size; parts outside the image are black
  /// (torchvision pads with zeros when a crop is larger than the image).
  public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> RGBImage {
    var out = RGBImage(width: w, height: h)
    for row in 0..<h {
      let sy = y + row
      if sy < 0 || sy >= height { continue }
      for col in 0..<w {
        let sx = x + col
        if sx < 0 || sx >= width { continue }
        let s = (sy * width + sx) * 3, d = (row * w + col) * 3
        out.pixels[d] = pixels[s]
        out.pixels[d + 1] = pixels[s + 1]
        out.pixels[d + 2] = pixels[s + 2]
      }
    }
    return out
  }

  /// Mirrored left to right.
  public func flippedHorizontally() -> RGBImage {
    var out = self
    for y in 0..<height {
      for x in 0..<width {
        let s = (y * width + (width - 1 - x)) * 3, d = (y * width + x) * 3
        out.pixels[d] = pixels[s]
        out.pixels[d + 1] = pixels[s + 1]
        out.pixels[d + 2] = pixels[s + 2]
      }
    }
    return out
  }
}
