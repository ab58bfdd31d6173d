import Capabilities
import ObjectModel

/// What a QEMU binary lacks for one launch plan: every object type and property the plan
/// uses, the machine properties that wire them in, and every device. `start` refuses a plan
/// with anything missing before it spawns the VM's QEMU; the message is the one `caps` gives
/// ("qemu-system-x86_64 10.0.2 has no igvm-cfg (QEMU 10.1 or newer, built with IGVM support)").
public enum LaunchCapabilityCheck {
    /// The `-machine` properties that refer to objects of the plan: a binary without them would
    /// reject the command line ("Property '…' not found").
    static let machineReferences = ["confidential-guest-support", "igvm-cfg", "memory-backend"]

    /// Everything `capabilities` lacks for `plan`, in command-line order; empty when it has all.
    public static func missing(for plan: LaunchPlan, in capabilities: QEMUCapabilities) -> [MissingCapability] {
        var missing: [MissingCapability] = []
        for object in plan.objects {
            missing += problems(capabilities, type: object.qomType, properties: object.properties.keys,
                                propertiesKnown: capabilities.objectProperties[object.qomType] != nil)
        }
        let references = plan.machine.properties.keys.filter(machineReferences.contains)
        // Only machines the probe recorded can be checked; QEMU names any other itself.
        if capabilities.machineProperties[plan.machine.type] != nil {
            missing += capabilities.problems(creating: plan.machine.type, properties: references)
        }
        for device in plan.devices {
            // Devices the probe did not look at closely (virtio-blk-pci, …) need only exist
            // (`qom-list-types`); their properties are QEMU's to check.
            if capabilities.deviceProperties[device.driver] == nil && capabilities.types.contains(device.driver) { continue }
            missing += problems(capabilities, type: device.driver, properties: device.properties.keys,
                                propertiesKnown: capabilities.deviceProperties[device.driver] != nil)
        }
        return missing
    }

    /// The type must exist; its properties are checked only where the probe recorded them.
    private static func problems(_ capabilities: QEMUCapabilities, type: String, properties: [String],
                                 propertiesKnown: Bool) -> [MissingCapability] {
        if capabilities.canCreate(type) || capabilities.deviceProperties[type] != nil {
            return propertiesKnown ? capabilities.problems(creating: type, properties: properties) : []
        }
        return capabilities.problems(creating: type, properties: [])
    }
}
