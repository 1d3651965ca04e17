// The charts name what they show: a title, both axes, and a legend or colour bar; they are well-formed
// XML whatever text they are given; and every chart the walkthroughs show does the same.

import Foundation
#if canImport(FoundationXML)
  import FoundationXML
#endif
import Testing
import Shared

@Suite("Charts")
struct ChartTests {
  /// How many elements of the chart carry `role` as their class.
  func count(_ role: String, in svg: String) -> Int { svg.components(separatedBy: "class=\"\(role)\"").count - 1 }

  func isWellFormedXML(_ svg: String) -> Bool { XMLParser(data: Data(svg.utf8)).parse() }

  @Test("a line chart has a title, both axis labels, one legend entry per series, and leaves out NaN and ∞ points")
  func lineChartNamesEverything() {
    let chart = lineChart(title: "loss <&> \"quotes\"", xLabel: "step", yLabel: "loss",
                          series: [LineSeries("train", points: [(1, 2), (2, .nan), (3, .infinity), (4, 1)], colour: "#000"),
                                   LineSeries("validation", points: [(4, 1.5), (5, .nan)], colour: "#f00", markers: true)]).rendered
    #expect(count("title", in: chart) == 1 && count("x-label", in: chart) == 1 && count("y-label", in: chart) == 1)
    #expect(count("legend", in: chart) == 2)
    #expect(chart.contains(">step<") && chart.contains(">loss<") && chart.contains(">train<") && chart.contains(">validation<"))
    #expect(!chart.lowercased().contains("nan") && !chart.contains("inf"))
    #expect(chart.contains("loss &lt;&amp;&gt; &quot;quotes&quot;"))
    #expect(isWellFormedXML(chart))
  }

  @Test("an empty line chart (no finite point yet) still draws its axes")
  func emptyLineChart() {
    let chart = lineChart(title: "nothing yet", xLabel: "x", yLabel: "y", series: [LineSeries("a", points: [(1, .nan)], colour: "#000")]).rendered
    #expect(count("x-label", in: chart) == 1 && count("y-label", in: chart) == 1 && isWellFormedXML(chart))
  }

  @Test("a heatmap names its rows, columns, axes and colour scale; small ones print their values")
  func heatmapNamesEverything() {
    let m = Tensor(shape: [2, 3], storage: [0.1, 0.5, 0.9, -0.2, 0, 1])
    let chart = heatmapChart(title: "similarity", matrix: m, rowLabels: ["image 0", "image 1"], columnLabels: ["a", "b", "a long caption name"],
                             xLabel: "caption", yLabel: "image", colourLabel: "cosine", valueFormat: "%.2f").rendered
    #expect(count("title", in: chart) == 1 && count("x-label", in: chart) == 1 && count("y-label", in: chart) == 1)
    #expect(count("colour-bar", in: chart) == 4)  // three values and the scale's name
    for text in [">image 1<", ">a long caption name<", ">0.90<", ">-0.20<", ">cosine<"] { #expect(chart.contains(text), "\(text)") }
    #expect(isWellFormedXML(chart))
    // A large matrix is an embedded raster with numbered ticks, not 40,000 rectangles.
    let big = heatmapChart(title: "attention", matrix: Tensor(shape: [197, 197], repeating: 0.5), xLabel: "key", yLabel: "query",
                           colourLabel: "probability").rendered
    #expect(big.contains("data:image/png;base64,") && big.components(separatedBy: "<rect").count < 60)
    #expect(count("x-label", in: big) == 1 && count("y-label", in: big) == 1 && isWellFormedXML(big))
  }

  @Test("a bar chart labels each bar and prints its value")
  func barChartNamesEverything() {
    let chart = barChart(title: "top classes", labels: ["red circle", "blue square"], values: [0.75, 0.125], xLabel: "probability").rendered
    #expect(count("title", in: chart) == 1 && count("x-label", in: chart) == 1 && count("y-label", in: chart) == 2)
    #expect(chart.contains(">75.0%<") && chart.contains(">12.5%<") && isWellFormedXML(chart))
  }

  @Test("ticks are 1, 2 or 5 × 10^k apart and cover the range")
  func ticks() {
    #expect(niceTicks(0, 4.23) == [0, 1, 2, 3, 4, 5])
    #expect(niceTicks(0, 100) == [0, 20, 40, 60, 80, 100])
    #expect(niceTicks(3.2, 4.1).first! <= 3.2 && niceTicks(3.2, 4.1).last! >= 4.1)
    #expect(niceTicks(5, 5).count >= 2)
  }

  @Test("every chart in the walkthroughs and the README names its axes (image grids and diagrams: a title)")
  func walkthroughChartsNameTheirAxes() throws {
    let dir = Fixtures.repositoryRoot + "/Walkthroughs/images"
    let charts = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".svg") }.sorted()
    #expect(charts.count >= 10, "expected the chapters' charts in \(dir), found \(charts)")
    for name in charts {
      let svg = try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
      #expect(count("title", in: svg) == 1, "\(name): no title")
      if count("caption", in: svg) > 0 || svg.contains("class=\"diagram\"") { continue }  // photos or a diagram: no axes
      #expect(count("x-label", in: svg) >= 1 && count("y-label", in: svg) >= 1, "\(name): an axis without a label")
      #expect(count("legend", in: svg) + count("colour-bar", in: svg) >= 1 || count("y-label", in: svg) > 1,
              "\(name): no legend or colour bar")
      #expect(isWellFormedXML(svg), "\(name): not well-formed XML")
    }
  }
}
