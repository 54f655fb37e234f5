#!/usr/bin/env python3
"""Dequantisation speed: the workbench's GGUF loading against the `gguf` package's, same run.

Writes a GGUF file of Qwen2.5-0.5B's shape (24 blocks, d 896, MLP 4864, vocabulary 151,936,
494M values) with the type mix llama.cpp's Q4_K_M gives it: rows of 896 values are not whole
256-value super-blocks, so those tensors fall back to Q5_0 (for Q4_K) and Q8_0 (for Q6_K: attn_v
and the embedding); ffn_down (rows of 4864) is Q6_K in half the blocks and Q4_K in the others;
F32 norms and biases. Random blocks with finite scales. Then it times
    * `workbench info FILE --no-measure`: the whole load (header, every tensor dequantised to
      float32, Q/K left alone for qwen2) on all cores;
    * `gguf.quants.dequantize` of every tensor (numpy, one core) and
    * transformers' `from_pretrained(gguf_file=...)` when --transformers is given (slow).
Prints seconds and our speed as a ratio.

    venv-ref/bin/python scripts/bench_gguf.py [--workbench .build/release/workbench] [--keep FILE]
"""

import argparse
import os
import subprocess
import tempfile
import time

import numpy as np
from gguf import GGMLQuantizationType as Q, GGUFReader, GGUFWriter
from gguf.quants import dequantize

BLOCK = {Q.Q4_K: (256, 144, [0, 2]), Q.Q6_K: (256, 210, [208]), Q.Q5_0: (32, 22, [0]), Q.Q8_0: (32, 34, [0])}


def random_blocks(rng, qtype, rows, cols):
    values, size, halves = BLOCK[qtype]
    blocks = rows * cols // values
    raw = rng.integers(0, 256, size=(blocks, size), dtype=np.uint8)
    for off in halves:
        raw[:, off:off + 2] = (rng.standard_normal(blocks) * 0.01).astype(np.float16).view(np.uint8).reshape(blocks, 2)
    return raw.reshape(rows, cols // values * size)


def write(path, rng):
    d, ff, layers, heads, kv, vocab = 896, 4864, 24, 14, 2, 151936
    hd = d // heads
    w = GGUFWriter(path, arch="qwen2")
    w.add_block_count(layers); w.add_context_length(32768); w.add_embedding_length(d)
    w.add_feed_forward_length(ff); w.add_head_count(heads); w.add_head_count_kv(kv)
    w.add_rope_freq_base(1000000.0); w.add_layer_norm_rms_eps(1e-6); w.add_vocab_size(vocab)

    def quantised(name, qtype, rows, cols):
        w.add_tensor(name, random_blocks(rng, qtype, rows, cols), raw_dtype=qtype)

    def f32(name, n):
        w.add_tensor(name, (1 + 0.01 * rng.standard_normal(n)).astype(np.float32))

    quantised("token_embd.weight", Q.Q8_0, vocab, d)
    f32("output_norm.weight", d)
    for l in range(layers):
        f32(f"blk.{l}.attn_norm.weight", d); f32(f"blk.{l}.ffn_norm.weight", d)
        quantised(f"blk.{l}.attn_q.weight", Q.Q5_0, d, d); f32(f"blk.{l}.attn_q.bias", d)
        quantised(f"blk.{l}.attn_k.weight", Q.Q5_0, kv * hd, d); f32(f"blk.{l}.attn_k.bias", kv * hd)
        quantised(f"blk.{l}.attn_v.weight", Q.Q8_0, kv * hd, d); f32(f"blk.{l}.attn_v.bias", kv * hd)
        quantised(f"blk.{l}.attn_output.weight", Q.Q5_0, d, d)
        quantised(f"blk.{l}.ffn_gate.weight", Q.Q5_0, ff, d)
        quantised(f"blk.{l}.ffn_up.weight", Q.Q5_0, ff, d)
        quantised(f"blk.{l}.ffn_down.weight", Q.Q6_K if l % 2 == 0 else Q.Q4_K, d, ff)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workbench", default=".build/release/workbench")
    parser.add_argument("--keep", help="write the file here and keep it")
    parser.add_argument("--transformers", action="store_true", help="also time transformers' GGUF loading")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or os.path.join(tmp, "qwen05b-q4km.gguf")
        if not os.path.exists(path):
            write(path, np.random.default_rng(0))
        size = os.path.getsize(path)
        reader = GGUFReader(path)
        values = sum(int(np.prod(t.shape)) for t in reader.tensors)
        print(f"{path}: {size / 1e6:.0f} MB, {len(reader.tensors)} tensors, {values / 1e6:.0f}M values")
        # Warm the page cache for both.
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass
        start = time.perf_counter()
        out = subprocess.run([args.workbench, "info", path, "--no-measure"], capture_output=True, text=True)
        ours = time.perf_counter() - start
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        start = time.perf_counter()
        for t in reader.tensors:
            dequantize(t.data, t.tensor_type)
        theirs = time.perf_counter() - start
        print(f"workbench info (load + dequantise, {os.cpu_count()} cores): {ours:.2f} s")
        print(f"gguf.quants.dequantize, every tensor (numpy):   {theirs:.2f} s")
        print(f"ratio: {theirs / ours:.1f}x")
        if args.transformers:
            import torch
            from transformers import AutoModelForCausalLM
            start = time.perf_counter()
            AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32)
            hf = time.perf_counter() - start
            print(f"transformers from_pretrained(gguf_file=...):    {hf:.2f} s  (ratio {hf / ours:.1f}x)")


if __name__ == "__main__":
    main()
