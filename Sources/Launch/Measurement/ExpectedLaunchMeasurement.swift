import Definition
import JSON
import Numerals
import Measure

/// The launch digest one QEMU launch of a confidential guest is expected to produce, as
/// `plan.json`, `state.json` (`launch-measurement`), the event log (`LAUNCH_MEASUREMENT`) and a
/// stored guest image record it — or why it could not be computed. Not being able to predict the
/// digest never stops a launch: the guest runs all the same, and `status` says why there is none.
public enum ExpectedLaunchMeasurement: Sendable, Hashable, CustomStringConvertible {
    case measured(MeasuredLaunch)
    case unavailable(reason: String)

    /// What was measured and the digest.
    public struct MeasuredLaunch: Sendable, Hashable {
        public var mode: SEVMode
        public var digest: LaunchDigest
        public var firmware: DefinitionMeasurement.Firmware
        public var vcpus: Int
        /// CPUID 1 EAX in the VMSAs (OVMF launches; an IGVM file's VMSAs carry their own).
        public var vcpuSignature: String?
        public var policy: UInt64

        public init(_ m: DefinitionMeasurement) {
            self.init(mode: m.mode, digest: m.digest, firmware: m.firmware, vcpus: m.vcpus,
                      vcpuSignature: m.signature?.description, policy: m.policy)
        }

        public init(mode: SEVMode, digest: LaunchDigest, firmware: DefinitionMeasurement.Firmware, vcpus: Int,
                    vcpuSignature: String?, policy: UInt64) {
            self.mode = mode
            self.digest = digest
            self.firmware = firmware
            self.vcpus = vcpus
            self.vcpuSignature = vcpuSignature
            self.policy = policy
        }
    }

    /// The digest, when there is one.
    public var digest: LaunchDigest? {
        if case .measured(let m) = self { m.digest } else { nil }
    }

    /// One line for `status`: `snp <hex>`, or why there is no digest.
    public var description: String {
        switch self {
        case .measured(let m): "\(m.mode.rawValue) \(m.digest.hex)"
        case .unavailable(let reason): "not computed: \(reason)"
        }
    }

    /// `{"mode", "digest", "ovmf"|"igvm", "vcpus", "vcpu-sig", "policy"}` — the names
    /// `igvm-mgr measure CONFIG --json` prints the same values under — or `{"error"}`.
    public var json: JSON {
        switch self {
        case .unavailable(let reason):
            return ["error": .string(reason)]
        case .measured(let m):
            var o: JSONObject = [
                "mode": .string(m.mode.rawValue), "digest": .string(m.digest.hex), "vcpus": JSON(m.vcpus),
                "vcpu-sig": m.vcpuSignature.map(JSON.string) ?? .null, "policy": .string("0x" + String(m.policy, radix: 16)),
            ]
            switch m.firmware {
            case .ovmf(let path): o["ovmf"] = .string(path)
            case .igvm(let path): o["igvm"] = .string(path)
            }
            return .object(o)
        }
    }

    public init?(json: JSON?) {
        guard let json else { return nil }
        if let reason = json["error"]?.stringValue {
            self = .unavailable(reason: reason)
            return
        }
        guard let mode = json["mode"]?.stringValue.flatMap(SEVMode.init(rawValue:)),
              let digest = json["digest"]?.stringValue.flatMap(Hex.decode),
              let vcpus = json["vcpus"]?.intValue,
              let policy = json["policy"]?.stringValue.flatMap({ Numeral.hex($0) })
        else { return nil }
        let firmware: DefinitionMeasurement.Firmware
        if let path = json["ovmf"]?.stringValue {
            firmware = .ovmf(path: path)
        } else if let path = json["igvm"]?.stringValue {
            firmware = .igvm(path: path)
        } else {
            return nil
        }
        self = .measured(MeasuredLaunch(mode: mode, digest: LaunchDigest(bytes: digest), firmware: firmware, vcpus: vcpus,
                                        vcpuSignature: json["vcpu-sig"]?.stringValue, policy: policy))
    }
}

extension VMDefinition {
    /// The launch digest to expect from launching this definition — booting `firmware` in place
    /// of its own when given (a guest-supplied image) — or nil for a guest that has none (an
    /// ordinary guest, `nocc`). Computed with the Measure module, never by spawning a tool.
    public func expectedLaunchMeasurement(booting firmware: BootSource? = nil) -> ExpectedLaunchMeasurement? {
        guard let type = confidential?.type, type != .nocc else { return nil }
        var definition = self
        if let firmware { definition.boot = firmware }
        do {
            return .measured(.init(try definition.launchMeasurement()))
        } catch {
            return .unavailable(reason: error.description)
        }
    }
}
