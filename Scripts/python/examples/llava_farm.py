"""What an inference farm does, end to end, with models built from configs (random weights, nothing
downloaded): a batch of images becomes LLaVA-NeXT AnyRes tiles, a CLIP-style vision tower and a
projector turn them into visual tokens in the decoder's space, the cluster prunes each image's
tokens (tiles as shards, the question as the query), and the kept tokens go to a small
LLaMA-style decoder as `inputs_embeds`. Prints the tokens before and after and the prefill time
saved.

    script-cluster up --workers 2 &                     # or any running cluster
    python examples/llava_farm.py --connect tcp://127.0.0.1:5555

Needs torch and transformers (pip install "script-cluster-client[example]").
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

from script_cluster import Client, PruneRequest

TILE = 336  # CLIP ViT-L/14-336: 24 x 24 = 576 patches a tile
PATCH = 14
GRIDS = [(1, 2), (2, 1), (2, 2), (1, 3), (3, 1)]  # (rows, cols) of tiles, LLaVA-NeXT's candidates
CLIP_MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3, 1, 1)
CLIP_STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3, 1, 1)


def synthetic_image(seed: int, height: int, width: int) -> torch.Tensor:
    """A 3 x H x W image in [0, 1]: a gradient sky, ground, and a few objects."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None]
    img = np.empty((3, height, width), dtype=np.float32)
    img[0], img[1], img[2] = 0.4 + 0.2 * y, 0.6 + 0.1 * y, 0.9 - 0.3 * y
    img[:, int(height * 0.65):] = np.array([0.35, 0.5, 0.25], dtype=np.float32)[:, None, None]
    for _ in range(6):
        h, w = rng.integers(height // 12, height // 4), rng.integers(width // 12, width // 4)
        top, left = rng.integers(0, height - h), rng.integers(0, width - w)
        img[:, top:top + h, left:left + w] = rng.random(3, dtype=np.float32)[:, None, None]
    img += rng.normal(0, 0.02, img.shape).astype(np.float32)
    return torch.from_numpy(np.clip(img, 0, 1))


def best_grid(height: int, width: int) -> Tuple[int, int]:
    """The grid whose canvas shows the image at the highest resolution, then wastes least."""
    def score(grid: Tuple[int, int]) -> Tuple[float, float]:
        ch, cw = grid[0] * TILE, grid[1] * TILE
        scale = min(ch / height, cw / width)
        effective = min(height * scale * width * scale, height * width)
        return effective, -(ch * cw - effective)
    return max(GRIDS, key=score)


def anyres_tiles(image: torch.Tensor) -> torch.Tensor:
    """LLaVA-NeXT AnyRes: the whole image at tile size, then the tiles of the best-fitting grid
    (the image scaled into the grid's canvas, centred, padded). Returns T x 3 x 336 x 336."""
    _, h, w = image.shape
    rows, cols = best_grid(h, w)
    ch, cw = rows * TILE, cols * TILE
    scale = min(ch / h, cw / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    canvas = torch.full((3, ch, cw), 0.5)
    top, left = (ch - nh) // 2, (cw - nw) // 2
    canvas[:, top:top + nh, left:left + nw] = F.interpolate(image[None], size=(nh, nw), mode="bilinear",
                                                            align_corners=False)[0]
    base = F.interpolate(image[None], size=(TILE, TILE), mode="bilinear", align_corners=False)[0]
    crops = [canvas[:, r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE] for r in range(rows) for c in range(cols)]
    return (torch.stack([base] + crops) - CLIP_MEAN) / CLIP_STD


def byte_tokens(text: str, vocab: int) -> torch.Tensor:
    """A stand-in tokenizer (the weights are random anyway): UTF-8 bytes as ids above 3."""
    return torch.tensor([3 + (b % (vocab - 3)) for b in text.encode()], dtype=torch.long)


class Farm:
    def __init__(self, args: argparse.Namespace) -> None:
        torch.manual_seed(0)
        self.dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
        self.vision = CLIPVisionModel(CLIPVisionConfig(
            hidden_size=args.vision_width, intermediate_size=4 * args.vision_width, num_hidden_layers=args.vision_layers,
            num_attention_heads=max(1, args.vision_width // 64), image_size=TILE, patch_size=PATCH)).eval().to(self.dtype)
        self.projector = torch.nn.Sequential(  # LLaVA's mlp2x_gelu
            torch.nn.Linear(args.vision_width, args.width), torch.nn.GELU(),
            torch.nn.Linear(args.width, args.width)).eval().to(self.dtype)
        self.decoder = LlamaForCausalLM(LlamaConfig(
            vocab_size=args.vocab, hidden_size=args.width, intermediate_size=int(2.75 * args.width),
            num_hidden_layers=args.layers, num_attention_heads=max(1, args.width // 64),
            num_key_value_heads=max(1, args.width // 64), max_position_embeddings=16384)).eval().to(self.dtype)
        self.vocab = args.vocab

    @torch.inference_mode()
    def visual_tokens(self, tiles: torch.Tensor) -> torch.Tensor:
        """T x 3 x 336 x 336 -> T x 576 x width: the penultimate layer's patch tokens, projected."""
        out = self.vision(pixel_values=tiles.to(self.dtype), output_hidden_states=True)
        return self.projector(out.hidden_states[-2][:, 1:])

    @torch.inference_mode()
    def embed(self, text: str) -> torch.Tensor:
        return self.decoder.get_input_embeddings()(byte_tokens(text, self.vocab))

    def sequences(self, images: Sequence[torch.Tensor], question: str) -> List[torch.Tensor]:
        """Each request as the decoder sees it: prompt, the image's tokens, the question."""
        before, after = self.embed("USER: "), self.embed(f"\n{question}\nASSISTANT:")
        return [torch.cat([before, img.reshape(-1, img.shape[-1]), after]) for img in images]

    @torch.inference_mode()
    def prefill(self, seqs: List[torch.Tensor]) -> Tuple[float, torch.Tensor]:
        """One batched forward pass over right-padded sequences: seconds, next-token logits."""
        longest = max(s.shape[0] for s in seqs)
        batch = torch.zeros(len(seqs), longest, seqs[0].shape[1], dtype=self.dtype)
        mask = torch.zeros(len(seqs), longest, dtype=torch.long)
        for i, s in enumerate(seqs):
            batch[i, :s.shape[0]] = s
            mask[i, :s.shape[0]] = 1
        t0 = time.perf_counter()
        logits = self.decoder(inputs_embeds=batch, attention_mask=mask).logits
        last = mask.sum(1) - 1
        return time.perf_counter() - t0, logits[torch.arange(len(seqs)), last]


def main(argv: Sequence[str] = ()) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connect", action="append", required=True, help="coordinator endpoint(s)")
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--budget", default="320", help="tokens kept an image: a count or a ratio")
    p.add_argument("--question", default="What is the small red object on the left holding?")
    p.add_argument("--dtype", choices=["f32", "bf16"], default="bf16", help="the models' dtype, sent as is")
    p.add_argument("--width", type=int, default=512, help="decoder hidden size")
    p.add_argument("--layers", type=int, default=4, help="decoder layers")
    p.add_argument("--vocab", type=int, default=1024)
    p.add_argument("--vision-width", type=int, default=256)
    p.add_argument("--vision-layers", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3, help="prefill timings to take the median of")
    a = p.parse_args(list(argv) or None)
    budget = float(a.budget) if "." in a.budget else int(a.budget)

    farm = Farm(a)
    sizes = [(600, 800), (720, 720), (480, 1400), (900, 500)]
    images = [synthetic_image(i, *sizes[i % len(sizes)]) for i in range(a.images)]
    t0 = time.perf_counter()
    visual = [farm.visual_tokens(anyres_tiles(img)) for img in images]  # each T x 576 x width
    vision_s = time.perf_counter() - t0
    query = farm.embed(a.question)

    with Client(a.connect) as cluster:
        t0 = time.perf_counter()
        # 3-D features: each tile is a shard; the question's embeddings are the query.
        results = cluster.prune_many([PruneRequest(v, budget, query=query, return_="features") for v in visual])
        cluster_s = time.perf_counter() - t0
    kept = [r.features for r in results]  # k x width, in the features' dtype

    full, pruned = farm.sequences(visual, a.question), farm.sequences(kept, a.question)
    time_full = statistics.median(farm.prefill(full)[0] for _ in range(a.repeats))
    time_pruned = statistics.median(farm.prefill(pruned)[0] for _ in range(a.repeats))
    _, logits = farm.prefill(pruned)

    print(f"{a.images} images, {a.dtype}: vision tower {vision_s * 1000:.0f} ms, cluster (all images) {cluster_s * 1000:.0f} ms")
    for i, (v, r) in enumerate(zip(visual, results)):
        print(f"  image {i}: {v.shape[0]} tiles, visual tokens {r.n} -> {len(r.indices)} "
              f"(coordinator {r.timings_ms.get('total', 0):.1f} ms, workers {', '.join(sorted(set(r.workers)))})")
    tokens_full, tokens_pruned = sum(s.shape[0] for s in full), sum(s.shape[0] for s in pruned)
    print(f"decoder tokens in the batch: {tokens_full} -> {tokens_pruned}")
    print(f"prefill: {time_full * 1000:.0f} ms -> {time_pruned * 1000:.0f} ms "
          f"(saved {(time_full - time_pruned) * 1000:.0f} ms, {time_full / time_pruned:.1f}x)")
    print(f"next tokens (random weights): {logits.argmax(-1).tolist()}")
    return {"tokens_full": tokens_full, "tokens_pruned": tokens_pruned, "prefill_full_s": time_full,
            "prefill_pruned_s": time_pruned, "kept": [len(r.indices) for r in results],
            "visual": [r.n for r in results], "results": results, "visual_tokens": visual, "query": query}


if __name__ == "__main__":
    main()
