// QEMUVersion and the guest-policy types are named by IGVM's API (validator, inspector);
// re-exported so that `import IGVM` keeps giving them to its users.
@_exported import Platform

// The version type lives in Platform (QMP names it too); what QEMU's IGVM loader handles per
// version is IGVM's knowledge.
extension QEMUVersion {
    /// The header types QEMU's loader has a handler for; any other type fails the whole file,
    /// whatever its compatibility mask: `qigvm_handler()` in QEMU's `backends/igvm.c` looks the
    /// handler up before it tests the mask (docs/background.md, "What QEMU's loader adds").
    public var igvmHandledTypes: Set<IGVMHeaderType> {
        guard self >= Self.igvmSupport else { return [] }
        var types: Set<IGVMHeaderType> = [.pageData, .vpContext, .parameterArea, .parameterInsert, .memoryMap,
                                          .vpCountParameter, .environmentInfoParameter, .requiredMemory,
                                          .snpIDBlock, .guestPolicy, .supportedPlatform]
        if self >= Self.madtCommandLineDeviceTree { types.formUnion([.madt, .commandLine, .deviceTree]) }
        return types
    }
}
