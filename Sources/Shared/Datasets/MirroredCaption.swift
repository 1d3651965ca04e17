// Captions for mirrored images: a horizontal flip (augmentation) makes "left of" false unless the caption
// swaps its directions too.

/// A caption for the mirrored image: "left" and "right" swap, as whole words (any letter case is kept
/// as written: "Left" becomes "Right"). Every other word is unchanged.
public func mirroredCaption(_ caption: String) -> String {
  var out = "", word = ""
  func flush() {
    switch word {
    case "left": out += "right"
    case "right": out += "left"
    case "Left": out += "Right"
    case "Right": out += "Left"
    case "LEFT": out += "RIGHT"
    case "RIGHT": out += "LEFT"
    default: out += word
    }
    word = ""
  }
  for ch in caption {
    if ch.isLetter { word.append(ch) } else {
      flush()
      out.append(ch)
    }
  }
  flush()
  return out
}
