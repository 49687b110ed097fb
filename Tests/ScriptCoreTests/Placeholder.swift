import XCTest

final class ScriptCoreTestsPlaceholder: XCTestCase {}
