"""PyTorch's oneDNN kernels are capped at AVX2 before torch loads, in every process of the project
that may run torch (index/encoders/torch_cpu.py; issue 26: about 900 ms a question on a busy
AVX-512 Xeon, 22 ms capped). The CPU here may have no AVX-512 at all, so what is checked is the
mechanism: the variable's value at the moment torch is first imported."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("corpus", "index", "service", "eval", "training", "khamtop")

# Runs in a fresh interpreter: imports the modules, then torch if asked ("load"), and says what the
# variable was when torch was first imported (or, not imported at all, what it would see now).
PROBE = """
import importlib.abc, json, os, sys
seen = {}
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and "torch" not in seen:
            seen["torch"] = os.environ.get("ONEDNN_MAX_CPU_ISA")
        return None
sys.meta_path.insert(0, Watch())
for module in sys.argv[2:]:
    __import__(module)
if sys.argv[1] == "load":
    import torch
print(json.dumps({"torch": seen.get("torch", os.environ.get("ONEDNN_MAX_CPU_ISA"))}))
"""


def modules_using_torch() -> list[str]:
    """Every project module that imports torch or sentence-transformers, anywhere in its code."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                if any(n.split(".")[0] in ("torch", "sentence_transformers") for n in names):
                    parts = path.relative_to(ROOT).with_suffix("").parts
                    found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
                    break
    return found


def isa_when_torch_loads(*modules: str, load: bool = False, **env: str) -> str | None:
    clean = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "load" if load else "-", *modules],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["torch"]


def test_the_project_has_modules_that_run_torch():
    assert {"index.encoders.torch_encoder", "training.reader_train"} <= set(modules_using_torch())


def test_the_torch_encoder_loads_torch_with_onednn_capped_at_avx2():
    assert isa_when_torch_loads("index.encoders.torch_encoder", load=True) == "AVX2"


def test_every_module_that_runs_torch_caps_onednn_at_avx2_before_torch_loads():
    for module in modules_using_torch():
        assert isa_when_torch_loads(module) == "AVX2", f"{module} can load torch with oneDNN uncapped"


def test_the_command_line_caps_onednn_before_torch_loads():
    assert isa_when_torch_loads("khamtop.cli") == "AVX2"


@pytest.mark.parametrize("variable", ["ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"])
def test_an_isa_the_user_chose_is_kept(variable):
    chosen = isa_when_torch_loads("index.encoders.torch_encoder", load=True, **{variable: "AVX512_CORE_AMX"})
    assert chosen == ("AVX512_CORE_AMX" if variable == "ONEDNN_MAX_CPU_ISA" else None)
