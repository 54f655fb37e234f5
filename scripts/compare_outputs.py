"""Exit 0 when two outputs hold the same bits, 1 otherwise (printing the first difference).

    python3 scripts/compare_outputs.py A B

safetensors files: every tensor's bytes and dtype/shape (the metadata, which records times,
is not compared). HDF5 files (needs h5py): every dataset's bytes, dtype and shape (attributes,
which hold provenance such as the command line and time, are not compared).
"""
import json
import struct
import sys


def safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    return {k: (v["dtype"], v["shape"], raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]) for k, v in header.items()}


def hdf5(path):
    import h5py
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                value = obj[()]
                if getattr(value, "dtype", None) is not None and value.dtype.kind == "O":
                    value = repr(value.tolist())   # variable-length strings: compare the text
                out[name] = (str(obj.dtype), obj.shape, value.tobytes() if hasattr(value, "tobytes") else repr(value))
        f.visititems(visit)
    return out


def load(path):
    return safetensors(path) if path.endswith(".safetensors") else hdf5(path)


a, b = load(sys.argv[1]), load(sys.argv[2])
if a.keys() != b.keys():
    print("different names:", sorted(set(a) ^ set(b)))
    sys.exit(1)
for name in sorted(a):
    if a[name] != b[name]:
        print("differs:", name)
        sys.exit(1)
print(f"identical: {len(a)} tensors/datasets")
