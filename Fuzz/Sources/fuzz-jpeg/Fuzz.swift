// Any bytes → JPEG.decode: must return an image or throw JPEGError, never crash, hang or leak.
import Shared

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJPEG(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  if let image = try? JPEG.decode(bytes: bytes, maxPixels: 4_000_000) {
    precondition(image.pixels.count == image.width * image.height * 3, "decoded buffer does not match its size")
  }
  return 0
}

// SwiftPM links an executable's `main` to <module>_main; hand control to libFuzzer's driver there.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

@_cdecl("fuzz_jpeg_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  var count = argc, arguments = argv
  return LLVMFuzzerRunDriver(&count, &arguments, fuzzJPEG)
}
