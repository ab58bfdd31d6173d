import JSON
import ObjectModel
import Testing

/// SplitMix64: a small seeded generator, so a failing value can be reproduced from the seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Generates model values with nasty strings and edge numbers.
struct ValueGenerator {
    var rng: SplitMix64

    static let pieces: [String] = [
        ",", ",,", "=", "\n", "}", "{", "\"", "\\", " ", "é", "日本", "\u{301}", ",\u{301}", "🙂", "\t", "\r\n",
        "a", "Z", "0", "-", "_", ".", "/dev/sev", "id=x", ",share=off", "qom-type", "help", "?", "no", "on",
    ]

    mutating func bool() -> Bool { Bool.random(using: &rng) }
    mutating func maybe<T>(_ make: (inout ValueGenerator) -> T) -> T? { bool() ? make(&self) : nil }

    mutating func string() -> String {
        let count = Int.random(in: 0...6, using: &rng)
        return (0..<count).map { _ in Self.pieces.randomElement(using: &rng)! }.joined()
    }

    mutating func uint64() -> UInt64 {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return [0, 1, UInt64(Int64.max), UInt64(Int64.max) + 1, UInt64.max].randomElement(using: &rng)!
        case 1: return UInt64.random(in: 0...0xFFFF, using: &rng)
        default: return rng.next()
        }
    }

    mutating func uint32() -> UInt32 {
        bool() ? [0, 1, UInt32.max].randomElement(using: &rng)! : UInt32.random(in: 0...UInt32.max, using: &rng)
    }

    mutating func id() -> String {
        // Mostly well-formed ids, sometimes nasty ones: the parser must keep them too.
        bool() ? "o" + String(rng.next() % 100_000) : string()
    }

    mutating func choice<E: CaseIterable>(_: E.Type) -> E { E.allCases.randomElement(using: &rng)! }

    mutating func backend() -> MemoryBackendProperties {
        MemoryBackendProperties(size: maybe { $0.uint64() }, share: maybe { $0.bool() }, prealloc: maybe { $0.bool() },
                                preallocThreads: maybe { $0.uint32() }, merge: maybe { $0.bool() }, dump: maybe { $0.bool() },
                                reserve: maybe { $0.bool() }, policy: maybe { $0.choice(HostMemPolicy.self) })
    }

    mutating func object() -> QOMObject {
        switch Int.random(in: 0..<7, using: &rng) {
        case 0:
            return .sevSnpGuest(SevSnpGuest(
                id: id(), sevDevice: maybe { $0.string() }, cbitpos: maybe { $0.uint32() }, reducedPhysBits: maybe { $0.uint32() },
                kernelHashes: maybe { $0.bool() }, policy: maybe { SNPPolicy(rawValue: $0.uint64()) },
                guestVisibleWorkarounds: maybe { $0.string() }, idBlock: maybe { $0.string() }, idAuth: maybe { $0.string() },
                authorKeyEnabled: maybe { $0.bool() }, hostData: maybe { $0.string() }, vcekDisabled: maybe { $0.bool() }))
        case 1:
            return .sevGuest(SevGuest(
                id: id(), sevDevice: maybe { $0.string() }, cbitpos: maybe { $0.uint32() }, reducedPhysBits: maybe { $0.uint32() },
                kernelHashes: maybe { $0.bool() }, dhCertFile: maybe { $0.string() }, sessionFile: maybe { $0.string() },
                policy: maybe { SEVPolicy(rawValue: $0.uint32()) }, handle: maybe { $0.uint32() },
                legacyVMType: maybe { $0.choice(OnOffAuto.self) }))
        case 2: return .igvmCfg(IgvmCfg(id: id(), file: maybe { $0.string() }))
        case 3: return .nocc(NoCC(id: id()))
        case 4: return .memoryBackendRam(MemoryBackendRam(id: id(), backend: backend()))
        case 5:
            return .memoryBackendMemfd(MemoryBackendMemfd(id: id(), backend: backend(), hugetlb: maybe { $0.bool() },
                                                          hugetlbsize: maybe { $0.uint64() }, seal: maybe { $0.bool() }))
        default:
            return .memoryBackendFile(MemoryBackendFile(
                id: id(), backend: backend(), memPath: maybe { $0.string() }, align: maybe { $0.uint64() },
                offset: maybe { $0.uint64() }, discardData: maybe { $0.bool() }, pmem: maybe { $0.bool() },
                readonly: maybe { $0.bool() }, rom: maybe { $0.choice(OnOffAuto.self) }))
        }
    }

    mutating func machine() -> Machine {
        Machine(type: bool() ? "q35" : string(), accel: maybe { $0.string() }, confidentialGuestSupport: maybe { $0.string() },
                igvmCfg: maybe { $0.string() }, memoryBackend: maybe { $0.string() },
                kernelIrqchip: maybe { $0.choice(KernelIrqchip.self) }, smm: maybe { $0.choice(OnOffAuto.self) },
                vmport: maybe { $0.choice(OnOffAuto.self) }, hpet: maybe { $0.bool() }, dumpGuestCore: maybe { $0.bool() },
                memMerge: maybe { $0.bool() }, usb: maybe { $0.bool() }, graphics: maybe { $0.bool() },
                firmware: maybe { $0.string() }, pflash0: maybe { $0.string() }, pflash1: maybe { $0.string() },
                kernel: maybe { $0.string() }, initrd: maybe { $0.string() }, append: maybe { $0.string() })
    }

    mutating func device() -> Device {
        .vmfwupdate(VmfwupdateDevice(id: maybe { $0.id() }, disable: maybe { $0.bool() }))
    }
}

/// Render → parse is the identity, over hundreds of generated values per form.
@Suite struct RoundTripTests {
    static let seeds: [UInt64] = [1, 2, 3, 0xC0FFEE]
    static let perSeed = 200

    @Test(arguments: seeds)
    func objects(seed: UInt64) throws {
        var gen = ValueGenerator(rng: SplitMix64(state: seed))
        for _ in 0..<Self.perSeed {
            let object = gen.object()
            for form in CommandLineForm.allCases {
                let text = object.commandLineArgument(form: form)
                #expect(try QOMObject(commandLine: text) == object, "seed \(seed), \(form): \(text)")
            }
            let args = object.objectAddArguments()
            #expect(try QOMObject(objectAddArguments: args) == object)
            // Through JSON text as QMP carries it.
            let reparsed = try JSON.decode(JSON.object(args).encoded())
            #expect(try QOMObject(objectAddArguments: #require(reparsed.objectValue)) == object)
        }
    }

    @Test(arguments: seeds)
    func machinesAndDevices(seed: UInt64) throws {
        var gen = ValueGenerator(rng: SplitMix64(state: seed))
        for _ in 0..<Self.perSeed {
            let machine = gen.machine()
            let text = machine.commandLineArgument()
            #expect(try Machine(commandLine: text) == machine, "seed \(seed): \(text)")
            let device = gen.device()
            for form in CommandLineForm.allCases {
                let text = device.commandLineArgument(form: form)
                #expect(try Device(commandLine: text) == device, "seed \(seed), \(form): \(text)")
            }
        }
    }

    @Test func typedJSONArguments() {
        let object = QOMObject.sevSnpGuest(SevSnpGuest(id: "sev0", reducedPhysBits: 1, kernelHashes: true,
                                                       policy: SNPPolicy(rawValue: UInt64.max)))
        #expect(object.objectAddArguments() == [
            "qom-type": "sev-snp-guest", "id": "sev0", "reduced-phys-bits": 1, "kernel-hashes": true,
            "policy": .unsigned(UInt64.max),
        ])
        #expect(object.commandLineArgument(form: .keyValue) ==
            "sev-snp-guest,id=sev0,reduced-phys-bits=1,kernel-hashes=on,policy=0xffffffffffffffff")
    }
}

/// Arbitrary text never crashes the parsers; every refusal is reported as problems, one line each.
@Suite struct ParserRobustnessTests {
    static let fragments = ValueGenerator.pieces + [
        "sev-snp-guest", "sev-guest", "memory-backend-file", "id=", "reduced-phys-bits=", "policy=", "0x", "-1",
        "host-data=", "AAAA", "{\"qom-type\":", "\"id\":", "[", "]", ":", "null", "true", "1e5",
    ]

    @Test(arguments: [11 as UInt64, 12, 13])
    func garbageIn(seed: UInt64) {
        var rng = SplitMix64(state: seed)
        for _ in 0..<500 {
            let n = Int.random(in: 0...12, using: &rng)
            let spec = (0..<n).map { _ in Self.fragments.randomElement(using: &rng)! }.joined()
            for problem in ObjectSpec.validate(spec) {
                #expect(!problem.description.contains { $0.isNewline }, "\(spec)")
            }
            _ = try? Machine(commandLine: spec)
            _ = try? Device(commandLine: spec)
        }
    }
}
