"""The index, laid out by idea: ``store/`` (version homes, manifests, collections), ``encoders/``
and ``reader/`` (the models), ``folder/`` (a version's files and their own engine), ``build/``
(from documents to a version), ``backends/`` (where a version's search part lives, behind one
seam), ``search/`` (from a question to the answer). docs/architecture.md has the flow."""

# Before anything here can import torch: its CPU kernels capped at AVX2, which keeps a question
# at tens of milliseconds on an AVX-512 Xeon whose other core is busy (index/encoders/torch_cpu.py).
from index.encoders.torch_cpu import cap_onednn_isa

cap_onednn_isa()
