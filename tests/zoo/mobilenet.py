from zoo import Entry

ENTRIES = {
    "mobilenet_v2": Entry("mobilenet_v2"),
    "mobilenet_v3_large": Entry("mobilenet_v3_large"),
    "mobilenet_v3_small": Entry("mobilenet_v3_small"),
}
