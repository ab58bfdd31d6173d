import Supervisor
import Definition
import JSON
import Launch
import ObjectModel
import VMState

extension ExpectedReportValues {
    /// What a report of the VM `name`'s current QEMU run must carry: the launch digest its
    /// supervisor recorded in `state.json` before spawning QEMU (after a vmfwupdate relaunch,
    /// the guest firmware's) and the `sev-snp-guest` object of the exact argv in `argv.json`.
    public static func forVM(_ name: String, in directory: StateDirectory) throws(LifecycleError) -> ExpectedReportValues {
        let paths = try stateAccess { () throws(StateError) in try directory.vm(name) }
        guard let state = try stateAccess({ () throws(StateError) in try VMState.read(paths.state) }) else {
            throw .notFound("no VM named \(name) in \(directory.path)")
        }
        guard let measurement = state.launchMeasurement else {
            throw .invalidInput("VM \(name) is not an SEV-SNP guest (\(state.confidentialType ?? "no confidential object")): it has no launch digest")
        }
        guard case .measured(let measured) = measurement else {
            throw .failed("VM \(name) has no launch digest: \(measurement)")
        }
        guard measured.mode == .snp else {
            throw .invalidInput("VM \(name) is a \(measured.mode.rawValue) guest: only SEV-SNP guests have attestation reports")
        }
        let argv: [String]
        do {
            let text = try String(contentsOfFile: paths.argv, encoding: .utf8)
            argv = try JSON.decode(text).arrayValue?.compactMap(\.stringValue) ?? []
        } catch {
            throw .failed("VM \(name): cannot read the QEMU command line in \(paths.argv): \(error)")
        }
        let guest = zip(argv, argv.dropFirst()).lazy.filter { $0.0 == "-object" }.compactMap { pair -> SevSnpGuest? in
            if case .sevSnpGuest(let snp)? = try? ObjectSpec.parse(pair.1) { snp } else { nil }
        }.first
        return ExpectedReportValues(source: "VM \(name)", measurement: measured.digest, policy: measured.policy, guest: guest)
    }
}
