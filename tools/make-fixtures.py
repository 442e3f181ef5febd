#!/usr/bin/python3
"""Writes the small data fixtures under test/fixtures/ and test/fixtures/manifest.json.

Each fixture is a real file of its format (IDX gz and raw, CIFAR-10 batches, CIFAR-100 files,
SVHN .mat files compressed and uncompressed, a MAT v5 file of every numeric class), filled with
deterministic content:

    pixel(n, c, h, w) = (n*7 + c*13 + h*3 + w*5 + offset) % 256     (n counts across files)
    label(n)          = n % classes

The manifest records, per dataset, the images in NCHW order (base64) and the labels the loader must
return, so the tests compare against what this script wrote rather than against a formula
re-derived in TypeScript. The fixture files are committed; tests only read them.

Run with Debian's python (it has numpy and python3-scipy; the pyenv python on PATH does not):

    /usr/bin/python3 tools/make-fixtures.py
"""

import base64
import gzip
import json
import os
import struct

import numpy as np
import scipy.io

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures")


def out(*parts):
    path = os.path.join(ROOT, *parts)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def rel(path):
    return os.path.relpath(path, ROOT)


def images_nchw(first, count, channels, height, width, offset):
    """uint8 [count, channels, height, width] of the pixel formula, for samples first..first+count-1."""
    n, c, h, w = np.meshgrid(
        np.arange(first, first + count), np.arange(channels), np.arange(height), np.arange(width), indexing="ij"
    )
    return ((n * 7 + c * 13 + h * 3 + w * 5 + offset) % 256).astype(np.uint8)


def expected(name, images, labels, classes, files):
    return {
        "name": name,
        "files": [rel(f) for f in files],
        "shape": list(images.shape[1:]),
        "count": int(images.shape[0]),
        "classes": classes,
        "labels": [int(v) for v in labels],
        "images_nchw_base64": base64.b64encode(np.ascontiguousarray(images).tobytes()).decode("ascii"),
    }


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def savemat(path, variables, compress):
    """scipy.io.savemat, with the header's creation time replaced so reruns write identical bytes."""
    scipy.io.savemat(path, variables, do_compression=compress)
    text = b"MATLAB 5.0 MAT-file, Platform: posix, Created by: tools/make-fixtures.py"
    with open(path, "r+b") as f:
        f.write(text.ljust(116, b" "))


# ---------------------------------------------------------------------------------------------- IDX
def idx_bytes(array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def make_idx(manifest):
    # Non-square images (7 rows, 5 columns) so a row/column mix-up shows.
    rows, cols = 7, 5
    for split, prefix, first, count, compress in (("train", "train", 0, 6, True), ("test", "t10k", 6, 4, False)):
        imgs = images_nchw(first, count, 1, rows, cols, offset=1)
        labels = np.arange(first, first + count) % 10
        suffix = ".gz" if compress else ""
        img_path = out("idx", f"{prefix}-images-idx3-ubyte{suffix}")
        lab_path = out("idx", f"{prefix}-labels-idx1-ubyte{suffix}")
        for path, data in ((img_path, idx_bytes(imgs[:, 0])), (lab_path, idx_bytes(labels.astype(np.uint8)))):
            # mtime=0 keeps the gzip bytes identical from run to run.
            write_bytes(path, gzip.compress(data, mtime=0) if compress else data)
        manifest[f"idx-{split}"] = expected("mnist", imgs, labels, 10, [img_path, lab_path])


# -------------------------------------------------------------------------------------------- CIFAR
def make_cifar(manifest):
    # CIFAR-10: five training batches of 2 records and a test batch of 3; n counts across batches.
    train_images, train_labels, train_files = [], [], []
    n = 0
    for k in range(1, 6):
        imgs = images_nchw(n, 2, 3, 32, 32, offset=2)
        labels = np.arange(n, n + 2) % 10
        path = out("cifar-10-batches-bin", f"data_batch_{k}.bin")
        write_bytes(path, b"".join(bytes([labels[i]]) + imgs[i].tobytes() for i in range(2)))
        train_images.append(imgs)
        train_labels.append(labels)
        train_files.append(path)
        n += 2
    manifest["cifar10-train"] = expected(
        "cifar10", np.concatenate(train_images), np.concatenate(train_labels), 10, train_files
    )
    imgs = images_nchw(100, 3, 3, 32, 32, offset=2)
    labels = np.arange(100, 103) % 10
    path = out("cifar-10-batches-bin", "test_batch.bin")
    write_bytes(path, b"".join(bytes([labels[i]]) + imgs[i].tobytes() for i in range(3)))
    manifest["cifar10-test"] = expected("cifar10", imgs, labels, 10, [path])

    # CIFAR-100: coarse label byte, fine label byte, pixels. Fine labels spread over 0..99.
    for split, first, count in (("train", 0, 4), ("test", 4, 2)):
        imgs = images_nchw(first, count, 3, 32, 32, offset=3)
        fine = (np.arange(first, first + count) * 37) % 100
        coarse = fine // 5
        path = out("cifar-100-binary", f"{split}.bin")
        write_bytes(path, b"".join(bytes([coarse[i], fine[i]]) + imgs[i].tobytes() for i in range(count)))
        manifest[f"cifar100-{split}"] = expected("cifar100", imgs, fine, 100, [path])


# --------------------------------------------------------------------------------------------- SVHN
def svhn_arrays(first, count):
    imgs = images_nchw(first, count, 3, 32, 32, offset=4)
    # MATLAB layout: X(row, col, channel, n). numpy's (32, 32, 3, N) array is written column-major
    # by savemat, which is exactly that.
    x = np.transpose(imgs, (2, 3, 1, 0)).copy()
    digits = np.arange(first, first + count) % 10
    y = np.where(digits == 0, 10, digits).reshape(count, 1)
    return imgs, digits, x, y


def make_svhn(manifest):
    # Compressed (miCOMPRESSED) with y stored as double, as the original SVHN files have it...
    imgs, digits, x, y = svhn_arrays(0, 5)
    path = out("svhn", "compressed", "train_32x32.mat")
    savemat(path, {"X": x, "y": y.astype(np.float64)}, compress=True)
    manifest["svhn-compressed"] = expected("svhn", imgs, digits, 10, [path])
    # ...and uncompressed with y as uint8.
    imgs, digits, x, y = svhn_arrays(5, 3)
    path = out("svhn", "uncompressed", "train_32x32.mat")
    savemat(path, {"X": x, "y": y.astype(np.uint8)}, compress=False)
    manifest["svhn-uncompressed"] = expected("svhn", imgs, digits, 10, [path])

    # Files that must be refused.
    _, _, x, y = svhn_arrays(0, 2)
    bad = {
        "no_x.mat": {"y": y},
        "no_y.mat": {"X": x},
        "x_wrong_dims.mat": {"X": x[:16, :16], "y": y},
        "x_three_channels_missing.mat": {"X": x[:, :, :2], "y": y},
        "y_count_mismatch.mat": {"X": x, "y": y[:1]},
        "y_out_of_range.mat": {"X": x, "y": np.array([[3], [11]], dtype=np.uint8)},
        "y_is_struct.mat": {"X": x, "y": {"labels": y}},
    }
    manifest["svhn-bad"] = {}
    for name, variables in bad.items():
        path = out("svhn-bad", name)
        savemat(path, variables, compress=True)
        manifest["svhn-bad"][name] = rel(path)


# ----------------------------------------------------------------------------------------- MAT v5
def column_major(values):
    return np.asarray(values).flatten(order="F")


def as_json(values):
    # int64/uint64 do not fit a double: write them as decimal strings.
    if values.dtype.kind in "iu" and values.dtype.itemsize == 8:
        return [str(int(v)) for v in values]
    if values.dtype == np.bool_:
        return [int(v) for v in values]
    return [float(v) if values.dtype.kind == "f" else int(v) for v in values]


def make_matv5(manifest):
    numeric = {
        "d": np.array([[1.5, -2.25, 3.0], [4.0, 5.0, 6.5]]),
        "s": np.array([[0.5, -1.0], [2.5, 1e-3]], dtype=np.float32),
        "i8": np.array([[-128, 0, 127]], dtype=np.int8),  # 3 bytes: a small data element
        "u8": np.arange(10, dtype=np.uint8).reshape(2, 5),
        "i16": np.array([[-32768], [32767]], dtype=np.int16),
        "u16": np.array([[65535, 1, 2]], dtype=np.uint16),
        "i32": np.arange(24, dtype=np.int32).reshape(2, 3, 4) - 12,  # 3-D: column-major order
        "u32": np.array([[4294967295, 7]], dtype=np.uint32),
        "i64": np.array([[-(2**62) - 3, 5]], dtype=np.int64),
        "u64": np.array([[2**63 + 1, 0]], dtype=np.uint64),
        "one": np.array([[7]], dtype=np.int16),
        "b": np.array([[True, False, True]]),
        "z": np.array([[1 + 2j, -3.5j]]),
        "e": np.zeros((0, 3)),
    }
    skipped = {
        "txt": "hello",
        "st": {"a": np.array([[1.0]])},
        "cel": np.array([[np.array([[1.0]]), "two"]], dtype=object),
    }
    classes = {
        "float64": "double", "float32": "single", "int8": "int8", "uint8": "uint8", "int16": "int16",
        "uint16": "uint16", "int32": "int32", "uint32": "uint32", "int64": "int64", "uint64": "uint64",
        "bool": "uint8", "complex128": "double",
    }
    variables = {}
    for name, arr in numeric.items():
        flat = column_major(arr)
        entry = {
            "class": classes[str(arr.dtype)],
            "dims": list(arr.shape),
            "logical": arr.dtype == np.bool_,
            "real": as_json(flat.real if arr.dtype.kind == "c" else flat),
            "imag": as_json(flat.imag) if arr.dtype.kind == "c" else None,
        }
        variables[name] = entry
    files = {}
    for label, compress in (("uncompressed", False), ("compressed", True)):
        path = out("matv5", f"numeric_{label}.mat")
        savemat(path, {**numeric, **skipped}, compress)
        files[label] = rel(path)
    manifest["matv5"] = {
        "files": files,
        "variables": variables,
        "skipped": {"txt": "char", "st": "struct", "cel": "cell"},
    }


def main():
    manifest = {
        "generator": "tools/make-fixtures.py",
        "pixel": "(n*7 + c*13 + h*3 + w*5 + offset) % 256, NCHW; n counts across the files of a split",
    }
    make_idx(manifest)
    make_cifar(manifest)
    make_svhn(manifest)
    make_matv5(manifest)
    with open(out("manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote fixtures under {os.path.normpath(ROOT)}")


if __name__ == "__main__":
    main()
