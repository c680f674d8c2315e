extension Duration {
    /// Whole milliseconds, rounded toward zero; saturates at `Int64.min` and `Int64.max`.
    package var wholeMilliseconds: Int64 { whole(perSecond: 1_000) }

    /// Whole microseconds, rounded toward zero; saturates at `Int64.min` and `Int64.max`.
    package var wholeMicroseconds: Int64 { whole(perSecond: 1_000_000) }

    /// Whole nanoseconds, rounded toward zero; saturates at `Int64.min` and `Int64.max`.
    package var wholeNanoseconds: Int64 { whole(perSecond: 1_000_000_000) }

    /// A number of seconds (`2.5` from `--deadline 2.5`) rounded to the nearest millisecond.
    ///
    /// - Precondition: `seconds` is finite and its milliseconds fit in `Int64`.
    package static func seconds(roundedToMilliseconds seconds: Double) -> Duration {
        .milliseconds(Int64((seconds * 1000).rounded()))
    }

    private func whole(perSecond units: Int64) -> Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: units)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, sumOverflow) = scaled.addingReportingOverflow(attoseconds / (1_000_000_000_000_000_000 / units))
        if sumOverflow { return seconds < 0 ? .min : .max }
        return sum
    }
}
