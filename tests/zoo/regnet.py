from zoo import Entry

# RegNet's stages halve the map four times after the stem: 32x32 ends at 1x1.
ENTRIES = {
    name: Entry(name, size=32)
    for name in (
        "regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf",
        "regnet_x_8gf",
        "regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf",
        "regnet_y_8gf",
    )
}
