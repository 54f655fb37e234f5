#!/usr/bin/env python3
"""Golden fixtures for the GGUF reader (Tests/ModelTests/Fixtures/gguf/).

Needs numpy, torch, transformers and the `gguf` package (the reference for GGUF itself):
    python3 -m venv venv-ref && venv-ref/bin/pip install "torch==2.13.0+cpu" transformers accelerate gguf tokenizers jinja2
    venv-ref/bin/python scripts/make_gguf_fixtures.py [--smollm2 models/SmolLM2-135M-Instruct.Q4_1.gguf]

Writes, with fixed seeds:
* quants.gguf: one metadata value of every GGUF type (test.*, arrays nested too), and for each type the workbench reads (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
  Q2_K ... Q6_K) a tensor `q.TYPE` of random blocks (random bytes with finite random f16
  scales; the simple types quantised from random floats) and `expected.TYPE`, F32, what
  `gguf.quants.dequantize` makes of it. The Swift test requires the same bits.
* llama.gguf, qwen2.gguf: tiny random models written the way llama.cpp's converter writes them
  (llama's Q/K rows permuted; tensors Q8_0, Q4_0, Q5_1, F16 and F32; qwen2 with biases and tied
  embeddings), and llama.reference.safetensors / qwen2.reference.safetensors: input ids and the
  logits of transformers' own GGUF loading (`from_pretrained(dir, gguf_file=...)`), fp32.
* llama3rope.gguf: the llama_gqa_llama3rope test checkpoint (Llama 3.1-style RoPE scaling) as
  llama.cpp writes it, the scaling as `rope_freqs.weight`; the test uses that checkpoint's
  transformers reference.
* tokenizer-{llama3,qwen2,gpt2}_style.gguf: the byte-level tokenizer fixtures of
  Tests/TokenizersTests/Fixtures written as llama.cpp's converter writes a tokenizer (tokens by id,
  merges, token types, `tokenizer.ggml.pre` llama-bpe / qwen2 / gpt-2, add_bos_token); the Swift
  test requires the ids that the `tokenizers` library gave for the original tokenizer.json
  (the *.expected.json beside them).
* smollm2.json (with --smollm2): for the real SmolLM2-135M-Instruct file, a checksum of the bits of
  every tensor as `gguf.quants.dequantize` gives it, transformers' logits for one prompt (the last
  position in full in smollm2.reference.safetensors, top-5 ids at every position), the original tokenizer's ids for the hard
  strings of Tests/TokenizersTests/Fixtures/cases.json (the SmolLM2 pipeline: individual digits,
  then GPT-2's byte-level split), and transformers' apply_chat_template renderings of a system +
  user message for SmolLM2's, Qwen2.5's and Llama 3's chat templates, and of a user message
  alone (the template's own default system line) for the two ChatML ones.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from gguf import GGMLQuantizationType as Q, GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/ModelTests/Fixtures/gguf"

# Byte offsets of the f16 scale fields in one block of each quantised type.
HALF_FIELDS = {Q.Q8_0: [0], Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2],
               Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208]}
BLOCK = {Q.Q8_0: (32, 34), Q.Q4_0: (32, 18), Q.Q4_1: (32, 20), Q.Q5_0: (32, 22), Q.Q5_1: (32, 24),
         Q.Q2_K: (256, 84), Q.Q3_K: (256, 110), Q.Q4_K: (256, 144), Q.Q5_K: (256, 176), Q.Q6_K: (256, 210)}


def bits_checksum(values: np.ndarray) -> str:
    """Σ bits(x_i)·(2i + 1) mod 2^64 over the float32 bit patterns: any change of any one value
    changes it (odd weights are invertible mod 2^64). The Swift test computes the same."""
    bits = np.ascontiguousarray(values, dtype=np.float32).reshape(-1).view(np.uint32).astype(np.uint64)
    weights = np.arange(bits.size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    with np.errstate(over="ignore"):
        return f"{int(np.sum(bits * weights, dtype=np.uint64)):016x}"


def quant_fixtures(rng: np.random.Generator) -> None:
    w = GGUFWriter(str(OUT / "quants.gguf"), arch="quants")
    # One metadata value of every type, and arrays (nested too): the reader must return them.
    w.add_uint8("test.u8", 200); w.add_int8("test.i8", -5); w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -300); w.add_uint32("test.u32", 4000000000); w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 1.5); w.add_uint64("test.u64", 2**40); w.add_int64("test.i64", -2**40)
    w.add_float64("test.f64", 0.1); w.add_bool("test.bool", True); w.add_string("test.string", "héllo ✓")
    w.add_array("test.strings", ["a", "", "ü"]); w.add_array("test.nested", [[1, 2], [3]])
    # F16 and BF16 from random floats.
    x = rng.standard_normal(512).astype(np.float32)
    f16 = x.astype(np.float16)
    w.add_tensor("q.F16", f16)
    w.add_tensor("expected.F16", dequantize(f16.view(np.uint8), Q.F16).astype(np.float32))
    bf = quantize(x, Q.BF16)
    w.add_tensor("q.BF16", bf, raw_dtype=Q.BF16)
    w.add_tensor("expected.BF16", dequantize(bf, Q.BF16).reshape(512).astype(np.float32))
    for qtype, (values, size) in BLOCK.items():
        blocks = 8
        raw = rng.integers(0, 256, size=(blocks, size), dtype=np.uint8)
        for off in HALF_FIELDS[qtype]:
            scales = (rng.standard_normal(blocks) * 0.05).astype(np.float16)
            raw[:, off:off + 2] = scales.view(np.uint8).reshape(blocks, 2)
        if qtype in (Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1):
            # Half of them quantised from real values, as a converter writes them.
            raw[: blocks // 2] = quantize(rng.standard_normal((blocks // 2) * values).astype(np.float32), qtype).reshape(blocks // 2, size)
        expected = dequantize(raw, qtype).astype(np.float32)   # [8, values]
        assert expected.shape == (blocks, values) and np.isfinite(expected).all()
        w.add_tensor(f"q.{qtype.name}", raw, raw_dtype=qtype)   # [8 rows of one block]
        w.add_tensor(f"expected.{qtype.name}", expected)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def permute(weights: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's converter: within each head, the two rotary halves interleaved."""
    return (weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def tiny_model(arch: str, rng_seed: int) -> None:
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    torch.manual_seed(rng_seed)
    common = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=160, max_position_embeddings=256, rms_norm_eps=1e-5,
                  rope_theta=10000.0)
    if arch == "llama":
        config = LlamaConfig(**common, tie_word_embeddings=False)
    else:
        config = Qwen2Config(**common, tie_word_embeddings=True)
    model = AutoModelForCausalLM.from_config(config).float().eval()
    with torch.no_grad():   # norms and biases away from their initial 1 and 0
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    heads, kv = config.num_attention_heads, config.num_key_value_heads

    w = GGUFWriter(str(OUT / f"{arch}.gguf"), arch=arch)
    w.add_block_count(config.num_hidden_layers)
    w.add_vocab_size(config.vocab_size)
    w.add_context_length(config.max_position_embeddings)
    w.add_embedding_length(config.hidden_size)
    w.add_feed_forward_length(config.intermediate_size)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_freq_base(common["rope_theta"])
    w.add_layer_norm_rms_eps(config.rms_norm_eps)
    w.add_rope_dimension_count(config.hidden_size // heads)
    w.add_file_type(1)

    def put(name: str, array: np.ndarray, qtype: Q) -> None:
        if qtype == Q.F32:
            w.add_tensor(name, array.astype(np.float32))
        elif qtype == Q.F16:
            w.add_tensor(name, array.astype(np.float16))
        else:
            w.add_tensor(name, quantize(array, qtype), raw_dtype=qtype)

    if arch == "llama":
        types = {"attn_q": Q.Q8_0, "attn_k": Q.Q8_0, "attn_v": Q.Q4_0, "attn_output": Q.Q4_0,
                 "ffn_gate": Q.Q5_1, "ffn_up": Q.Q5_1, "ffn_down": Q.F16, "token_embd": Q.Q8_0, "output": Q.F16}
    else:
        types = {"attn_q": Q.Q5_1, "attn_k": Q.Q5_1, "attn_v": Q.Q5_1, "attn_output": Q.Q4_0,
                 "ffn_gate": Q.Q8_0, "ffn_up": Q.Q8_0, "ffn_down": Q.Q8_0, "token_embd": Q.F16}
    put("token_embd.weight", sd["model.embed_tokens.weight"], types["token_embd"])
    if "output" in types:
        put("output.weight", sd["lm_head.weight"], types["output"])
    put("output_norm.weight", sd["model.norm.weight"], Q.F32)
    names = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}
    for l in range(config.num_hidden_layers):
        put(f"blk.{l}.attn_norm.weight", sd[f"model.layers.{l}.input_layernorm.weight"], Q.F32)
        put(f"blk.{l}.ffn_norm.weight", sd[f"model.layers.{l}.post_attention_layernorm.weight"], Q.F32)
        for hf, short in names.items():
            for kind in ("weight", "bias"):
                key = f"model.layers.{l}.{hf}.{kind}"
                if key not in sd:
                    continue
                t = sd[key]
                if arch == "llama" and short in ("attn_q", "attn_k"):
                    t = permute(t, heads if short == "attn_q" else kv)
                put(f"blk.{l}.{short}.{kind}", t, types[short] if kind == "weight" else Q.F32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    ids = torch.tensor([[5, 17, 99, 3, 150, 42, 7, 64, 128, 1, 33, 90]])
    loaded = AutoModelForCausalLM.from_pretrained(str(OUT), gguf_file=f"{arch}.gguf", dtype=torch.float32).eval()
    with torch.no_grad():
        logits = loaded(ids).logits[0].float()
    save_file({"input_ids": ids[0].to(torch.int32), "logits": logits.contiguous()}, str(OUT / f"{arch}.reference.safetensors"))
    print(f"{arch}.gguf: {(OUT / f'{arch}.gguf').stat().st_size} bytes; max |logit| {logits.abs().max():.3f}")


def llama3_rope_fixture() -> None:
    """The llama_gqa_llama3rope test checkpoint (Llama 3.1-style RoPE scaling) written as
    llama.cpp's converter writes it: Q/K permuted, F32 weights, and the scaling as one divisor per
    frequency in `rope_freqs.weight` (no scaling metadata); the test compares its logits with
    that checkpoint's transformers reference."""
    import math
    from safetensors.numpy import load_file

    source = ROOT / "Tests/ModelTests/Fixtures/llama_gqa_llama3rope"
    config = json.loads((source / "config.json").read_text())
    sd = load_file(str(source / "model.safetensors"))
    heads, kv, hd = config["num_attention_heads"], config["num_key_value_heads"], config["head_dim"]
    w = GGUFWriter(str(OUT / "llama3rope.gguf"), arch="llama")
    w.add_block_count(config["num_hidden_layers"]); w.add_vocab_size(config["vocab_size"])
    w.add_context_length(config["max_position_embeddings"]); w.add_embedding_length(config["hidden_size"])
    w.add_feed_forward_length(config["intermediate_size"]); w.add_head_count(heads); w.add_head_count_kv(kv)
    w.add_key_length(hd); w.add_value_length(hd); w.add_rope_dimension_count(hd)
    w.add_rope_freq_base(config["rope_theta"]); w.add_layer_norm_rms_eps(config["rms_norm_eps"])
    scaling = config["rope_scaling"]
    factor, low, high, old = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"], scaling["original_max_position_embeddings"]
    factors = []
    for i in range(0, hd, 2):   # as convert_hf_to_gguf.py computes them
        wavelen = 2 * math.pi * config["rope_theta"] ** (i / hd)
        if wavelen < old / high:
            factors.append(1.0)
        elif wavelen > old / low:
            factors.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    w.add_tensor("rope_freqs.weight", np.array(factors, dtype=np.float32))
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    w.add_tensor("output.weight", sd["lm_head.weight"])
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    names = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}
    for l in range(config["num_hidden_layers"]):
        w.add_tensor(f"blk.{l}.attn_norm.weight", sd[f"model.layers.{l}.input_layernorm.weight"])
        w.add_tensor(f"blk.{l}.ffn_norm.weight", sd[f"model.layers.{l}.post_attention_layernorm.weight"])
        for hf, short in names.items():
            t = sd[f"model.layers.{l}.{hf}.weight"]
            if short in ("attn_q", "attn_k"):
                t = permute(t, heads if short == "attn_q" else kv)
            w.add_tensor(f"blk.{l}.{short}.weight", t.astype(np.float32))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    print(f"llama3rope.gguf: rope_freqs {[round(f, 4) for f in factors]}")


def tokenizer_fixtures() -> None:
    fixtures = ROOT / "Tests/TokenizersTests/Fixtures"
    for style, pre in [("llama3_style", "llama-bpe"), ("qwen2_style", "qwen2"), ("gpt2_style", "gpt-2")]:
        spec = json.loads((fixtures / f"{style}.json").read_text())
        vocab = dict(spec["model"]["vocab"])
        added = {t["id"]: t for t in spec.get("added_tokens", [])}
        for i, t in added.items():
            vocab[t["content"]] = i
        tokens = [None] * (max(vocab.values()) + 1)
        for t, i in vocab.items():
            tokens[i] = t
        assert all(t is not None for t in tokens), style
        merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
        types = [3 if i in added and added[i]["special"] else 4 if i in added else 1 for i in range(len(tokens))]
        w = GGUFWriter(str(OUT / f"tokenizer-{style}.gguf"), arch="llama")
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre(pre)
        w.add_token_list(tokens)
        w.add_token_merges(merges)
        w.add_token_types(types)
        post = spec.get("post_processor") or {}
        bos = next(iter(post.get("special_tokens", {})), None) if post.get("type") == "TemplateProcessing" else None
        if bos is not None:
            w.add_bos_token_id(vocab[bos])
        w.add_add_bos_token(bos is not None)
        byte_level = [spec["pre_tokenizer"]] + spec["pre_tokenizer"].get("pretokenizers", [])
        w.add_add_space_prefix(any(step.get("type") == "ByteLevel" and step.get("add_prefix_space") for step in byte_level))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        print(f"tokenizer-{style}.gguf: {len(tokens)} tokens, {len(merges)} merges, pre {pre}, bos {bos}")


# Chat templates of the ChatML and Llama 3 families (SmolLM2's comes from its GGUF file).
QWEN25_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if (message.role == 'user') or (message.role == 'system' and not loop.first) or (message.role == 'assistant') %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)


def smollm2_fixture(path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    reader = GGUFReader(str(path))
    hashes = {}
    for t in reader.tensors:
        values = dequantize(np.asarray(t.data).reshape(-1).view(np.uint8) if t.tensor_type not in (Q.F32, Q.F16) else np.asarray(t.data), t.tensor_type)
        hashes[t.name] = bits_checksum(values)

    def field(key):
        f = reader.fields[key]
        if f.types and f.types[0].name == "ARRAY":
            return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
        return bytes(f.parts[f.data[0]]).decode("utf-8")

    tokens, merges = field("tokenizer.ggml.tokens"), field("tokenizer.ggml.merges")
    template = field("tokenizer.chat_template")
    bpe = models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=[tuple(m.split(" ", 1)) for m in merges])
    original = Tokenizer(bpe)
    original.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                      pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    original.decoder = decoders.ByteLevel()
    types = reader.fields["tokenizer.ggml.token_type"]
    specials = [tokens[i] for i, ty in enumerate(int(types.parts[j][0]) for j in types.data) if ty == 3]
    original.add_special_tokens(specials)
    cases = json.loads((ROOT / "Tests/TokenizersTests/Fixtures/cases.json").read_text())
    texts = [c if isinstance(c, str) else c["text"] for c in cases]
    texts += ["What is 98 + 75?", "<|im_start|>user\nPell has 35 coins.<|im_end|>\n", "x=12345678;  y = 3.14159\n\n\tz"]
    ids = [original.encode(t, add_special_tokens=False).ids for t in texts]

    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / path.name
        link.symlink_to(path.resolve())
        hf_tokenizer = AutoTokenizer.from_pretrained(tmp, gguf_file=path.name)
        disagreements = sum(hf_tokenizer.encode(t, add_special_tokens=False) != i for t, i in zip(texts, ids))
        print(f"transformers' GGUF tokenizer differs from the original pipeline on {disagreements} of {len(texts)} strings")
        model = AutoModelForCausalLM.from_pretrained(tmp, gguf_file=path.name, dtype=torch.float32).eval()
        prompt = original.encode("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n").ids
        with torch.no_grad():
            logits = model(torch.tensor([prompt])).logits[0].float()

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    renderings = {}
    messages = [{"role": "system", "content": "Please reason step by step."}, {"role": "user", "content": "What is 2 + 3?"}]
    for name, text in [("smollm2", template), ("qwen2.5", QWEN25_TEMPLATE), ("llama3", LLAMA3_TEMPLATE)]:
        renderings[name] = env.from_string(text).render(messages=messages, add_generation_prompt=True, bos_token="")
    # The same through transformers' apply_chat_template (the reference), which must agree.
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in [("smollm2", template), ("qwen2.5", QWEN25_TEMPLATE), ("llama3", LLAMA3_TEMPLATE)]:
            hf_tokenizer.chat_template = text
            via_hf = hf_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            if name == "llama3":
                via_hf = via_hf.removeprefix(hf_tokenizer.bos_token or "")
            assert via_hf == renderings[name], (name, via_hf, renderings[name])
            renderings[name] = via_hf

    # A user message alone: the ChatML templates add their own default system line.
    alone = [messages[1]]
    renderings_user_only = {}
    for name, text in [("smollm2", template), ("qwen2.5", QWEN25_TEMPLATE)]:
        hf_tokenizer.chat_template = text
        renderings_user_only[name] = hf_tokenizer.apply_chat_template(alone, tokenize=False, add_generation_prompt=True)

    fixture = {
        "tensor_checksums": hashes,
        "prompt_ids": prompt,
        "top5_ids": [row.topk(5).indices.tolist() for row in logits],
        # As Unicode scalar values: Foundation's JSON reader drops a leading byte-order mark.
        "tokenizer_texts": [[ord(ch) for ch in t] for t in texts],
        "tokenizer_ids": ids,
        "chat": {"system": messages[0]["content"], "user": messages[1]["content"], "renderings": renderings,
                 "renderings_user_only": renderings_user_only,
                 "templates": {"qwen2.5": QWEN25_TEMPLATE, "llama3": LLAMA3_TEMPLATE}},
    }
    (OUT / "smollm2.json").write_text(json.dumps(fixture, ensure_ascii=False))
    save_file({"last_logits": logits[-1].contiguous()}, str(OUT / "smollm2.reference.safetensors"))
    print(f"smollm2.json: {len(hashes)} tensors, {len(texts)} tokenizer strings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smollm2", type=Path, help="the SmolLM2-135M-Instruct GGUF (scripts/get_smollm2.sh)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    quant_fixtures(np.random.default_rng(23))
    tiny_model("llama", 1)
    tiny_model("qwen2", 2)
    tokenizer_fixtures()
    llama3_rope_fixture()
    if args.smollm2:
        smollm2_fixture(args.smollm2)


if __name__ == "__main__":
    main()
