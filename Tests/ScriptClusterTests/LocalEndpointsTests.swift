@testable import ScriptLauncher
import XCTest

/// Where a local cluster's workers take direct transfers, from where its clients reach it.
final class LocalEndpointsTests: XCTestCase {
    func testClientsOfThisMachineOnlyGetAPrivateSocket() {
        for frontends in [["tcp://127.0.0.1:5555"], ["tcp://localhost:*"], ["ipc://@x"], ["tcp://[::1]:5555", "tcp://127.0.0.2:*"]] {
            XCTAssertEqual(LocalEndpoints.dataBind(forFrontends: frontends, worker: 3, instance: "7-ab"), "ipc://@script-cluster-7-ab-data-3", "\(frontends)")
        }
    }

    func testClientsElsewhereGetTCPOnTheFrontendsInterface() {
        XCTAssertEqual(LocalEndpoints.dataBind(forFrontends: ["tcp://10.0.0.5:5555"], worker: 1), "tcp://10.0.0.5:*")
        XCTAssertEqual(LocalEndpoints.dataBind(forFrontends: ["tcp://0.0.0.0:5555", "tcp://127.0.0.1:5556"], worker: 1), "tcp://0.0.0.0:*")
        XCTAssertEqual(LocalEndpoints.dataBind(forFrontends: ["tcp://eth0:5555"], worker: 1), "tcp://eth0:*")
        XCTAssertEqual(LocalEndpoints.dataBind(forFrontends: ["tcp://10.0.0.5:5555", "tcp://10.0.0.6:5555"], worker: 1), "tcp://0.0.0.0:*",
                       "two interfaces: all of them")
    }
}
