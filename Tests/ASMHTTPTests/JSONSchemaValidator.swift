import ASMCore

/// Checks JSON values against the part of JSON Schema (2020-12) that the API's OpenAPI 3.1
/// document uses: `type` (one or a list, `null` included), `enum`, `const`, `properties`,
/// `required`, `additionalProperties` (a Boolean or a schema), `items`, `minItems`,
/// `maxItems`, `minLength`, `maxLength`, `pattern`, `minimum`, `maximum`,
/// `exclusiveMinimum`, `exclusiveMaximum`, `allOf`, `anyOf`, `oneOf`, `not`, and `$ref` to a
/// JSON pointer in the same document (`#/components/schemas/Session`).
///
/// Keywords it does not know (`format`, `description`, `default`, `x-…`) are annotations and
/// are ignored, as the specification says. Lengths count Unicode scalars and patterns match
/// scalar by scalar, as ECMAScript does, unanchored unless the pattern anchors itself.
struct JSONSchemaValidator {
    /// The document `$ref`s point into.
    let root: JSONValue

    /// What is wrong with `instance` against `schema`, one line per violation naming where it
    /// is (`$.session.status`); empty when the instance is valid.
    func violations(of instance: JSONValue, against schema: JSONValue, at location: String = "$") -> [String] {
        var found: [String] = []
        check(instance, schema, location, depth: 0, into: &found)
        return found
    }

    /// The value a local reference (`#/a/b`) points at.
    func resolve(_ reference: String) -> JSONValue? {
        guard reference.first == "#" else { return nil }
        var value = root
        for token in reference.dropFirst().split(separator: "/") {
            let key = Self.unescape(token)
            if let element = value[key] {
                value = element
            } else if let elements = value.arrayValue, let index = Int(key), elements.indices.contains(index) {
                value = elements[index]
            } else {
                return nil
            }
        }
        return value
    }

    // MARK: Keywords

    private func check(
        _ instance: JSONValue,
        _ schema: JSONValue,
        _ location: String,
        depth: Int,
        into found: inout [String]
    ) {
        guard depth < 64 else {
            found.append("\(location): schemas nested (or referenced) more than 64 deep")
            return
        }
        switch schema {
        case .bool(true): return
        case .bool(false):
            found.append("\(location): no value is allowed here")
            return
        case .object: break
        default:
            found.append("\(location): the schema is not an object or a Boolean")
            return
        }
        if let reference = schema["$ref"]?.stringValue {
            if let target = resolve(reference) {
                check(instance, target, location, depth: depth + 1, into: &found)
            } else {
                found.append("\(location): $ref \(reference) points at nothing")
            }
        }
        checkType(instance, schema, location, into: &found)
        if let values = schema["enum"]?.arrayValue, !values.contains(where: { Self.same($0, instance) }) {
            found.append("\(location): \(Self.show(instance)) is not one of \(Self.show(.array(values)))")
        }
        if let value = schema["const"], !Self.same(value, instance) {
            found.append("\(location): \(Self.show(instance)) is not \(Self.show(value))")
        }
        checkCombinations(instance, schema, location, depth: depth, into: &found)
        switch instance {
        case .object(let members): checkObject(members, schema, location, depth: depth, into: &found)
        case .array(let elements): checkArray(elements, schema, location, depth: depth, into: &found)
        case .string(let text): checkString(text, schema, location, into: &found)
        case .integer, .double: checkNumber(instance, schema, location, into: &found)
        case .null, .bool: break
        }
    }

    private func checkType(_ instance: JSONValue, _ schema: JSONValue, _ location: String, into found: inout [String]) {
        let names: [String]
        switch schema["type"] {
        case nil: return
        case .string(let name)?: names = [name]
        case .array(let list)?: names = list.compactMap(\.stringValue)
        default:
            found.append("\(location): type must be a name or a list of names")
            return
        }
        guard !names.contains(where: { Self.isOfType(instance, $0) }) else { return }
        found.append("\(location): \(Self.show(instance)) is not of type \(names.joined(separator: " or "))")
    }

    private func checkCombinations(
        _ instance: JSONValue,
        _ schema: JSONValue,
        _ location: String,
        depth: Int,
        into found: inout [String]
    ) {
        if let all = schema["allOf"]?.arrayValue {
            for part in all { check(instance, part, location, depth: depth + 1, into: &found) }
        }
        if let any = schema["anyOf"]?.arrayValue {
            let results = any.map { violations(of: instance, against: $0, depth: depth + 1, at: location) }
            if !results.contains(where: \.isEmpty) {
                found.append(
                    "\(location): matches none of anyOf (\(results.map { $0.first ?? "" }.joined(separator: "; ")))"
                )
            }
        }
        if let one = schema["oneOf"]?.arrayValue {
            let results = one.map { violations(of: instance, against: $0, depth: depth + 1, at: location) }
            let matching = results.filter(\.isEmpty).count
            if matching != 1 {
                found.append("\(location): matches \(matching) of oneOf, not exactly one")
            }
        }
        if let excluded = schema["not"],
            violations(of: instance, against: excluded, depth: depth + 1, at: location).isEmpty
        {
            found.append("\(location): matches the schema it must not match")
        }
    }

    private func checkObject(
        _ members: [JSONMember],
        _ schema: JSONValue,
        _ location: String,
        depth: Int,
        into found: inout [String]
    ) {
        let properties = schema["properties"]?.objectValue ?? []
        for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
        where !members.contains(where: { $0.key == name }) {
            found.append("\(location): missing required member \(name)")
        }
        for member in members {
            let path = "\(location).\(member.key)"
            if let property = properties.first(where: { $0.key == member.key }) {
                check(member.value, property.value, path, depth: depth + 1, into: &found)
            } else if let additional = schema["additionalProperties"] {
                if additional == .bool(false) {
                    found.append("\(location): member \(member.key) is not allowed")
                } else {
                    check(member.value, additional, path, depth: depth + 1, into: &found)
                }
            }
        }
    }

    private func checkArray(
        _ elements: [JSONValue],
        _ schema: JSONValue,
        _ location: String,
        depth: Int,
        into found: inout [String]
    ) {
        if let minimum = schema["minItems"]?.integerValue, elements.count < minimum {
            found.append("\(location): \(elements.count) items, fewer than \(minimum)")
        }
        if let maximum = schema["maxItems"]?.integerValue, elements.count > maximum {
            found.append("\(location): \(elements.count) items, more than \(maximum)")
        }
        if let items = schema["items"] {
            for (index, element) in elements.enumerated() {
                check(element, items, "\(location)[\(index)]", depth: depth + 1, into: &found)
            }
        }
    }

    private func checkString(_ text: String, _ schema: JSONValue, _ location: String, into found: inout [String]) {
        let length = text.unicodeScalars.count
        if let minimum = schema["minLength"]?.integerValue, length < minimum {
            found.append("\(location): \(Self.show(.string(text))) is shorter than \(minimum)")
        }
        if let maximum = schema["maxLength"]?.integerValue, length > maximum {
            found.append("\(location): a string of \(length) characters is longer than \(maximum)")
        }
        if let pattern = schema["pattern"]?.stringValue {
            guard let expression = try? Regex(pattern).matchingSemantics(.unicodeScalar) else {
                found.append("\(location): the pattern \(pattern) does not compile")
                return
            }
            if (try? expression.firstMatch(in: text)) == nil {
                found.append("\(location): \(Self.show(.string(text))) does not match \(pattern)")
            }
        }
    }

    private func checkNumber(_ number: JSONValue, _ schema: JSONValue, _ location: String, into found: inout [String]) {
        let bounds: [(String, (Int) -> Bool, String)] = [
            ("minimum", { $0 >= 0 }, "below"),
            ("maximum", { $0 <= 0 }, "above"),
            ("exclusiveMinimum", { $0 > 0 }, "not above"),
            ("exclusiveMaximum", { $0 < 0 }, "not below"),
        ]
        for (keyword, holds, word) in bounds {
            guard let bound = schema[keyword], let order = Self.compare(number, bound), !holds(order) else { continue }
            found.append("\(location): \(Self.show(number)) is \(word) \(Self.show(bound))")
        }
    }

    // MARK: Values

    private func violations(
        of instance: JSONValue,
        against schema: JSONValue,
        depth: Int,
        at location: String
    ) -> [String] {
        var found: [String] = []
        check(instance, schema, location, depth: depth, into: &found)
        return found
    }

    static func isOfType(_ value: JSONValue, _ name: String) -> Bool {
        switch (name, value) {
        case ("null", .null), ("boolean", .bool), ("object", .object), ("array", .array), ("string", .string):
            true
        case ("number", .integer), ("number", .double), ("integer", .integer):
            true
        case ("integer", .double(let number)):
            number.isFinite && number.rounded() == number
        default:
            false
        }
    }

    /// The order of two numbers (-1, 0, 1), exact for integers; `nil` unless both are numbers.
    static func compare(_ lhs: JSONValue, _ rhs: JSONValue) -> Int? {
        switch (lhs, rhs) {
        case (.integer(let a), .integer(let b)):
            return a < b ? -1 : (a == b ? 0 : 1)
        default:
            guard let a = lhs.doubleValue, let b = rhs.doubleValue else { return nil }
            return a < b ? -1 : (a == b ? 0 : 1)
        }
    }

    /// JSON equality, where 1 and 1.0 are the same number.
    static func same(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.integer, _), (.double, _):
            return compare(lhs, rhs) == 0
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { same($0, $1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count
                && a.allSatisfy { member in b.contains { $0.key == member.key && same($0.value, member.value) } }
        default:
            return lhs == rhs
        }
    }

    /// A short rendering of a value for a message.
    static func show(_ value: JSONValue) -> String {
        let text = (try? value.jsonBytes(sortsKeys: false)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
        return text.count > 80 ? String(text.prefix(77)) + "..." : text
    }

    /// A JSON pointer token with `~1` and `~0` read back as `/` and `~`.
    private static func unescape(_ token: Substring) -> String {
        var result = ""
        var escaped = false
        for character in token {
            if escaped {
                result.append(character == "1" ? "/" : character == "0" ? "~" : character)
                escaped = false
            } else if character == "~" {
                escaped = true
            } else {
                result.append(character)
            }
        }
        return result
    }
}
