// A small seeded random number generator whose whole state is one UInt64, so it can be saved in a
// checkpoint and resumed bit-identically. Used by the train transform, dropout and data shuffling.


/// SplitMix64 as a `RandomNumberGenerator`: state += golden gamma, output = finaliser(state).
public struct SeededRNG: RandomNumberGenerator, Sendable, Equatable {
  public var state: UInt64

  public init(seed: UInt64) { state = seed }

  public mutating func next() -> UInt64 {
    state = state &+ 0x9e37_79b9_7f4a_7c15
    return splitMix64(state)
  }

  /// Uniform Float in [0, 1) with 24 random bits.
  public mutating func nextFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

  /// Uniform Double in [lower, upper).
  public mutating func uniform(_ lower: Double, _ upper: Double) -> Double {
    lower + (upper - lower) * (Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0))
  }
}

extension SeededRNG {
  /// A throwaway generator for calls that take one but will not use it (evaluation transforms).
  public static var unused: SeededRNG {
    get { SeededRNG(seed: 0) }
    set {}
  }
}
