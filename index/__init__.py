"""The index: encoders (``encoders/``), then the folder on disk (``layout``, ``spans``,
``doctable``, ``vectors``, ``keyword``, ``ann``; written by ``embed`` and ``write``, read by
``load``, checked by ``compat``, versioned by ``versions``), then search over a loaded version
(``batching``, ``query``, ``answer``, ``search``). docs/architecture.md has the flow."""

# Before anything here can import torch: its CPU kernels capped at AVX2, which keeps a question
# at tens of milliseconds on an AVX-512 Xeon whose other core is busy (index/encoders/torch_cpu.py).
from index.encoders.torch_cpu import cap_onednn_isa

cap_onednn_isa()
