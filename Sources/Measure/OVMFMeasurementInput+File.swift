extension OVMFMeasurementInput {
    /// Reads an OVMF image and its footer table / SEV metadata.
    public init(contentsOf path: String) throws(MeasurementError) {
        throw .invalid("OVMF parsing is not wired yet (\(path))")
    }
}
