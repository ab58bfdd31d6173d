import JSON
import ObjectModel
import Testing

@Suite struct ObjectModelSmokeTests {
    @Test func snpGuestRendersAndParses() throws {
        let guest = SevSnpGuest(id: "sev0", cbitpos: 51, reducedPhysBits: 1, policy: .qemuDefault)
        let object = QOMObject.sevSnpGuest(guest)
        #expect(object.commandLineArgument(form: .keyValue) == "sev-snp-guest,id=sev0,cbitpos=51,reduced-phys-bits=1,policy=0x30000")
        #expect(object.commandLineArgument() == #"{"qom-type":"sev-snp-guest","id":"sev0","cbitpos":51,"reduced-phys-bits":1,"policy":196608}"#)
        #expect(try QOMObject(commandLine: object.commandLineArgument(form: .keyValue)) == object)
        #expect(try QOMObject(commandLine: object.commandLineArgument()) == object)
        #expect(object.validate() == [])
    }

    @Test func oneLineProblem() {
        let problems = ObjectSpec.validate("sev-snp-guest,id=sev0,reduced-phys-bits=1,id-block=" + String(repeating: "A", count: 124) + "A=")
        print(problems.map(\.description))
    }
}
