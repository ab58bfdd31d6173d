// Public initializers for directive payloads whose memberwise initializers are internal, so
// other modules (Measure's tests, tools building small IGVM files with IGVMWriter) can
// construct them. Labels differ from the synthesized ones, which cannot be redeclared.

extension IGVMParameterArea {
    /// A parameter area with no initial data (QEMU ignores initial data anyway).
    public init(index: UInt32, numberOfBytes: UInt64) {
        self.init(numberOfBytes: numberOfBytes, parameterAreaIndex: index, fileOffset: 0)
    }
}

extension IGVMParameterInsert {
    public init(areaIndex: UInt32, gpa: UInt64, compatibilityMask: UInt32) {
        self.init(gpa: gpa, compatibilityMask: compatibilityMask, parameterAreaIndex: areaIndex)
    }
}

extension IGVMVPContext {
    /// A VP context at KVM's VMSA GPA unless told otherwise; the file offset is the writer's.
    public init(
        vpIndex: UInt16, compatibilityMask: UInt32, gpa: UInt64 = igvmKVMVMSAGPA, format: IGVMVPContextFormat = .sevVMSA
    ) {
        self.init(gpa: gpa, compatibilityMask: compatibilityMask, fileOffset: 0, vpIndex: vpIndex, reserved: 0, format: format)
    }
}

extension IGVMParameter {
    public init(_ kind: IGVMParameterKind, areaIndex: UInt32, byteOffset: UInt32 = 0) {
        self.init(kind: kind, parameterAreaIndex: areaIndex, byteOffset: byteOffset)
    }
}
