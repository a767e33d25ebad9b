from zoo import Entry

ENTRIES = {
    "shufflenet_v2_x0_5": Entry("shufflenet_v2_x0_5"),
    "shufflenet_v2_x1_0": Entry("shufflenet_v2_x1_0"),
    "shufflenet_v2_x1_5": Entry("shufflenet_v2_x1_5"),
    "shufflenet_v2_x2_0": Entry("shufflenet_v2_x2_0"),
}
