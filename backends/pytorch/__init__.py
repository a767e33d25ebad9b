"""PyTorch backend: graph IR → ``torch.nn.Module`` (work in progress)."""
