from zoo import Entry

# 32 x 32: 1 x 1 in the last stage (a 4 x 4 patchify stem, then three halvings)
ENTRIES = {
    "convnext_tiny": Entry("convnext_tiny", size=32),
    "convnext_small": Entry("convnext_small", size=32),
    "convnext_base": Entry("convnext_base", size=32),
    "convnext_large": Entry("convnext_large", size=32),
}
