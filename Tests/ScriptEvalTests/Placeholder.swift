import XCTest

final class ScriptEvalTestsPlaceholder: XCTestCase {}
