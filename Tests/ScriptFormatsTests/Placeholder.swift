import XCTest

final class ScriptFormatsTestsPlaceholder: XCTestCase {}
