from zoo import Entry

# 32 x 32 inputs: five 2x2 pools leave 1 x 1, which the 7 x 7 adaptive pool repeats. VGG-16
# and VGG-19 without batch norm get 64 x 64: with torchvision's initialisation their outputs
# at 32 x 32 barely depend on the input (a spread of 0.010 and 0.006 between two inputs,
# against 0.023 and 0.020 at 64 x 64; the test asks for over 0.01).
ENTRIES = {name: Entry(name, size=64 if name in ("vgg16", "vgg19") else 32) for name in (
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")}
