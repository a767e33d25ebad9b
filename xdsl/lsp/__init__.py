"""The language server (``xdsl lsp``): diagnostics, hovers with shapes, parameters and MACs,
inlay hints, navigation, completion, formatting and rename, over the Language Server Protocol.

:mod:`.analysis` runs the pipeline on a document's text and indexes what it finds; the feature
modules answer from that index; :mod:`.server` wires them to the protocol (pygls). Nothing here
imports torch.
"""
