"""Writes the bad inputs scripts/bad_inputs.sh feeds to the commands (standard library only).

    python3 scripts/bad_input_files.py DATA_DIR OUT_DIR

DATA_DIR is notebooks-data (the embedded model, corpus sample, queries, RL problems). Under
OUT_DIR: models/CLASS/ (model directories), vectors/CLASS.npy, corpora/CLASS.jsonl,
problems/CLASS.jsonl, adapters/CLASS.bin (vector files given to `steer eval --adapter`), and
the good docs.jsonl, q.jsonl,
problems.jsonl. A class missing from a kind (no "nan" corpus) is simply not written.
"""
import json
import math
import os
import random
import shutil
import struct
import sys

data, out = sys.argv[1], sys.argv[2]
rng = random.Random(0)


def write(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(content)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def cut_mid_line(text):
    """Ends 10 bytes before the end of the second line: a record broken in the middle."""
    second = text.index(b"\n", text.index(b"\n") + 1)
    return text[: second - 10]


def lines(path, n):
    with open(path) as f:
        return "".join(f.readlines()[:n]).encode()


# Good inputs.
write(f"{out}/docs.jsonl", lines(f"{data}/corpus-sample.jsonl", 6))
write(f"{out}/q.jsonl", lines(f"{data}/queries/reasoning.jsonl", 1))
write(f"{out}/problems.jsonl", lines(f"{data}/rl/train.jsonl", 4))
config = json.loads(read(f"{data}/model/config.json"))
depth, width = config["num_hidden_layers"], config["hidden_size"]

# Models: the embedded model with one thing broken.
weights = read(f"{data}/model/model.safetensors")
header_length = struct.unpack("<Q", weights[:8])[0]
header = json.loads(weights[8:8 + header_length])


def model(name, safetensors=weights, config_bytes=None):
    d = f"{out}/models/{name}"
    shutil.copytree(f"{data}/model", d)
    write(f"{d}/model.safetensors", safetensors)
    if config_bytes is not None:
        write(f"{d}/config.json", config_bytes)


def with_header(h):
    text = json.dumps(h).encode()
    text += b" " * (header_length - len(text)) if len(text) <= header_length else b""
    return struct.pack("<Q", len(text)) + text + weights[8 + header_length:]


model("empty", b"")
model("truncated", weights[: len(weights) // 2])
model("wrong-type", read(f"{data}/model/tokenizer.json"))
lying = json.loads(json.dumps(header))
name = next(k for k in lying if k != "__metadata__")
start, end = lying[name]["data_offsets"]
lying[name]["data_offsets"] = [start, end + 10**9]
lying[name]["shape"] = [lying[name]["shape"][0] + 10**9 // 2 // max(1, math.prod(lying[name]["shape"][1:]))] + lying[name]["shape"][1:]
model("lying-sizes", with_header(lying))
# NaN in the final norm's weight (first element), whatever its dtype.
norm = header["model.norm.weight"]
nan = {"F32": struct.pack("<I", 0x7FC00000), "BF16": struct.pack("<H", 0x7FC0), "F16": struct.pack("<H", 0x7E00)}[norm["dtype"]]
offset = 8 + header_length + norm["data_offsets"][0]
model("nan", weights[:offset] + nan + weights[offset + len(nan):])
narrow = dict(config, hidden_size=width // 2)
model("other-width", weights, json.dumps(narrow).encode())
# A valid model that is not the embedded one (its config differs, so does its fingerprint).
model("another", weights, json.dumps(dict(config, note="another model")).encode())


# Vectors: .npy files of [depth, width] float32.
def npy(shape, values, descr="<f4"):
    head = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({', '.join(map(str, shape))},), }}".encode()
    head += b" " * (63 - (len(head) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head + struct.pack(f"<{len(values)}f", *values)


good = [rng.gauss(0, 1) for _ in range(depth * width)]
write(f"{out}/vectors/good.npy", npy([depth, width], good))
write(f"{out}/vectors/empty.npy", b"")
write(f"{out}/vectors/truncated.npy", npy([depth, width], good)[: 200])
write(f"{out}/vectors/wrong-type.npy", read(f"{data}/model/config.json"))
write(f"{out}/vectors/lying-sizes.npy", npy([depth, width], good)[: -4 * width])
write(f"{out}/vectors/nan.npy", npy([depth, width], [float("nan")] + good[1:]))
write(f"{out}/vectors/other-width.npy", npy([depth, width // 2], good[: depth * width // 2]))

# Corpora and problems.
docs = read(f"{out}/docs.jsonl")
write(f"{out}/corpora/empty.jsonl", b"")
write(f"{out}/corpora/truncated.jsonl", cut_mid_line(docs))
write(f"{out}/corpora/wrong-type.jsonl", weights[:4096])
problems = read(f"{out}/problems.jsonl")
write(f"{out}/problems/empty.jsonl", b"")
write(f"{out}/problems/truncated.jsonl", cut_mid_line(problems))
write(f"{out}/problems/wrong-type.jsonl", weights[:4096])
write(f"{out}/problems/nan.jsonl", b'{"id": "p1", "prompt": "What is 0/0?", "answer": "NaN"}\n')

# Adapters for `steer eval --adapter`: vector files standing in for a run's vectors.
os.makedirs(f"{out}/adapters", exist_ok=True)
raw = struct.pack(f"<{depth * width}f", *good)
write(f"{out}/adapters/good.bin", raw)
write(f"{out}/adapters/empty.bin", b"")
write(f"{out}/adapters/truncated.bin", raw[: len(raw) // 2 + 2])
write(f"{out}/adapters/wrong-type.bin", read(f"{data}/model/config.json")[:1001])
write(f"{out}/adapters/nan.bin", struct.pack("<f", float("nan")) + raw[4:])
write(f"{out}/adapters/other-width.bin", raw[: len(raw) // 2])

# GGUF model files: the tiny llama fixture (Tests/ModelTests/Fixtures/gguf) with one thing broken.
gguf = read(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../Tests/ModelTests/Fixtures/gguf/llama.gguf"))


def gguf_tensor_offsets(blob):
    """(byte position of each tensor's offset field, absolute data start of each tensor) by name."""
    pos = 8
    n_tensors, n_kv = struct.unpack_from("<QQ", blob, pos)
    pos += 16
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip(kind, pos):
        if kind in sizes:
            return pos + sizes[kind]
        if kind == 8:
            return pos + 8 + struct.unpack_from("<Q", blob, pos)[0]
        inner, count = struct.unpack_from("<IQ", blob, pos)
        pos += 12
        for _ in range(count):
            pos = skip(inner, pos)
        return pos

    alignment = 32
    for _ in range(n_kv):
        length = struct.unpack_from("<Q", blob, pos)[0]
        key = blob[pos + 8:pos + 8 + length].decode()
        pos += 8 + length
        kind = struct.unpack_from("<I", blob, pos)[0]
        if key == "general.alignment":
            alignment = struct.unpack_from("<I", blob, pos + 4)[0]
        pos = skip(kind, pos + 4)
    fields = {}
    for _ in range(n_tensors):
        length = struct.unpack_from("<Q", blob, pos)[0]
        name = blob[pos + 8:pos + 8 + length].decode()
        pos += 8 + length
        n_dims = struct.unpack_from("<I", blob, pos)[0]
        pos += 4 + 8 * n_dims + 4
        fields[name] = (pos, struct.unpack_from("<Q", blob, pos)[0])
        pos += 8
    data_start = (pos + alignment - 1) // alignment * alignment
    return {name: (field, data_start + offset) for name, (field, offset) in fields.items()}


offsets = gguf_tensor_offsets(gguf)
write(f"{out}/ggufs/empty.gguf", b"")
write(f"{out}/ggufs/truncated.gguf", gguf[: len(gguf) // 2])
write(f"{out}/ggufs/wrong-type.gguf", read(f"{data}/model/tokenizer.json"))
field, _ = offsets["blk.1.ffn_down.weight"]
write(f"{out}/ggufs/lying-sizes.gguf", gguf[:field] + struct.pack("<Q", 10**6) + gguf[field + 8:])
_, start = offsets["output_norm.weight"]   # F32
write(f"{out}/ggufs/nan.gguf", gguf[:start] + struct.pack("<I", 0x7FC00000) + gguf[start + 4:])
