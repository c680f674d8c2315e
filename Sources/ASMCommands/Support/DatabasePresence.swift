import FoundationEssentials

enum DatabasePresence {
    static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }
}
