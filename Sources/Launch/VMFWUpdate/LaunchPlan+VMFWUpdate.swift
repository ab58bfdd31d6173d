import ObjectModel

extension LaunchPlan {
    /// `-action` for every supervised instance: a guest reset becomes SHUTDOWN {guest: true,
    /// reason: "guest-reset"} followed by a pause with memory intact (QEMU ≥ 6.0), so that the
    /// supervisor decides what a reset means instead of QEMU rebooting behind its back.
    public static let resetPolicyAction = "reboot=shutdown,shutdown=pause"

    /// The plan for one instance of a VM in the reset/vmfwupdate flow: the reset policy, the
    /// interface's read-only fw-cfg files, and `firmware` in place of the config's.
    ///
    /// A guest-supplied platform ROM replaces whatever boot firmware the config named (`-bios`,
    /// pflash or IGVM); a guest-supplied IGVM file gets a new `igvm-cfg` object whose id names
    /// the launch (`igvm-fw<N>`), so no id of an earlier instance is reused. Everything else —
    /// the confidential object and its properties, memory, CPUs — stays as planned: the new
    /// instance gets a fresh confidential context because it is a new QEMU process.
    ///
    /// - Parameters:
    ///   - interfaceFiles: fw-cfg name → file of the interface (`VMFWUpdateFwCfg.write`); empty
    ///     when the config does not enable the interface.
    ///   - launchNumber: counts the instances of this `start` (1 for the first).
    public func forInstance(booting firmware: FirmwareInUse, interfaceFiles: [(name: String, path: String)],
                            launchNumber: Int) -> LaunchPlan {
        var plan = self
        plan.addOption("-action", Self.resetPolicyAction)
        var fwCfg = interfaceFiles
        if case .guestSupplied(let stored) = firmware {
            plan.bios = nil
            plan.blockdevs.removeAll { ($0["node-name"]?.stringValue ?? "").hasPrefix("pflash") }
            plan.machine.pflash0 = nil
            plan.machine.pflash1 = nil
            if let oldIGVM = plan.machine.igvmCfg { plan.objects.removeAll { $0.id == oldIGVM } }
            plan.machine.igvmCfg = nil
            switch stored.format {
            case .platformROM:
                plan.bios = stored.imagePath
            case .igvm:
                let id = "igvm-fw\(launchNumber)"
                plan.objects.append(QOMObject(IgvmCfg(id: id, file: stored.imagePath)))
                plan.machine.igvmCfg = id
            }
            if let opaque = stored.opaquePath { fwCfg.append((VMFWUpdateFwCfg.opaqueName, opaque)) }
        }
        for file in fwCfg {
            plan.addOption("-fw_cfg", "name=\(KeyValueSyntax.escape(file.name)),file=\(KeyValueSyntax.escape(file.path))")
        }
        return plan
    }
}
