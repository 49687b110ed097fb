import Foundation
import ScriptFormats

/// Writes a command's output files; a failure names the flag, the path and the likely reason.
enum OutputFile {
    static func write(_ data: Data, to path: String, flag: String) throws {
        try write(to: path, flag: flag) { try FileOutput.write(data, to: path) }
    }

    static func write(_ text: String, to path: String, flag: String) throws {
        try write(Data(text.utf8), to: path, flag: flag)
    }

    /// Runs a writer of the formats library, naming the flag if it fails.
    static func write(to path: String, flag: String, _ body: () throws -> Void) throws {
        do { try body() } catch let e as FormatError {
            guard case .unwritable(let reason) = e.problem else { throw e }
            throw InputError(flag, path, problem(path) ?? "cannot be written: \(reason)")
        }
    }

    /// Why `path` cannot be written, when its directory says so; nil when it looks writable.
    static func problem(_ path: String) -> String? {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return "is a directory" }
        let parent = (path as NSString).deletingLastPathComponent
        let dir = parent.isEmpty ? "." : parent
        guard fm.fileExists(atPath: dir, isDirectory: &isDirectory) else {
            return "cannot be written: the directory \(dir) does not exist"
        }
        guard isDirectory.boolValue else { return "cannot be written: \(dir) is not a directory" }
        if fm.fileExists(atPath: path) ? !fm.isWritableFile(atPath: path) : !fm.isWritableFile(atPath: dir) {
            return "cannot be written: no permission"
        }
        return nil
    }
}
