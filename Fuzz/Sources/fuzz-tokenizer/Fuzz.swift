// Any bytes (as UTF-8, invalid sequences repaired) → BertTokenizer: ids within the vocabulary,
// [CLS] first, [SEP] last, never longer than the limit.
import Shared

let tokenizer = try! BertTokenizer.bundledUncased()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
  let batch = tokenizer.batch([text, "a dog"], maxLength: 64)
  precondition(batch.inputIds.allSatisfy { $0 >= 0 && $0 < 30522 }, "id outside the vocabulary")
  precondition(batch.length <= 64 && batch.inputIds[0] == 101, "no [CLS] or too long")
  _ = tokenizer.encode(text)
  return 0
}

// SwiftPM links an executable's `main` to <module>_main; hand control to libFuzzer's driver there.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

@_cdecl("fuzz_tokenizer_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  var count = argc, arguments = argv
  return LLVMFuzzerRunDriver(&count, &arguments, fuzzTokenizer)
}
