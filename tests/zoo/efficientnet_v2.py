from zoo import Entry

# at 64 x 64 (2 x 2 before the pooling): at 32 x 32 (1 x 1) the BN statistics calibrated on four
# samples leave M and L too ill-conditioned for the 1e-9 float64 check
ENTRIES = {
    "efficientnet_v2_s": Entry("efficientnet_v2_s"),
    "efficientnet_v2_m": Entry("efficientnet_v2_m"),
    "efficientnet_v2_l": Entry("efficientnet_v2_l"),
}
