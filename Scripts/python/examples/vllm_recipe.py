"""vLLM recipe: prune a LLaVA-family model's image tokens on the cluster, then generate from the kept
ones with vLLM's precomputed-embeddings input (`enable_mm_embeds=True`).

    python examples/vllm_recipe.py --connect tcp://127.0.0.1:5555 --image cat.jpg \
        --model llava-hf/llava-1.5-7b-hf --budget 144

Where vLLM is not installed it says so and exits 0. It needs the model's weights (the vision tower
and projector run here with transformers, the language model in vLLM) and, for vLLM, a GPU.

LLaVA-family models take the image's token count from the embeddings tensor, so the kept rows
(in their original order: the cluster returns ascending indices) go in as they are. Qwen2-VL
derives its rotary positions from `image_grid_thw`, which a pruned set no longer fills: it needs
the kept positions (`result.indices`) passed to its position computation, which vLLM's embeddings
input does not take today; this recipe does not cover it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description="Prune LLaVA image tokens on a Script Cluster, generate with vLLM.")
    p.add_argument("--connect", action="append", required=True)
    p.add_argument("--model", default="llava-hf/llava-1.5-7b-hf")
    p.add_argument("--image", required=True, help="an image file")
    p.add_argument("--question", default="What is shown in this image?")
    p.add_argument("--budget", default="144", help="image tokens to keep: a count or a ratio")
    p.add_argument("--max-tokens", type=int, default=64)
    a = p.parse_args(argv)
    try:
        import vllm  # type: ignore[import-not-found]
    except ImportError:
        print("vLLM is not installed: recipe skipped (pip install vllm on a GPU machine to run it)")
        return 0
    import torch
    from PIL import Image
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from script_cluster import Client

    budget = float(a.budget) if "." in a.budget else int(a.budget)
    processor = AutoProcessor.from_pretrained(a.model)
    hf = LlavaForConditionalGeneration.from_pretrained(a.model, torch_dtype=torch.bfloat16)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    hf.vision_tower.to(device)
    hf.multi_modal_projector.to(device)
    prompt = f"USER: <image>\n{a.question}\nASSISTANT:"
    inputs = processor(images=Image.open(a.image).convert("RGB"), text=prompt, return_tensors="pt")
    with torch.inference_mode():
        feats = hf.get_image_features(pixel_values=inputs["pixel_values"].to(device, torch.bfloat16),
                                      vision_feature_layer=hf.config.vision_feature_layer,
                                      vision_feature_select_strategy=hf.config.vision_feature_select_strategy)
        feats = feats[0] if isinstance(feats, (list, tuple)) else feats
        feats = feats.reshape(-1, feats.shape[-1])  # N x hidden: the tokens the LM would see
        question_ids = processor.tokenizer(a.question, return_tensors="pt").input_ids[0]
        query = hf.get_input_embeddings()(question_ids).to(device)
    with Client(a.connect) as cluster:
        r = cluster.prune(feats, query=query, budget=budget, return_="features")  # bf16, on `device`
    print(f"image tokens {r.n} -> {len(r.indices)} (coordinator {r.timings_ms.get('total', 0):.1f} ms)")
    del hf

    llm = vllm.LLM(model=a.model, enable_mm_embeds=True, limit_mm_per_prompt={"image": 1})
    out = llm.generate({"prompt": prompt, "multi_modal_data": {"image": r.features[None].cpu()}},
                       vllm.SamplingParams(max_tokens=a.max_tokens, temperature=0))
    print(out[0].outputs[0].text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
