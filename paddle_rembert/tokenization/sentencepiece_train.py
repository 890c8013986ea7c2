"""Train small SentencePiece models in the id layout of a real tokenizer, and write hub-layout dirs.

No pretrained tokenizer can be downloaded here, so tests, the demo and tools train a tiny unigram
model on the fly and write a tokenizer dir in the hub layout. Training is deterministic (one
thread, every sentence used, no shuffling) and takes well under a second on a few thousand lines.

A *layout* describes a family's real tokenizer; each SentencePiece family declares its own (see
its ``models/<name>/__init__.py``): ``trainer`` (the ids and pieces that are not learnt, as
``SentencePieceTrainer`` options), ``vocab_file`` (the model file's name in the hub dir),
``tokenizer_config`` and ``special_tokens_map`` (the two JSON files as the hub has them).
"""
import io
import os

import sentencepiece as spm

from ..runtime.errors import PaddleRembertError
from ..runtime.files import atomic_open, write_json

_LAYOUT_KEYS = ("trainer", "vocab_file", "tokenizer_config", "special_tokens_map")


def _check_layout(layout, need_files=False):
    if layout is None and not need_files:
        return {}
    if not isinstance(layout, dict) or not all(k in layout for k in (_LAYOUT_KEYS if need_files else ("trainer",))):
        raise PaddleRembertError(f"layout must be a SentencePiece layout dict with keys {', '.join(_LAYOUT_KEYS)} "
                                 f"(a family's tokenizer_layout), got {layout!r}"[:300])
    return layout


def train_sentencepiece(texts, model_prefix_or_path, layout=None, vocab_size=1000, tokenizer_dir=None, **kw):
    """Train a unigram model on ``texts`` and write it; return the ``.model`` path.

    ``model_prefix_or_path`` is a path ending in ``.model`` or a prefix (``.model`` is appended).
    ``vocab_size`` is a soft limit (a small corpus may give fewer pieces). Extra keyword arguments
    go to ``SentencePieceTrainer.train`` and override the defaults. With ``tokenizer_dir`` the
    complete tokenizer dir is written too (see :func:`write_tokenizer_dir`). ``layout=None`` trains
    with SentencePiece's own special ids.
    """
    layout = _check_layout(layout, need_files=tokenizer_dir is not None)
    if isinstance(texts, str):
        raise PaddleRembertError("texts must be an iterable of str, not one str")
    sentences = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise PaddleRembertError(f"texts[{i}] must be a str, got {type(text).__name__}")
        sentences.extend(line for line in text.split("\n") if line.strip())
    if not sentences:
        raise PaddleRembertError("texts holds no non-empty line to train on")
    path = os.fspath(model_prefix_or_path)
    path = path if path.endswith(".model") else path + ".model"
    options = dict(model_type="unigram", vocab_size=int(vocab_size), character_coverage=1.0, num_threads=1,
                   hard_vocab_limit=False, input_sentence_size=0, shuffle_input_sentence=False, minloglevel=2)
    options.update(layout.get("trainer", {}))
    options.update(kw)
    buf = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=buf, **options)
    except (RuntimeError, ValueError) as e:
        raise PaddleRembertError(f"SentencePiece training for {path} failed: {e}") from None
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())
    if tokenizer_dir is not None:
        write_tokenizer_dir(path, tokenizer_dir, layout=layout)
    return path


def write_tokenizer_dir(model_file, out_dir, layout, style="hub", model_max_length=None, tokenizer_class=None,
                        **config):
    """Write a complete tokenizer dir for ``model_file``; return ``out_dir``.

    ``style="hub"`` writes the model file, ``tokenizer_config.json`` and ``special_tokens_map.json``
    as the hub has them (no ``added_tokens_decoder``); ``style="saved"`` writes what
    ``save_pretrained`` of ``tokenizer_class`` writes (transformers 4.46 layout). ``config`` entries
    override tokenizer_config.json keys (e.g. ``do_lower_case=False``).
    """
    layout = _check_layout(layout, need_files=True)
    if style not in ("hub", "saved"):
        raise PaddleRembertError(f"style must be 'hub' or 'saved', got {style!r}")
    model_file = os.fspath(model_file)
    if not os.path.isfile(model_file):
        raise PaddleRembertError(f"SentencePiece model file not found: {model_file}")
    out_dir = os.fspath(out_dir)
    if model_max_length is not None:
        config["model_max_length"] = int(model_max_length)
    if style == "saved":
        if tokenizer_class is None:
            raise PaddleRembertError("style='saved' needs the tokenizer_class that saves the directory")
        tokenizer_class(model_file, **config).save_pretrained(out_dir)
        return out_dir
    name, tok_config, special_map = layout["vocab_file"], layout["tokenizer_config"], layout["special_tokens_map"]
    os.makedirs(out_dir, exist_ok=True)
    with open(model_file, "rb") as src, atomic_open(os.path.join(out_dir, name), "wb") as dst:
        dst.write(src.read())
    write_json(os.path.join(out_dir, "tokenizer_config.json"), dict(tok_config, **config))
    write_json(os.path.join(out_dir, "special_tokens_map.json"), special_map)
    return out_dir


def train_tokenizer_dir(texts, out_dir, vocab_size=200, *, layout, **options):
    """A SentencePiece model trained on ``texts`` in ``layout``, written as a hub directory (a family's
    ``make_tiny_tokenizer``, with its layout bound)."""
    train_sentencepiece(list(texts), os.path.join(out_dir, layout["vocab_file"]), layout, vocab_size=vocab_size,
                        tokenizer_dir=out_dir, **options)
    return out_dir
