// Writing files so that a crash never leaves a half-written checkpoint, index or picture behind:
// write a temporary file beside the target, flush it to disk, then rename it over the target.

import TensorCore
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

public struct FileWriteError: Error, CustomStringConvertible {
  public var path: String
  public var reason: String
  public var description: String { "cannot write \(path): \(reason)" }
}

/// Writes `bytes` to `path` atomically: temp file in the same folder → fsync → rename.
/// Either the old file or the complete new one is there afterwards, never a torn one.
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
  let directory = (path as NSString).deletingLastPathComponent
  let temporary = (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).tmp-\(getpid())"
  let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
  if fd < 0 { throw FileWriteError(path: path, reason: String(cString: strerror(errno))) }
  var written = 0
  let ok: Bool = bytes.withUnsafeBytes { raw in
    while written < raw.count {
      let n = write(fd, raw.baseAddress! + written, raw.count - written)
      if n <= 0 { return false }
      written += n
    }
    return true
  }
  let writeErrno = errno
  if !ok || fsync(fd) != 0 {
    let reason = String(cString: strerror(ok ? errno : writeErrno))
    close(fd)
    unlink(temporary)
    throw FileWriteError(path: path, reason: reason)
  }
  close(fd)
  if rename(temporary, path) != 0 {
    let reason = String(cString: strerror(errno))
    unlink(temporary)
    throw FileWriteError(path: path, reason: reason)
  }
}

/// The temporary files (`.NAME.tmp-PID`, NAME one of `targets`) that `writeFileAtomically` left in
/// `directory` when its process was killed mid-write: those whose process no longer runs and that
/// nobody has touched for a minute. A live writer's file, and any other file, is kept.
public func staleTemporaryFiles(in directory: String, of targets: [String]) -> [String] {
  guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
  return names.filter { name in
    guard let target = targets.first(where: { name.hasPrefix(".\($0).tmp-") }),
      let pid = Int32(name.dropFirst(target.count + 6)), pid > 0
    else { return false }
    let modified = (try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.modificationDate]) as? Date
    guard let modified, Date().timeIntervalSince(modified) > 60 else { return false }
    return pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
  }.sorted()
}

/// Creates the folder (and parents) if needed; returns the path.
@discardableResult
public func ensureDirectory(_ path: String) throws -> String {
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}
