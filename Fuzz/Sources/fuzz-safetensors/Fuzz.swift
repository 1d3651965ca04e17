// Any bytes → SafetensorsFile: must parse and read every tensor, or throw; never crash.
import Foundation
import Shared

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard let file = try? SafetensorsFile(data: Data(bytes: data, count: size)) else { return 0 }
  for name in file.names {
    if let t = try? file.tensor(name) { precondition(t.count == t.shape.reduce(1, *)) }
    _ = try? file.integers(name)
  }
  return 0
}

// SwiftPM links an executable's `main` to <module>_main; hand control to libFuzzer's driver there.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

@_cdecl("fuzz_safetensors_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  var count = argc, arguments = argv
  return LLVMFuzzerRunDriver(&count, &arguments, fuzzSafetensors)
}
