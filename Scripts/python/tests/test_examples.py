"""The examples: the transformers farm (where torch and transformers are installed) and the vLLM
recipe (which says it is skipped where vLLM is not installed)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from harness import in_process

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_farm_example(cluster, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    spec = importlib.util.spec_from_file_location("llava_farm", EXAMPLES / "llava_farm.py")
    farm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(farm)
    out = farm.main(["--connect", cluster, "--images", "2", "--budget", "200", "--width", "128", "--layers", "1",
                     "--vision-width", "64", "--vision-layers", "1", "--repeats", "1"])
    printed = capsys.readouterr().out
    assert out["visual"] == [2880, 2880] and out["kept"] == [200, 200]
    assert out["tokens_full"] - out["tokens_pruned"] == 2 * (2880 - 200)
    assert "2880 -> 200" in printed and "prefill:" in printed
    # The kept rows are the image's own bf16 tokens, at the indices in-process Script keeps.
    r, visual = out["results"][0], out["visual_tokens"][0]
    flat = visual.reshape(-1, visual.shape[-1])
    assert r.features.dtype == torch.bfloat16 and torch.equal(r.features, flat[r.indices])
    tiles = [(i * 576, (i + 1) * 576) for i in range(5)]
    ref = in_process(tmp_path, flat.float().numpy(), 200, shards=tiles, query=out["query"].float().numpy())
    assert r.indices.tolist() == ref["indices"]


def test_vllm_recipe_skips_without_vllm(cluster):
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed: the recipe needs model weights and a GPU; run it by hand")
    out = subprocess.run([sys.executable, str(EXAMPLES / "vllm_recipe.py"), "--connect", cluster, "--image", "x.jpg"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "vLLM is not installed" in out.stdout
