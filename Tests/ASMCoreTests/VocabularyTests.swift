import ASMCore
import AgentSessionManagerTesting
import Foundation
import Testing

/// Adding an event type is one declaration (a type conforming to `EventPayload`) plus one
/// line in `SessionEvent.vocabulary`, documented in the README's table. These tests fail
/// when one of the three is missing or disagrees with the others.
@Suite struct VocabularyTests {
    static let root = PackageFiles.root

    /// The names of the types declared as event payloads anywhere in `Sources/`.
    static func declaredPayloadTypes() throws -> Set<String> {
        let sources = root.appendingPathComponent("Sources")
        let pattern = try Regex(#"(?m)^\s*(?:public\s+)?struct\s+(\w+)\s*:\s*EventPayload\b"#)
        var names = Set<String>()
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
        while let file = files?.nextObject() as? URL {
            guard file.pathExtension == "swift" else { continue }
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: pattern) {
                if let name = match.output[1].substring { names.insert(String(name)) }
            }
        }
        return names
    }

    /// The README's "Event types" table: each row's type names and its payload text.
    static func readmeRows() throws -> [(types: [String], payload: String)] {
        let text = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        guard let start = text.range(of: "### Event types") else { return [] }
        let section = text[start.upperBound...].prefix { _ in true }
        let end = section.range(of: "\n### ")?.lowerBound ?? section.endIndex
        var rows: [(types: [String], payload: String)] = []
        for line in section[..<end].split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false)
            guard cells.count >= 3 else { continue }
            let types = cells[1].split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            }
            rows.append((types, cells[2...].joined(separator: "|")))
        }
        return rows
    }

    @Test("every declared payload type is registered, and every registered type is declared")
    func declaredEqualsRegistered() throws {
        let declared = try Self.declaredPayloadTypes()
        let registered = Set(SessionEvent.payloadTypes.map { String(describing: $0) })
        #expect(declared.subtracting(registered).isEmpty, "declared but not in SessionEvent.vocabulary")
        #expect(registered.subtracting(declared).isEmpty, "registered but not found in Sources/")
        #expect(declared.count == 39)
    }

    @Test("every registered type has a README row naming each of its fields, optional ones with ?")
    func documented() throws {
        let rows = try Self.readmeRows()
        let documented = Set(rows.flatMap(\.types))
        let registered = Set(SessionEvent.payloadTypes.map { $0.eventType.rawValue })
        #expect(registered.subtracting(documented).isEmpty, "registered but missing from the README table")
        #expect(documented.subtracting(registered).isEmpty, "in the README table but not registered")
        for type in SessionEvent.payloadTypes {
            guard let row = rows.first(where: { $0.types.contains(type.eventType.rawValue) }) else { continue }
            for field in type.fieldKeys {
                let mark = field.isOptional ? "`\(field.key)?`" : "`\(field.key)`"
                #expect(row.payload.contains(mark), "README: \(type.eventType) should list \(mark)")
            }
        }
    }
}
