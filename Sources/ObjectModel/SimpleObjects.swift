import JSON

/// `-object igvm-cfg,file=PATH` (QEMU ≥ 10.1): the IGVM file the machine (`-machine igvm-cfg=ID`)
/// boots instead of `-bios`/pflash firmware.
public struct IgvmCfg: QOMObjectType {
    public static let qomType = "igvm-cfg"
    public var id: String
    /// `file`: the IGVM file. Required in practice: QEMU fails machine init without it.
    public var file: String?

    public init(id: String, file: String? = nil) {
        self.id = id
        self.file = file
    }

    public init(id: String, reading r: inout PropertyReader) {
        self.init(id: id, file: r.string("file"))
    }

    public var properties: JSONObject {
        var p = JSONObject()
        p["file"] = file.map { JSON($0) }
        return p
    }

    public func validate(facts: FirmwareFacts) -> [Problem] {
        guard let file else {
            return [Problem(.qemu, object: id, property: "file", "missing: an igvm-cfg object needs the IGVM file")]
        }
        if file.isEmpty { return [Problem(.qemu, object: id, property: "file", "empty path")] }
        return []
    }
}

/// `-object nocc`: "no confidential computing" support, so a native (non-confidential) guest can
/// use IGVM through `confidential-guest-support`. Posted to qemu-devel as "[PATCH] igvm: add
/// initial support for non-cc firmware in igvm format" (Gerd Hoffmann, July 2025) but never
/// merged; only QEMU forks carry it, so probe for it (docs/background.md, "`nocc`").
public struct NoCC: QOMObjectType {
    public static let qomType = "nocc"
    public var id: String

    public init(id: String) { self.id = id }
    public init(id: String, reading r: inout PropertyReader) { self.init(id: id) }
    public var properties: JSONObject { JSONObject() }
    public func validate(facts: FirmwareFacts) -> [Problem] { [] }
}
