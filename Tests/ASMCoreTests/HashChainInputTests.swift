import ASMCore
import Testing

/// The hash chain's input is a documented byte layout, so other languages can verify a log.
/// These bytes were written out independently (Python's `struct.pack`), not by this code.
@Suite struct HashChainInputTests {
    private func input(run: UUIDValue?) -> [UInt8] {
        var buffer: [UInt8] = []
        let type = Array("run.started".utf8)
        let payload = Array(#"{"provider":"claude"}"#.utf8)
        type.withUnsafeBytes { typeBytes in
            payload.withUnsafeBytes { payloadBytes in
                HashChainInput.append(
                    previous: .genesis,
                    sequence: 7,
                    id: UUIDValue(high: 0x0102_0304_0506_0708, low: 0x090A_0B0C_0D0E_0F10),
                    stream: UUIDValue(high: 0x1112_1314_1516_1718, low: 0x191A_1B1C_1D1E_1F20),
                    streamVersion: 3,
                    run: run,
                    type: typeBytes,
                    schemaVersion: 1,
                    recordedAt: Timestamp(microseconds: 1_795_574_405_154_116),
                    payload: payloadBytes,
                    to: &buffer
                )
            }
        }
        return buffer
    }

    private func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    @Test("with a run id")
    func withRun() {
        let run = UUIDValue(high: 0x2122_2324_2526_2728, low: 0x292A_2B2C_2D2E_2F30)
        #expect(
            hex(input(run: run))
                == String(repeating: "0", count: 64)
                + "00000000000000070102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"
                + "000000000000000301" + "2122232425262728292a2b2c2d2e2f30" + "0000000b72756e2e73746172746564"
                + "00000001" + "00066110be964544" + "000000157b2270726f7669646572223a22636c61756465227d"
        )
    }

    @Test("without a run id")
    func withoutRun() {
        #expect(
            hex(input(run: nil))
                == String(repeating: "0", count: 64)
                + "00000000000000070102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"
                + "000000000000000300" + "0000000b72756e2e73746172746564"
                + "00000001" + "00066110be964544" + "000000157b2270726f7669646572223a22636c61756465227d"
        )
    }
}
