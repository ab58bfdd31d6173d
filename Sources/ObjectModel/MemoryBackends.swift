import JSON

/// QEMU's host memory policy (`HostMemPolicy` in qapi/machine.json).
public enum HostMemPolicy: String, Sendable, Hashable, CaseIterable {
    case `default`, preferred, bind, interleave
}

/// The properties every `memory-backend-*` has (QAPI `MemoryBackendProperties`; the modelled
/// subset: `host-nodes`, `prealloc-context` and `x-use-canonical-path-for-ramblock-id` are not).
public struct MemoryBackendProperties: Sendable, Hashable {
    /// `size` in bytes: mandatory, and QEMU refuses 0.
    public var size: UInt64?
    /// `share` (default false; true for memory-backend-memfd).
    public var share: Bool?
    /// `prealloc` (default false).
    public var prealloc: Bool?
    /// `prealloc-threads` (default 1).
    public var preallocThreads: UInt32?
    /// `merge` (default true: KSM may merge pages).
    public var merge: Bool?
    /// `dump` (default true: include in core dumps).
    public var dump: Bool?
    /// `reserve` (default true).
    public var reserve: Bool?
    /// `policy` (default `default`).
    public var policy: HostMemPolicy?

    public init(size: UInt64? = nil, share: Bool? = nil, prealloc: Bool? = nil, preallocThreads: UInt32? = nil,
                merge: Bool? = nil, dump: Bool? = nil, reserve: Bool? = nil, policy: HostMemPolicy? = nil) {
        self.size = size
        self.share = share
        self.prealloc = prealloc
        self.preallocThreads = preallocThreads
        self.merge = merge
        self.dump = dump
        self.reserve = reserve
        self.policy = policy
    }

    init(reading r: inout PropertyReader) {
        self.init(size: r.size("size"), share: r.bool("share"), prealloc: r.bool("prealloc"),
                  preallocThreads: r.uint32("prealloc-threads"), merge: r.bool("merge"), dump: r.bool("dump"),
                  reserve: r.bool("reserve"), policy: r.enumeration("policy", as: HostMemPolicy.self))
    }

    var json: JSONObject {
        var p = JSONObject()
        p["size"] = size.map { JSON($0) }
        p["share"] = share.map { JSON($0) }
        p["prealloc"] = prealloc.map { JSON($0) }
        p["prealloc-threads"] = preallocThreads.map { JSON($0) }
        p["merge"] = merge.map { JSON($0) }
        p["dump"] = dump.map { JSON($0) }
        p["reserve"] = reserve.map { JSON($0) }
        p["policy"] = policy.map { JSON($0.rawValue) }
        return p
    }

    /// The largest size whose rounding up to a 4 KiB page does not wrap to 0.
    static let largestRoundableSize = UInt64.max - 4095

    func validate(id: String) -> [Problem] {
        var problems: [Problem] = []
        func add(_ property: String, _ message: String) {
            problems.append(Problem(.qemu, object: id, property: property, message))
        }
        switch size {
        case nil: add("size", "missing: a memory backend needs a size")
        case 0: add("size", "0: QEMU cannot create a backend of size 0")
        case let s? where s > Self.largestRoundableSize:
            // QMP accepts -1 here; QEMU 10.0 then aborts (find_ram_offset: `size != 0`).
            add("size", "\(s) wraps to 0 when QEMU rounds it up to a page (QEMU aborts)")
        default: break
        }
        if preallocThreads == 0 {
            add("prealloc-threads", "0: QEMU needs at least one preallocation thread")
        }
        if let policy, policy != .default {
            // host-nodes is not modelled, so it is never set here.
            add("policy", "'\(policy.rawValue)' needs host-nodes (QEMU: \"host-nodes must be set for policy \(policy.rawValue)\")")
        }
        return problems
    }
}

/// A `memory-backend-*` type: its common properties are reachable directly (`ram.size`).
public protocol MemoryBackendObject: QOMObjectType {
    var backend: MemoryBackendProperties { get set }
}

extension MemoryBackendObject {
    /// QAPI MemoryBackendProperties members not modelled here.
    public static var unmodelledProperties: Set<String> {
        ["host-nodes", "prealloc-context", "x-use-canonical-path-for-ramblock-id"]
    }

    public subscript<T>(dynamicMember key: WritableKeyPath<MemoryBackendProperties, T>) -> T {
        get { backend[keyPath: key] }
        set { backend[keyPath: key] = newValue }
    }
}

/// `-object memory-backend-ram`: anonymous memory.
@dynamicMemberLookup
public struct MemoryBackendRam: MemoryBackendObject {
    public static let qomType = "memory-backend-ram"
    public var id: String
    public var backend: MemoryBackendProperties

    public init(id: String, backend: MemoryBackendProperties = .init()) {
        self.id = id
        self.backend = backend
    }

    public init(id: String, reading r: inout PropertyReader) {
        self.init(id: id, backend: MemoryBackendProperties(reading: &r))
    }

    public var properties: JSONObject { backend.json }
    public func validate(facts: FirmwareFacts) -> [Problem] { backend.validate(id: id) }
}

/// `-object memory-backend-memfd`: memfd memory (shareable with vhost-user; `share` defaults to true).
@dynamicMemberLookup
public struct MemoryBackendMemfd: MemoryBackendObject {
    public static let qomType = "memory-backend-memfd"
    public var id: String
    public var backend: MemoryBackendProperties
    /// `hugetlb` (default false).
    public var hugetlb: Bool?
    /// `hugetlbsize` in bytes (default: the host's default huge page size).
    public var hugetlbsize: UInt64?
    /// `seal` (default true).
    public var seal: Bool?

    public init(id: String, backend: MemoryBackendProperties = .init(), hugetlb: Bool? = nil,
                hugetlbsize: UInt64? = nil, seal: Bool? = nil) {
        self.id = id
        self.backend = backend
        self.hugetlb = hugetlb
        self.hugetlbsize = hugetlbsize
        self.seal = seal
    }

    public init(id: String, reading r: inout PropertyReader) {
        self.init(id: id, backend: MemoryBackendProperties(reading: &r), hugetlb: r.bool("hugetlb"),
                  hugetlbsize: r.size("hugetlbsize"), seal: r.bool("seal"))
    }

    public var properties: JSONObject {
        var p = backend.json
        p["hugetlb"] = hugetlb.map { JSON($0) }
        p["hugetlbsize"] = hugetlbsize.map { JSON($0) }
        p["seal"] = seal.map { JSON($0) }
        return p
    }

    public func validate(facts: FirmwareFacts) -> [Problem] { backend.validate(id: id) }
}

/// `-object memory-backend-file`: memory backed by a file (`mem-path`).
@dynamicMemberLookup
public struct MemoryBackendFile: MemoryBackendObject {
    public static let qomType = "memory-backend-file"
    public var id: String
    public var backend: MemoryBackendProperties
    /// `mem-path`: mandatory.
    public var memPath: String?
    /// `align` in bytes.
    public var align: UInt64?
    /// `offset` into the file, in bytes.
    public var offset: UInt64?
    /// `discard-data` (default false).
    public var discardData: Bool?
    /// `pmem` (default false).
    public var pmem: Bool?
    /// `readonly` (default false).
    public var readonly: Bool?
    /// `rom` (default auto).
    public var rom: OnOffAuto?

    public init(id: String, backend: MemoryBackendProperties = .init(), memPath: String? = nil,
                align: UInt64? = nil, offset: UInt64? = nil, discardData: Bool? = nil, pmem: Bool? = nil,
                readonly: Bool? = nil, rom: OnOffAuto? = nil) {
        self.id = id
        self.backend = backend
        self.memPath = memPath
        self.align = align
        self.offset = offset
        self.discardData = discardData
        self.pmem = pmem
        self.readonly = readonly
        self.rom = rom
    }

    public init(id: String, reading r: inout PropertyReader) {
        self.init(id: id, backend: MemoryBackendProperties(reading: &r), memPath: r.string("mem-path"),
                  align: r.size("align"), offset: r.size("offset"), discardData: r.bool("discard-data"),
                  pmem: r.bool("pmem"), readonly: r.bool("readonly"), rom: r.enumeration("rom", as: OnOffAuto.self))
    }

    public var properties: JSONObject {
        var p = backend.json
        p["mem-path"] = memPath.map { JSON($0) }
        p["align"] = align.map { JSON($0) }
        p["offset"] = offset.map { JSON($0) }
        p["discard-data"] = discardData.map { JSON($0) }
        p["pmem"] = pmem.map { JSON($0) }
        p["readonly"] = readonly.map { JSON($0) }
        p["rom"] = rom.map { JSON($0.rawValue) }
        return p
    }

    public func validate(facts: FirmwareFacts) -> [Problem] {
        var problems = backend.validate(id: id)
        if memPath == nil {
            problems.append(Problem(.qemu, object: id, property: "mem-path", "missing: memory-backend-file needs a path"))
        } else if memPath == "" {
            problems.append(Problem(.qemu, object: id, property: "mem-path", "empty path: QEMU cannot open the backing store"))
        }
        return problems
    }
}
