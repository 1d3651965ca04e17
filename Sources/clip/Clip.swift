// `clip` — the practical command-line tool: the same Shared library the chapters teach, as commands.

import ArgumentParser
import Foundation
import Kernels
import ProgramSupport
import Shared

@main
struct Clip: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "clip",
    abstract: "CLIP from scratch in Swift: preprocess images, embed, train, search.",
    discussion: """
      Exit status, for every command:
        0   done
        1   an error: a file that cannot be read or written, a model that does not fit — nothing was done
        3   done, but some inputs were skipped (each is named on standard error with the reason)
        64  a mistake in the command line (unknown flag, missing or malformed value)
      Nothing a user made is replaced silently: an existing --out that is not this command's own kind of \
      file, or an earlier training run, is an error.
      """,
    subcommands: [Preprocess.self, EmbedImage.self, Tokenize.self, EmbedText.self, Train.self, Index.self, Search.self, ZeroShot.self,
                  RetrieveEval.self]
  )

  /// ArgumentParser's own entry point, after the memory policy every executable here sets first.
  static func main() {
    keepFreedMemory()
    refuseArgumentsThatAreNotUTF8()
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch {
      exit(withError: error)
    }
  }
}

/// Exit status 3: the command finished, but `skipped` of its `total` inputs were skipped (and named).
let exitPartial: Int32 = 3

/// Ends a per-file command: 0 when every input was used, 1 when none was, 3 when some were skipped.
func finish(skipped: Int, total: Int) {
  if skipped == 0 { return }
  FileHandle.standardError.write(Data("\(skipped) of \(total) inputs skipped\n".utf8))
  Foundation.exit(skipped >= total ? 1 : exitPartial)
}
