from zoo import Entry

ENTRIES = {
    "mnasnet0_5": Entry("mnasnet0_5"),
    "mnasnet0_75": Entry("mnasnet0_75"),
    "mnasnet1_0": Entry("mnasnet1_0"),
    "mnasnet1_3": Entry("mnasnet1_3"),
}
