import XCTest

final class ScriptClusterTestsPlaceholder: XCTestCase {}
