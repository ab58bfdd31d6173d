import Capabilities
import IGVM
import JSON

/// What the capability probe of the VM's QEMU binary says about its IGVM loader: the fact that
/// decides whether `FORMAT_IGVM` is offered. `start` probes the binary anyway (to refuse a plan
/// the binary cannot run), takes this from the probe, and keeps it in `plan.json` beside the
/// definition (`ResetFlowSource.igvmLoader`), so that the supervisor offers exactly what `start`
/// decided without probing again. Without it (`validate`, `args`), the config's `qemu.version`
/// stands in as the declared target.
public struct IGVMLoaderProbe: Sendable, Hashable {
    /// The binary can create `igvm-cfg` and, where the probe recorded the VM's machine type,
    /// the machine has the `igvm-cfg` link property that wires it in.
    public var hasIGVMCfg: Bool
    /// The version the binary reported (for the image check's loader rules and for messages).
    public var qemuVersion: QEMUVersion

    /// The probe's answer for a VM on `machine` (as the config names it, e.g. "q35").
    public init(capabilities: QEMUCapabilities, machine: String) {
        let machineKnown = capabilities.machineProperties[machine] != nil
        hasIGVMCfg = capabilities.canCreate("igvm-cfg") && (!machineKnown || capabilities.has(property: "igvm-cfg", of: machine))
        qemuVersion = capabilities.version
    }

    /// The QEMU version IGVM images are checked against: the binary's, but never below the
    /// first release with the loader, since a binary that has `igvm-cfg` has the loader whatever
    /// it reports (a development build between releases reports the previous one's number).
    var checkedVersion: QEMUVersion { max(qemuVersion, QEMUVersion.igvmSupport) }

    public var json: JSON {
        ["igvm-cfg": .bool(hasIGVMCfg), "qemu-version": .string(qemuVersion.description)]
    }

    public init?(json: JSON?) {
        guard let json, let has = json["igvm-cfg"]?.boolValue,
              let version = json["qemu-version"]?.stringValue.flatMap(QEMUVersion.init) else { return nil }
        hasIGVMCfg = has
        qemuVersion = version
    }
}
