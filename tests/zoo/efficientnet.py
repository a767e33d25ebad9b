from zoo import Entry

ENTRIES = {
    "efficientnet_b0": Entry("efficientnet_b0"),
}
