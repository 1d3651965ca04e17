// How the programs stop: the chapters, `clip`, `tour`, `bench` and chapter 10. Kept out of the library
// (Shared), which throws and never ends the process: a caller decides what an error means.

import Foundation

/// Stops with exit 64 when a command-line argument is not UTF-8 (a Latin-1 file name typed or globbed):
/// Swift would read it with U+FFFD in place of the bytes, and the file would be reported missing although
/// it is there.
public func refuseArgumentsThatAreNotUTF8() {
  for i in 1..<Int(CommandLine.argc) {
    guard let pointer = CommandLine.unsafeArgv[i] else { continue }
    let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: strlen(pointer))
    if String(validating: bytes, as: UTF8.self) == nil {
      let escaped = bytes.map { $0 < 0x80 ? String(UnicodeScalar($0)) : String(format: "\\x%02x", $0) }.joined()
      FileHandle.standardError.write(Data(("error: argument \(i) (\(escaped)) is not UTF-8 text; paths and texts are read as UTF-8 "
        + "(rename such a file, e.g. convmv -f latin1 -t utf8 --notest FILE)\n").utf8))
      exit(64)
    }
  }
}

/// Prints `error: …` on one line to standard error and exits with status 1: the one way the chapters and
/// the `clip` tool stop on bad input (without argument-parser's usage text, which is for mistakes in the
/// command line, not in the input files).
public func fail(_ message: String) -> Never {
  FileHandle.standardError.write(Data("error: \(message)\n".utf8))
  exit(1)
}
