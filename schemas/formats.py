"""Format names: one enumeration for the sniffer, the analyzer registry, reports and ECS documents.

A StrEnum, so a member equals its string (`Format.zip == "zip"`) and serialises as it.
"""
from __future__ import annotations

from enum import StrEnum


class Format(StrEnum):
    # sniffed from the content
    empty = "empty"
    unknown = "unknown"
    text = "text"
    json = "json"
    yaml = "yaml"
    pickle = "pickle"
    pytorch_legacy = "pytorch-legacy"
    zip = "zip"
    numpy = "numpy"
    gguf = "gguf"
    hdf5 = "hdf5"
    sevenzip = "7z"
    gzip = "gzip"
    bz2 = "bz2"
    xz = "xz"
    lzma = "lzma"
    lz4 = "lz4"
    zlib = "zlib"
    zstd = "zstd"
    tar = "tar"
    elf = "elf"
    pe = "pe"
    macho = "macho"
    png = "png"
    jpeg = "jpeg"
    safetensors = "safetensors"
    onnx = "onnx"
    tf_savedmodel = "tf-savedmodel"
    binary = "binary"
    # refined by an analyzer (report.format)
    pytorch_zip = "pytorch-zip"
    numpy_npz = "numpy-npz"
    numpy_object = "numpy-object"
    keras = "keras"
    keras_h5 = "keras-h5"
    keras_config = "keras-config"
    keras_metadata = "keras-metadata"
    tf_graphdef = "tf-graphdef"
    joblib = "joblib"
    joblib_zfile = "joblib-zfile"
    # the artifact could not be read at all
    unreadable = "unreadable"


# Formats whose loaders run code from the file (pickle inside).
CODE_EXECUTING = frozenset({Format.pickle, Format.pytorch_zip, Format.pytorch_legacy, Format.joblib,
                            Format.numpy_object})
# Formats that hold a model (or model data): an empty file under one of their names is not a model.
MODEL_FORMATS = frozenset({*CODE_EXECUTING, Format.numpy, Format.numpy_npz, Format.safetensors, Format.gguf,
                           Format.onnx, Format.hdf5, Format.keras, Format.tf_savedmodel})
