"""Build the tiny checkpoint that ``make demo`` starts from: ``examples/demo/checkpoint/``.

It has the layout of a transformers hub directory for google/rembert -- ``config.json``,
``model.safetensors`` (PyTorch layout), ``sentencepiece.model``, ``tokenizer_config.json``,
``special_tokens_map.json`` -- with a SentencePiece model trained on the demo's XNLI sample text
and random weights of a very small RemBERT. The weights are random: the demo shows the pipeline,
not accuracy. Needs torch and transformers (the ``test`` extra); the demo itself does not.

    python tools/make_demo_checkpoint.py [--out examples/demo/checkpoint]
"""
import glob
import os

from paddle_rembert.runtime.errors import ArgumentParser
from paddle_rembert.runtime.files import atomic_dir
from paddle_rembert.testing import write_tiny_model_dir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEMO_DATA = os.path.join(REPO, "examples", "demo", "data", "xnli")
SIZE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, input_embedding_size=16,
            output_embedding_size=24, intermediate_size=64, hidden_dropout_prob=0.0, classifier_dropout_prob=0.1)


def sample_texts():
    texts = []
    for path in sorted(glob.glob(os.path.join(DEMO_DATA, "**", "*.tsv"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            next(f)
            for line in f:
                texts.extend(field for field in line.rstrip("\n").split("\t")[:8] if len(field) > 2)
    return texts


def main(argv=None):
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(REPO, "examples", "demo", "checkpoint"))
    args = parser.parse_args(argv)
    with atomic_dir(args.out) as tmp:
        write_tiny_model_dir(tmp, "rembert", sample_texts(), vocab_size=2000, seed=0, torch_layout=True,
                             spm_options={"character_coverage": 0.9995}, **SIZE)
    for name in sorted(os.listdir(args.out)):
        print(f"{os.path.getsize(os.path.join(args.out, name)):>9}  {name}")


if __name__ == "__main__":
    main()
