/// Writing object members by name, for output written field by field (`asm events --json`).
///
/// Keys are static ASCII names written as they are (no escaping). `nil` values are left
/// out. Writing keys in sorted order avoids any reordering; out-of-order keys are still
/// sorted by ``endObject(_:)``.
extension JSONWriter {
    public mutating func field(_ key: StaticString, _ value: String, in mark: inout ObjectMark) {
        self.key(key, in: &mark)
        string(value)
    }

    public mutating func field(_ key: StaticString, _ value: String?, in mark: inout ObjectMark) {
        guard let value else { return }
        field(key, value, in: &mark)
    }

    public mutating func field(_ key: StaticString, _ value: Int64, in mark: inout ObjectMark) {
        self.key(key, in: &mark)
        integer(value)
    }

    public mutating func field(_ key: StaticString, _ value: Int64?, in mark: inout ObjectMark) {
        guard let value else { return }
        field(key, value, in: &mark)
    }

    public mutating func field(_ key: StaticString, _ value: Int, in mark: inout ObjectMark) {
        field(key, Int64(value), in: &mark)
    }

    public mutating func field(_ key: StaticString, _ value: Int?, in mark: inout ObjectMark) {
        guard let value else { return }
        field(key, Int64(value), in: &mark)
    }

    public mutating func field(_ key: StaticString, _ value: UInt64?, in mark: inout ObjectMark) {
        guard let value else { return }
        self.key(key, in: &mark)
        unsigned(value)
    }

    public mutating func field(_ key: StaticString, _ value: Bool, in mark: inout ObjectMark) {
        self.key(key, in: &mark)
        bool(value)
    }

    public mutating func field(_ key: StaticString, _ value: Bool?, in mark: inout ObjectMark) {
        guard let value else { return }
        field(key, value, in: &mark)
    }

    public mutating func field(_ key: StaticString, _ value: Double?, in mark: inout ObjectMark) throws(JSONError) {
        guard let value else { return }
        self.key(key, in: &mark)
        try double(value)
    }

    public mutating func field(
        _ key: StaticString,
        _ value: (some PayloadValue)?,
        in mark: inout ObjectMark
    )
        throws(JSONError)
    {
        guard let value, !value.isAbsent else { return }
        self.key(key, in: &mark)
        try value.write(to: &self)
    }

    public mutating func field(_ key: StaticString, _ values: [String: String]?, in mark: inout ObjectMark) {
        guard let values else { return }
        self.key(key, in: &mark)
        var object = beginObject()
        for (name, value) in values.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            self.key(name, in: &object)
            string(value)
        }
        endObject(object)
    }
}
