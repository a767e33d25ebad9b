from zoo import Entry

# 32 x 32 inputs: the stem and three transitions leave 1 x 1 maps in the last dense block
ENTRIES = {name: Entry(name, size=32) for name in (
    "densenet121", "densenet161", "densenet169", "densenet201")}
