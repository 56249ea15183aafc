import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Any attempt to import torch (or torchvision) in the child process raises at once.
SCRIPT = r"""
import importlib.abc, json, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"torch-free runtime imported {name}")
        return None

sys.meta_path.insert(0, NoTorch())
import numpy as np
from perception.loading import load_predictor
from perception.runtime import OnnxPredictor, create_session

predictor = load_predictor(sys.argv[1], providers="cpu", threads=2)
images = [np.full((90, 160, 3), 100, np.uint8), np.zeros((200, 120, 3), np.uint8), np.full((64, 64, 3), 200, np.uint8)]
results = predictor.predict(images)
print(json.dumps({"n": len(results), "drivable": [list(r.drivable.shape) for r in results],
                  "torch": any(m.split(".")[0] == "torch" for m in sys.modules)}))
"""


def test_runtime_predicts_without_torch(runtime_onnx):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(runtime_onnx)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"n": 3, "drivable": [[90, 160], [200, 120], [64, 64]], "torch": False}


PARSER_SCRIPT = SCRIPT.split("import numpy as np")[0] + r"""
from perception.cli.main import build_parser

build_parser().parse_args(["compare-tasks", "--help"])
"""


def test_every_subcommand_parser_builds_without_torch():
    """The base install builds every subcommand's parser (flags derived from config classes) without torch: the
    config modules the parsers read stay torch-free at import (tests/cli/test_base_install.py does it in a real
    base venv, slowly)."""
    proc = subprocess.run([sys.executable, "-c", PARSER_SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--balancing" in proc.stdout
