import ArgumentParser
import Foundation
import JSON
import Capabilities
import Launch

/// `igvm-mgr caps BINARY`: what a QEMU binary supports, as the launch validation sees it.
struct CapsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caps",
        abstract: "Probe a QEMU binary: version, confidential-computing objects and their properties.",
        discussion: """
            Starts BINARY with `-machine none -S -nodefaults` and asks it over QMP. With --state-dir \
            the result is cached there per binary and reused until the binary's path, size or \
            modification time changes.
            """)

    @Argument(help: "The QEMU binary (a path, or a name looked up on PATH).")
    var binary: String

    @Option(name: .long, help: "Cache the result in this directory.")
    var stateDir: String?

    @OptionGroup var output: JSONOutput<CapabilitiesJSON>

    enum CapabilitiesJSON: JSONFlagHelp { static let text = "Print JSON (the cached form without the QAPI schema)." }

    /// The objects the manager can put in a launch, in the order shown.
    static let confidentialTypes = ["sev-guest", "sev-snp-guest", "igvm-cfg", "nocc"]
    /// The devices the manager can put in a launch.
    static let devices = ["vmfwupdate"]

    func run() async throws {
        let caps: QEMUCapabilities
        var source = "probe"
        do {
            if let stateDir {
                let (c, s) = try await QEMUCapabilityCache(directory: stateDir).capabilities(of: binary)
                caps = c
                source = s.rawValue
            } else {
                caps = try await QEMUProbe(logger: quietLogger).probe(binary: binary)
            }
        } catch {
            Output.error("\(error)")
            throw ExitStatus.failure
        }
        if output.json {
            var object = caps.cacheJSON.objectValue ?? [:]
            object["schema"] = nil
            object["schema-entities"] = JSON(caps.schema?.entities.count ?? 0)
            object["source"] = .string(source)
            object["confidential"] = .object(JSONObject(Self.confidentialTypes.map { ($0, .bool(caps.canCreate($0))) }))
            object["devices"] = .object(JSONObject(Self.devices.map { ($0, .bool(caps.deviceProperties[$0] != nil)) }))
            Output.json(.object(object))
            return
        }
        Output.line("\(caps.binaryName) \(caps.version.description)" + (caps.version.package.isEmpty ? "" : " (\(caps.version.package))"))
        Output.line("binary: \(caps.binary.path) (\(source))")
        for type in Self.confidentialTypes {
            if caps.canCreate(type) {
                let properties = (caps.objectProperties[type] ?? []).map(\.name).sorted().joined(separator: ", ")
                Output.line("\(type): yes" + (properties.isEmpty ? "" : " [\(properties)]"))
            } else {
                var reason = ""
                do { try caps.requireCreatable(type) } catch { reason = error.requirement.map { " (needs \($0))" } ?? "" }
                Output.line("\(type): no\(reason)")
            }
        }
        for device in Self.devices {
            if caps.deviceProperties[device] != nil {
                let properties = (caps.deviceProperties[device] ?? []).map(\.name).sorted().joined(separator: ", ")
                Output.line("\(device) device: yes" + (properties.isEmpty ? "" : " [\(properties)]"))
            } else {
                let requirement = caps.problems(creating: device, properties: []).first?.requirement
                Output.line("\(device) device: no" + (requirement.map { " (needs \($0))" } ?? ""))
            }
        }
        for (machine, properties) in caps.machineProperties.sorted(by: { $0.key < $1.key }) {
            let names = Set(properties.map(\.name))
            Output.line("\(machine): confidential-guest-support \(names.contains("confidential-guest-support") ? "yes" : "no"), igvm-cfg \(names.contains("igvm-cfg") ? "yes" : "no")")
        }
    }
}
