import XCTest

final class ScriptWireTestsPlaceholder: XCTestCase {}
