// One writer at a time: a training run's folder and an index being written are each claimed with a
// lock file before anything is read or written, so a second process is refused at once instead of
// interleaving its log with the first's and overwriting its checkpoints.
//
//   lock file   the path given (e.g. OUT/.lock, .pictures.index.lock), holding the owner's pid
//   the lock    flock(2) on that file: the kernel drops it when the process ends, however it ends, so a
//               killed run never leaves a folder locked (its file may stay; the next run reuses it)

import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

public struct FileLockError: Error, CustomStringConvertible {
  public var path: String
  public var reason: String
  public var description: String { reason }
}

public final class FileLock: @unchecked Sendable {
  public let path: String
  private var fd: Int32

  /// Claims `path` for this process, or throws at once naming the process that holds it. `what` says
  /// what is locked, for the message ("OUT is in use by another training run").
  public init(path: String, what: String) throws {
    self.path = path
    while true {
      // Never through a link: a symbolic or hard link planted at the lock's name would have us truncate
      // whatever file it points to (as root, any file).
      let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
      guard fd >= 0 else {
        let reason = errno == ELOOP ? "it is a symbolic link, not a lock file this tool made (remove it)" : String(cString: strerror(errno))
        throw FileLockError(path: path, reason: "cannot create the lock file \(path): \(reason)")
      }
      var opened = stat()
      if fstat(fd, &opened) != 0 || (opened.st_mode & S_IFMT) != S_IFREG || opened.st_nlink != 1 {
        close(fd)
        throw FileLockError(path: path, reason: "cannot use the lock file \(path): it is not a plain file of its own "
          + "(a hard link or a special file); remove it if no run is using it")
      }
      if flock(fd, LOCK_EX | LOCK_NB) != 0 {
        let error = errno
        let holder = Self.readOwner(fd)
        close(fd)
        guard error == EWOULDBLOCK else {
          throw FileLockError(path: path, reason: "cannot lock \(path): \(String(cString: strerror(error)))")
        }
        throw FileLockError(path: path, reason: "\(what) is in use by another run\(holder.map { " (pid \($0))" } ?? ""): "
          + "wait for it to finish, or choose another output")
      }
      // A holder that finished removes the file after we opened it and before we locked it: then we hold
      // a lock on a file no one else can see. Lock what is at `path` now, or try again.
      var held = stat(), current = stat()
      if fstat(fd, &held) == 0 && stat(path, &current) == 0 && held.st_ino == current.st_ino && held.st_dev == current.st_dev {
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = fd
        FileLock.register(self)
        return
      }
      close(fd)
    }
  }

  /// Gives the lock up and removes its file (removed first, then unlocked: see `init`). Also done at
  /// exit, including `exit(1)` after an error.
  public func release() {
    guard fd >= 0 else { return }
    unlink(path)
    close(fd)
    fd = -1
    FileLock.unregister(self)
  }

  deinit { release() }

  static func readOwner(_ fd: Int32) -> Int? {
    var buffer = [UInt8](repeating: 0, count: 32)
    let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
    guard n > 0 else { return nil }
    return Int(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
  }

  // The locks this process holds (weakly: a lock no one keeps is released by its deinit), released by an
  // exit handler too, since `exit` runs no deinit.
  private final class Weak { weak var lock: FileLock?; init(_ lock: FileLock) { self.lock = lock } }
  nonisolated(unsafe) private static var held: [ObjectIdentifier: Weak] = [:]
  private static let guardLock = NSLock()
  nonisolated(unsafe) private static var exitHandlerInstalled = false

  private static func register(_ lock: FileLock) {
    guardLock.lock()
    defer { guardLock.unlock() }
    held[ObjectIdentifier(lock)] = Weak(lock)
    if !exitHandlerInstalled {
      exitHandlerInstalled = true
      atexit {
        FileLock.guardLock.lock()
        let all = FileLock.held.values.compactMap(\.lock)
        FileLock.guardLock.unlock()
        for lock in all where lock.fd >= 0 {
          unlink(lock.path)
          close(lock.fd)
          lock.fd = -1
        }
      }
    }
  }

  private static func unregister(_ lock: FileLock) {
    guardLock.lock()
    defer { guardLock.unlock() }
    held[ObjectIdentifier(lock)] = nil
  }
}
