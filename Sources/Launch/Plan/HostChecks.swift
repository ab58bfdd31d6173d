import FileAccess
#if canImport(Glibc)
import Glibc
#endif

/// What a launch needs from the host, checked before QEMU is spawned so that a host that cannot
/// run the configuration is refused early with the missing piece named — not by QEMU half-way
/// through a launch. libvirt and Kata check the same host facts (`/dev/sev`, the `kvm_amd`
/// parameters); docs/background.md, "QMP and libvirt conventions the lifecycle follows".
public struct HostRequirements: Sendable, Equatable {
    /// The accelerator (`kvm`, `tcg`, …); nil means QEMU's default.
    public var accelerator: String?
    /// The confidential-guest object type (`sev-guest`, `sev-snp-guest`, …); nil for none.
    public var confidentialType: String?
    /// A `sev-guest` whose policy sets bit 2 (SEV-ES): there is no `sev-es-guest` type, the
    /// policy selects it (target/i386/sev.c, `sev_es_enabled()`), and KVM needs its `sev_es`
    /// parameter as well as `sev`.
    public var encryptedState: Bool
    /// `[vsock] guest-cid`: the host needs `/dev/vhost-vsock`, and no other running VM of the
    /// state directory may use the CID.
    public var vsockGuestCID: UInt32?

    public init(accelerator: String?, confidentialType: String?, encryptedState: Bool = false, vsockGuestCID: UInt32? = nil) {
        self.accelerator = accelerator
        self.confidentialType = confidentialType
        self.encryptedState = encryptedState
        self.vsockGuestCID = vsockGuestCID
    }
}

/// Reads the host facts the checks need. A protocol so tests can describe an SNP host
/// that this machine is not.
public protocol HostFacts: Sendable {
    /// Whether `path` exists (a device node or a file).
    func exists(_ path: String) -> Bool
    /// The trimmed contents of a small text file (a sysfs parameter), nil when unreadable.
    func read(_ path: String) -> String?
    /// Whether this process may open the device at `path` read-write.
    func canOpenReadWrite(_ path: String) -> Bool
}

extension HostFacts {
    public func canOpenReadWrite(_ path: String) -> Bool { exists(path) }
}

/// The real host.
public struct LiveHostFacts: HostFacts {
    public init() {}
    public func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
    public func canOpenReadWrite(_ path: String) -> Bool { access(path, R_OK | W_OK) == 0 }
    public func read(_ path: String) -> String? {
        guard let bytes = try? FileDescriptorIO.readFile(path) else { return nil }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \n\t")
    }
}

/// The checks themselves.
public enum HostChecks {
    /// Every problem found, one line each (empty: the host can run it).
    public static func problems(for requirements: HostRequirements, on host: some HostFacts = LiveHostFacts()) -> [String] {
        var problems: [String] = []
        let needsKVM = requirements.accelerator == "kvm" || requirements.confidentialType.map(isSEV) == true
        if needsKVM && !host.exists("/dev/kvm") {
            let why = requirements.accelerator == "kvm" ? "accel=kvm" : "\(requirements.confidentialType!) (SEV needs KVM)"
            problems.append("\(why) needs /dev/kvm, which does not exist on this host (is the kvm module loaded?)")
        } else if needsKVM && !host.canOpenReadWrite("/dev/kvm") {
            problems.append("/dev/kvm exists but this user cannot open it read-write (add the user to the kvm group)")
        }
        if requirements.vsockGuestCID != nil && !host.canOpenReadWrite("/dev/vhost-vsock") {
            problems.append("[vsock] needs /dev/vhost-vsock read-write (the vhost_vsock module), which \(host.exists("/dev/vhost-vsock") ? "this user cannot open" : "does not exist on this host")")
        }
        if let type = requirements.confidentialType, isSEV(type) {
            if !host.exists("/dev/sev") {
                problems.append("\(type) needs /dev/sev (the AMD PSP driver, ccp), which does not exist on this host")
            } else if !host.canOpenReadWrite("/dev/sev") {
                problems.append("/dev/sev exists but this user cannot open it read-write")
            }
            // kvm_amd's switches: sev for every SEV guest, sev_es for SEV-ES, sev_snp for SEV-SNP
            // (arch/x86/kvm/svm/sev.c module parameters).
            var parameters = [type == "sev-snp-guest" ? "sev_snp" : "sev"]
            if type == "sev-guest" && requirements.encryptedState { parameters.append("sev_es") }
            let what = requirements.encryptedState && type == "sev-guest" ? "sev-guest with SEV-ES (policy bit 2)" : type
            for parameter in parameters {
                let path = "/sys/module/kvm_amd/parameters/\(parameter)"
                switch host.read(path) {
                case "Y", "y", "1": break
                case nil: problems.append("\(what) needs \(path) = Y, but it is missing (kvm_amd is not loaded)")
                case let value?: problems.append("\(what) needs \(path) = Y, but it is \(value)")
                }
            }
        }
        return problems
    }

    /// Throws `.hostUnsupported` naming every missing piece.
    public static func check(_ requirements: HostRequirements, on host: some HostFacts = LiveHostFacts()) throws(LifecycleError) {
        let found = problems(for: requirements, on: host)
        guard found.isEmpty else {
            throw .hostUnsupported("this host cannot run the VM: " + found.joined(separator: "; "))
        }
    }

    private static func isSEV(_ type: String) -> Bool {
        type == "sev-guest" || type == "sev-snp-guest"
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s.removeFirst() }
        while let l = s.last, chars.contains(l) { s.removeLast() }
        return String(s)
    }
}
