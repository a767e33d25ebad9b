from zoo import Entry

# torchvision's googlenet() has aux heads unless told otherwise; the zoo entry has none.
# 32x32 reaches 1x1 before the last Inception modules (5a, 5b).
ENTRIES = {
    "googlenet": Entry("googlenet", size=32, kwargs={"aux_logits": False, "init_weights": True}),
}
