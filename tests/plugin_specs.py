"""The spec the plugin tests share: a small network using the example plugin's `cbam` op."""

CBAM_NET = """\
use cbam

# a small network with CBAM after each stage
network tiny(classes: int = 10, r: int = 8):
    input image: 3 x 32 x 32
    conv 32 3x3 pad=1; bn; relu; cbam r
    conv 64 3x3 stride=2 pad=1; bn; relu; cbam reduction=16 kernel=3
    global avgpool; linear classes
"""
