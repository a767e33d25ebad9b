from zoo import Entry

# at 64 x 64 (2 x 2 before the pooling): at 32 x 32 (1 x 1) the BN statistics calibrated on
# four samples leave B7 too ill-conditioned for the 1e-9 float64 check (1.3e-8)
ENTRIES = {
    "efficientnet_b0": Entry("efficientnet_b0"),
    "efficientnet_b1": Entry("efficientnet_b1"),
    "efficientnet_b2": Entry("efficientnet_b2"),
    "efficientnet_b3": Entry("efficientnet_b3"),
    "efficientnet_b4": Entry("efficientnet_b4"),
    "efficientnet_b5": Entry("efficientnet_b5"),
    "efficientnet_b6": Entry("efficientnet_b6"),
    "efficientnet_b7": Entry("efficientnet_b7"),
}
