// The files the package ships — the bert-base-uncased vocabulary (also all-MiniLM-L6-v2's), CLIP's BPE
// merges, the ImageNet class names and a sample photo — as SwiftPM resources, so `clip` and the chapters find
// them from any directory and from an installed binary, not only from inside the checkout.

import Foundation

public enum BundledAssets {
  public static let bertVocabulary = "bert-base-uncased-vocab.txt"  // 30,522 WordPiece tokens
  public static let imagenetClasses = "imagenet-classes.txt"  // 1,000 names, one per line
  public static let samplePhoto = "grace_hopper.jpg"  // 512×600, the chapters' default image
  /// CLIP's BPE merges (open_clip's bpe_simple_vocab_16e6, MIT): the 48,894 merges its 49,408-token
  /// vocabulary is built from, as a Hugging Face merges.txt. 525 KB; the tests and the tool need it offline.
  public static let clipMerges = "clip-bpe-merges.txt"

  /// Where SwiftPM puts this target's resources: a folder beside every built executable (`.resources`
  /// on Linux, `.bundle` on macOS). Copy it along with an executable you install elsewhere.
  public static let bundleName = "CLIPFromScratch_CLIPAssets.resources"
  static let bundleNames = [bundleName, "CLIPFromScratch_CLIPAssets.bundle", "CLIPFromScratch_CLIPAssets.bundle/Contents/Resources"]

  /// The folders searched, in order: the resource bundle beside the running executable, then this
  /// file's own folder in the source checkout (for test runners and unusual layouts).
  public static var searchPath: [String] {
    var folders: [String] = []
    if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() {
      for name in bundleNames { folders.append(executable.deletingLastPathComponent().appendingPathComponent(name).path) }
    }
    folders.append((#filePath as NSString).deletingLastPathComponent)
    return folders
  }

  /// The path of a shipped file, or nil when no folder on the search path holds it.
  public static func path(_ name: String) -> String? {
    searchPath.map { $0 + "/" + name }.first { FileManager.default.isReadableFile(atPath: $0) }
  }
}
