"""PyTorch's CPU kernels kept off the AVX-512/AMX cliff on a shared machine.

On an Intel Xeon with AVX-512 (VNNI, AMX), PyTorch's oneDNN kernels took about 900 ms to encode a
question with two threads while the machine's other core was busy, against 22 ms with
``ONEDNN_MAX_CPU_ISA=AVX2`` (30 ms with one thread) and 23 ms on a quiet machine (issue 26): capped
at AVX2 the kernels lose nothing measurable on a quiet machine and keep that speed on a busy one,
so the cap is the default for every process that may run torch (the torch encoder, builds, the
reader's export, ``khamtop model train-reader``). oneDNN reads the variable once, when it first
starts, so it must be in the environment before torch is imported: ``index/__init__.py`` calls
``cap_onednn_isa`` whenever anything of the index (the encoders, the reader, the training that
imports them) is imported, before any of it can import torch, and ``khamtop`` calls it at once;
child processes inherit it. A value the user has set (under either of oneDNN's names) is left as
it is. ONNX Runtime, which answers questions by default, does not read it.
"""

from __future__ import annotations

import os

ISA_VARIABLE = "ONEDNN_MAX_CPU_ISA"
_LEGACY_VARIABLE = "DNNL_MAX_CPU_ISA"  # oneDNN's former name for it, still read
CAPPED_ISA = "AVX2"


def cap_onednn_isa() -> None:
    """Cap oneDNN at AVX2 in this process (and its children), unless the user chose otherwise."""
    if ISA_VARIABLE not in os.environ and _LEGACY_VARIABLE not in os.environ:
        os.environ[ISA_VARIABLE] = CAPPED_ISA
