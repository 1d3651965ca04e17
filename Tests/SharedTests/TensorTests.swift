// Tensor basics: shapes, reshape without copying, permute/transpose, row slices, summaries, and the
// deterministic weight generator shared with the Python reference.

import Shared
import Testing

@Suite("Tensor")
struct TensorTests {
  @Test func reshapeAndIndex() {
    let t = Tensor(shape: [2, 3, 4], storage: (0..<24).map(Float.init))
    #expect(t[1, 2, 3] == 23)
    #expect(t[0, 1, 0] == 4)
    let r = t.reshaped([6, -1])
    #expect(r.shape == [6, 4])
    #expect(r[5, 3] == 23)
    #expect(t.strides == [12, 4, 1])
  }

  @Test func permuteMatchesDefinition() {
    let t = Tensor(shape: [2, 3, 4, 5], storage: (0..<120).map(Float.init))
    let p = t.permuted([0, 2, 1, 3])
    #expect(p.shape == [2, 4, 3, 5])
    for a in 0..<2 { for b in 0..<4 { for c in 0..<3 { for d in 0..<5 { #expect(p[a, b, c, d] == t[a, c, b, d]) } } } }
    let m = Tensor(shape: [2, 3], storage: [1, 2, 3, 4, 5, 6]).transposed()
    #expect(m.shape == [3, 2] && m.storage == [1, 4, 2, 5, 3, 6])
  }

  @Test func rowSlices() {
    let t = Tensor(shape: [4, 2], storage: (0..<8).map(Float.init))
    #expect(t.rows(1..<3).storage == [2, 3, 4, 5])
    #expect(t.row(3).shape == [2] && t.row(3).storage == [6, 7])
  }

  @Test func summaryStatistics() {
    let s = Tensor(shape: [4], storage: [1, 2, 3, 4]).summary()
    #expect(s.min == 1 && s.max == 4 && s.mean == 2.5)
    #expect(abs(s.std - 1.118034) < 1e-6)
    #expect(s.description.hasPrefix("(4,)  min 1  max 4  mean 2.5  std 1.118"))
  }

  @Test("deterministic weights equal the numpy implementation bit for bit")
  func deterministicMatchesPython() throws {
    let fixture = try Fixtures.load("ch01-patches")
    let expected = try fixture.tensor("probe")
    let ours = Tensor.deterministic([16], name: "probe", seed: 7, scale: 0.5, offset: 0.25)
    #expect(ours.storage.map(\.bitPattern) == expected.storage.map(\.bitPattern))
    #expect(fnv1a64("") == 0xcbf2_9ce4_8422_2325)
    #expect(fnv1a64("a") == 0xaf63_dc4c_8601_ec8c)
  }
}
