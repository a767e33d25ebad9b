from zoo import Entry

# torchvision pools with ceil_mode=True, which the spec writes as `valid` or `same` pooling by
# the parity of the size: 64 gives version 1.0 sizes 29, 14, 7 before its poolings, and 62
# version 1.1 sizes 30, 15, 7, so that each version meets both cases.
ENTRIES = {
    "squeezenet1_0": Entry("squeezenet1_0", size=64),
    "squeezenet1_1": Entry("squeezenet1_1", size=62),
}
