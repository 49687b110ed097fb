import Foundation
import ScriptLoad
import XCTest

final class CPUIdentityTests: XCTestCase {
    /// An x86 machine: the first processor's name, vendor, family and model, and the watched
    /// extensions it offers (a hypervisor that hides AMX shows no `amx_tile`), in their order.
    func testAnIntelEntryGivesItsNameModelAndExtensions() throws {
        let text = """
        processor\t: 0
        vendor_id\t: GenuineIntel
        cpu family\t: 6
        model\t\t: 207
        model name\t: Intel(R) Xeon(R) Processor
        flags\t\t: fpu sse2 avx2 avx512f fma avx512_bf16 avx512_fp16 avx512vl

        processor\t: 1
        vendor_id\t: GenuineIntel
        model name\t: Another Processor
        flags\t\t: fpu amx_tile

        """
        let cpu = try XCTUnwrap(CPUIdentity.parse(cpuinfo: text))
        XCTAssertEqual(cpu.name, "Intel(R) Xeon(R) Processor")
        XCTAssertEqual(cpu.model, "GenuineIntel family 6 model 207")
        XCTAssertEqual(cpu.extensions, ["avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16"])
        XCTAssertEqual(cpu.description,
                       "Intel(R) Xeon(R) Processor (GenuineIntel family 6 model 207; avx2 fma avx512f avx512_bf16 avx512_fp16)")
    }

    /// An Arm machine names no model: its implementer and part stand for it, `Features` for flags.
    func testAnArmEntryIsNamedByItsImplementerAndPart() throws {
        let text = """
        processor\t: 0
        BogoMIPS\t: 243.75
        Features\t: fp asimd evtstrm aes sve sve2
        CPU implementer\t: 0x41
        CPU architecture: 8
        CPU part\t: 0xd4f
        """
        let cpu = try XCTUnwrap(CPUIdentity.parse(cpuinfo: text))
        XCTAssertEqual(cpu.description, "implementer 0x41 part 0xd4f (asimd sve sve2)")
    }

    /// Text that names no processor gives nothing rather than an empty identity.
    func testTextNamingNoProcessorGivesNothing() {
        XCTAssertNil(CPUIdentity.parse(cpuinfo: ""))
        XCTAssertNil(CPUIdentity.parse(cpuinfo: "processor\t: 0\nflags\t: avx2\n"))
    }

    /// This machine's is read (the tests run on Linux).
    func testThisMachinesIsRead() throws {
        let cpu = try XCTUnwrap(CPUIdentity.current())
        XCTAssertFalse(cpu.name.isEmpty && cpu.model.isEmpty)
    }
}
