"""Checks our safetensors files against the Python `safetensors` package, both directions.

usage: safetensors_roundtrip.py check OURS.safetensors   # the file our C++ writer made
       safetensors_roundtrip.py write THEIRS.safetensors # a file for our C++ reader
Exit code 77 when the packages are not importable (the C++ test then skips).
"""
import sys

try:
    import torch
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open
except ImportError as e:  # the C++ test reports the skip
    print(f"skip: {e}")
    sys.exit(77)


def expected():
    # Same values as the C++ side builds: arange-based, so both sides compute them independently.
    return {
        "f32": torch.arange(12, dtype=torch.float32).reshape(3, 4) / 7,
        "f16": (torch.arange(6, dtype=torch.float32) / 3).to(torch.float16).reshape(2, 3),
        "bf16": (torch.arange(6, dtype=torch.float32) / 3).to(torch.bfloat16),
        "i64": torch.arange(5, dtype=torch.int64) * -3,
        "i32": torch.arange(4, dtype=torch.int32) + 100,
        "u8": torch.arange(7, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
    }


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "check":
        got = load_file(path)
        want = expected()
        assert sorted(got) == sorted(want), (sorted(got), sorted(want))
        for k, v in want.items():
            assert got[k].dtype == v.dtype, (k, got[k].dtype, v.dtype)
            assert got[k].shape == v.shape, (k, got[k].shape, v.shape)
            assert torch.equal(got[k], v), k
        with safe_open(path, framework="pt") as f:
            assert f.metadata() == {"format": "pt", "written_by": "lrec"}, f.metadata()
        print("ok")
    elif mode == "write":
        save_file(expected(), path, metadata={"format": "pt", "written_by": "python"})
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
