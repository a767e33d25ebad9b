from zoo import Entry

# 32x32 inputs: the stem and three strided stages leave a 1x1 map before the global pooling
ENTRIES = {
    "resnet18": Entry("resnet18", size=32),
    "resnet34": Entry("resnet34", size=32),
    "resnet50": Entry("resnet50", size=32),
    "resnet101": Entry("resnet101", size=32),
    "resnet152": Entry("resnet152", size=32),
    "resnext50_32x4d": Entry("resnext50_32x4d", size=32),
    "resnext101_32x8d": Entry("resnext101_32x8d", size=32),
    "resnext101_64x4d": Entry("resnext101_64x4d", size=32),
    "wide_resnet50_2": Entry("wide_resnet50_2", size=32),
    "wide_resnet101_2": Entry("wide_resnet101_2", size=32),
}
