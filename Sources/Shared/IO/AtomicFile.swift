// Writing files so that a crash never leaves a half-written checkpoint, index or picture behind:
// write a temporary file beside the target, flush it to disk, then rename it over the target.

import TensorCore
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

struct FileWriteError: Error, CustomStringConvertible {
  public var path: String
  public var reason: String
  public var description: String { "cannot write \(path): \(reason)" }
}

/// Writes `bytes` to `path` atomically: temp file in the same folder → fsync → rename.
/// Either the old file or the complete new one is there afterwards, never a torn one.
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
  let path = try regularFileTarget(path)
  let temporary = temporaryName(for: path)
  // A fresh file of our own: a name someone planted (a link to another file) is removed, never written through.
  unlink(temporary)
  let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
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

/// Where `writeFileAtomically` writes before the rename: `.NAME.tmp-PID` beside the target.
public func temporaryName(for path: String) -> String {
  let directory = parentPath(path)
  return (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).tmp-\(getpid())"
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

/// Creates the folder (and parents) if needed; returns the path. A part of the path that is a file, a
/// device or unwritable is an error that says which part and why (never a Foundation error dump).
@discardableResult
public func ensureDirectory(_ path: String) throws -> String {
  guard !path.isEmpty else { throw FileWriteError(path: path, reason: "an empty path is not a folder") }
  var prefix = path.hasPrefix("/") ? "/" : ""
  for part in path.split(separator: "/") {
    prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + part
    var info = stat()
    if stat(prefix, &info) == 0 {
      guard (info.st_mode & S_IFMT) == S_IFDIR else {
        throw FileWriteError(path: path, reason: prefix == path ? "it is a file, not a folder (choose a folder name)"
          : "\(prefix) is a file, not a folder")
      }
      continue
    }
    if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
      throw FileWriteError(path: path, reason: "cannot create the folder \(prefix): \(String(cString: strerror(errno)))")
    }
  }
  return path
}

/// Refuses to write over anything but a regular file: `rename` would replace a device (`/dev/null`), and
/// a folder is never an output file. A symbolic link is followed: the file it points to is replaced, the
/// link stays. Returns the path to write.
public func regularFileTarget(_ path: String) throws -> String {
  var info = stat()
  guard lstat(path, &info) == 0 else { return path }  // nothing there yet
  if (info.st_mode & S_IFMT) == S_IFLNK {
    guard let resolved = realpath(path, nil) else {
      // A dangling link: the file it names is made, and the link stays.
      var buffer = [CChar](repeating: 0, count: 4096)
      let n = readlink(path, &buffer, buffer.count - 1)
      guard n > 0 else { return path }
      let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
      let parent = parentPath(path)
      return target.hasPrefix("/") || parent.isEmpty ? target : parent + "/" + target
    }
    defer { free(resolved) }
    return try regularFileTarget(String(cString: resolved))
  }
  switch info.st_mode & S_IFMT {
  case S_IFREG: return path
  case S_IFDIR: throw FileWriteError(path: path, reason: "it is a folder; give a file name")
  default: throw FileWriteError(path: path, reason: "it is a device or special file, not a regular file")
  }
}

/// The folder part of `path`, as `NSString.deletingLastPathComponent` gives it ("a/b" → "a", "/a" → "/",
/// "ab" → ""), which traps on a one-character path in swift-corelibs-foundation (Swift 6.3.1): a user's
/// `--out x` must not stop the program.
public func parentPath(_ path: String) -> String {
  var trimmed = Substring(path)
  while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
  guard let slash = trimmed.lastIndex(of: "/") else { return "" }
  if slash == trimmed.startIndex { return "/" }
  var parent = trimmed[..<slash]
  while parent.count > 1 && parent.hasSuffix("/") { parent = parent.dropLast() }
  return String(parent)
}

/// The absolute, symlink-free path of something that exists (realpath), or `path` made absolute as
/// written when it does not: `lnk/../x` is where the OS finds it, not where the text says, and one file
/// reached by two names is one file.
public func resolvedPath(_ path: String) -> String {
  if let resolved = realpath(path, nil) {
    defer { free(resolved) }
    return String(cString: resolved)
  }
  return path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
}
