import XCTest
@testable import ScriptService

/// Options from `SCRIPT_CLUSTER_<COMMAND>_<OPTION>`.
final class EnvironmentArgumentsTests: XCTestCase {
    let options: [EnvironmentArguments.Option] = [
        .init(long: "connect", takesValue: true),
        .init(long: "heartbeat-ms", takesValue: true),
        .init(long: "json", takesValue: false),
        .init(long: "verbose", otherNames: ["-v"], takesValue: false),
    ]

    func merge(_ args: [String], _ env: [String: String]) throws -> EnvironmentArguments.Merged {
        try EnvironmentArguments.merge(args, command: "worker", options: options, environment: env)
    }

    func testVariablesFillWhatTheCommandLineLacks() throws {
        XCTAssertEqual(EnvironmentArguments.variable(command: "worker", option: "heartbeat-ms"), "SCRIPT_CLUSTER_WORKER_HEARTBEAT_MS")
        let m = try merge(["--connect", "tcp://a:1"], [
            "SCRIPT_CLUSTER_WORKER_CONNECT": "tcp://b:2",
            "SCRIPT_CLUSTER_WORKER_HEARTBEAT_MS": "-5",
            "SCRIPT_CLUSTER_WORKER_JSON": "true",
            "SCRIPT_CLUSTER_COORDINATOR_QUEUE": "8",
            "PATH": "/bin",
        ])
        // The command line wins; a value starting with a dash stays a value.
        XCTAssertEqual(m.arguments, ["--connect", "tcp://a:1", "--heartbeat-ms=-5", "--json"])
        XCTAssertEqual(m.unknown, [])
        XCTAssertEqual(try merge(["--connect=tcp://a:1"], ["SCRIPT_CLUSTER_WORKER_CONNECT": "tcp://b:2"]).arguments, ["--connect=tcp://a:1"])
        XCTAssertEqual(try merge(["-v"], ["SCRIPT_CLUSTER_WORKER_VERBOSE": "0"]).arguments, ["-v"])
        XCTAssertEqual(try merge([], ["SCRIPT_CLUSTER_WORKER_VERBOSE": "off", "SCRIPT_CLUSTER_WORKER_JSON": ""]).arguments, [])
        // An empty value is unset, for an option as for a flag.
        XCTAssertEqual(try merge([], ["SCRIPT_CLUSTER_WORKER_CONNECT": "", "SCRIPT_CLUSTER_WORKER_HEARTBEAT_MS": "7"]).arguments, ["--heartbeat-ms=7"])
        // Added before a `--` terminator.
        XCTAssertEqual(try merge(["--", "x"], ["SCRIPT_CLUSTER_WORKER_JSON": "1"]).arguments, ["--json", "--", "x"])
        // After `--` a word is an argument, not the option: the variable still sets it.
        XCTAssertEqual(try merge(["--", "--json"], ["SCRIPT_CLUSTER_WORKER_JSON": "1"]).arguments, ["--json", "--", "--json"])
    }

    func testUnknownVariablesAreReportedAndBadFlagValuesRejected() throws {
        let m = try merge([], ["SCRIPT_CLUSTER_WORKER_CONECT": "x", "SCRIPT_CLUSTER_WORKER_PORT": "tcp://10.0.0.1:5556"])
        XCTAssertEqual(m.arguments, [])
        XCTAssertEqual(m.unknown.count, 2)
        XCTAssertTrue("\(m.unknown[0])".contains("SCRIPT_CLUSTER_WORKER_CONECT sets no option"), "\(m.unknown[0])")
        XCTAssertThrowsError(try merge([], ["SCRIPT_CLUSTER_WORKER_JSON": "maybe"])) {
            XCTAssertEqual($0 as? EnvironmentError, .badFlag("SCRIPT_CLUSTER_WORKER_JSON", value: "maybe"))
        }
    }

    func testHelpSectionListsEveryVariable() {
        let text = EnvironmentArguments.helpSection(command: "worker", options: options)
        for o in options { XCTAssertTrue(text.contains(EnvironmentArguments.variable(command: "worker", option: o.long) + " ")) }
        XCTAssertTrue(text.hasPrefix("ENVIRONMENT:\n"))
    }
}
