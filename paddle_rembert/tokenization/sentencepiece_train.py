"""Train small SentencePiece models in the id layouts of the real ALBERT and RemBERT models.

No pretrained tokenizer can be downloaded here, so tests, the demo and tools train a tiny unigram
model on the fly and write a tokenizer dir in the hub layout. Training is deterministic (one
thread, every sentence used, no shuffling) and takes well under a second on a few thousand lines.

Layouts (ids of the pieces that are not learnt):

* ``albert``: ``<pad>``=0, ``<unk>``=1, ``[CLS]``=2, ``[SEP]``=3, ``[MASK]``=4 (control symbols),
  then the user-defined symbols of ALBERT's ``spm_train`` command ``( ) " - . – £ €`` (5-12), as in
  albert-base-v2's ``spiece.model``.
* ``rembert``: ``[PAD]``=0, ``[UNK]``=1, ``[CLS]``=2, ``[SEP]``=3, ``[MASK]``=4 (control symbols).
  The real google/rembert model has ``[PAD]``=0 but ``[CLS]``=312 and ``[SEP]``=313; the
  tokenizers read every special id from the model file, so nothing depends on these numbers.
"""
import io
import os

import sentencepiece as spm

from ..runtime.errors import PaddleRembertError
from ..runtime.files import atomic_open, write_json

ALBERT_USER_SYMBOLS = ["(", ")", '"', "-", ".", "\u2013", "\u00a3", "\u20ac"]
LAYOUTS = {
    "albert": dict(pad_id=0, pad_piece="<pad>", unk_id=1, unk_piece="<unk>", bos_id=-1, eos_id=-1,
                   control_symbols=["[CLS]", "[SEP]", "[MASK]"], user_defined_symbols=ALBERT_USER_SYMBOLS),
    "rembert": dict(pad_id=0, pad_piece="[PAD]", unk_id=1, unk_piece="[UNK]", bos_id=-1, eos_id=-1,
                    control_symbols=["[CLS]", "[SEP]", "[MASK]"], user_defined_symbols=[]),
}
# tokenizer_config.json / special_tokens_map.json as the hub has them (google/rembert's are real files).
_MASK = {"content": "[MASK]", "single_word": False, "lstrip": True, "rstrip": False, "normalized": False}
HUB_FILES = {
    "albert": ("spiece.model",
               {"do_lower_case": True, "remove_space": True, "keep_accents": False, "bos_token": "[CLS]",
                "eos_token": "[SEP]", "unk_token": "<unk>", "sep_token": "[SEP]", "pad_token": "<pad>",
                "cls_token": "[CLS]", "mask_token": "[MASK]", "tokenizer_class": "AlbertTokenizer"},
               {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "<unk>", "sep_token": "[SEP]",
                "pad_token": "<pad>", "cls_token": "[CLS]", "mask_token": _MASK}),
    "rembert": ("sentencepiece.model",
                {"bos_token": "[CLS]", "cls_token": "[CLS]", "do_lower_case": False, "eos_token": "[SEP]",
                 "keep_accents": True, "mask_token": "[MASK]", "pad_token": "[PAD]", "remove_space": True,
                 "sep_token": "[SEP]", "tokenizer_class": "RemBertTokenizer", "unk_token": "[UNK]"},
                {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "[UNK]", "sep_token": "[SEP]",
                 "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}),
}


def _check_layout(layout):
    if layout not in LAYOUTS:
        raise PaddleRembertError(f"layout must be 'albert' or 'rembert', got {layout!r}")


def train_sentencepiece(texts, model_prefix_or_path, layout="albert", vocab_size=1000, tokenizer_dir=None, **kw):
    """Train a unigram model on ``texts`` and write it; return the ``.model`` path.

    ``model_prefix_or_path`` is a path ending in ``.model`` or a prefix (``.model`` is appended).
    ``vocab_size`` is a soft limit (a small corpus may give fewer pieces). Extra keyword arguments
    go to ``SentencePieceTrainer.train`` and override the defaults. With ``tokenizer_dir`` the
    complete tokenizer dir is written too (see :func:`write_tokenizer_dir`).
    """
    _check_layout(layout)
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
    options.update(LAYOUTS[layout])
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


def write_tokenizer_dir(model_file, out_dir, layout="albert", style="hub", model_max_length=None, **config):
    """Write a complete tokenizer dir for ``model_file``; return ``out_dir``.

    ``style="hub"`` writes the model file, ``tokenizer_config.json`` and ``special_tokens_map.json``
    as the hub has them (no ``added_tokens_decoder``); ``style="saved"`` writes what
    ``save_pretrained`` writes (transformers 4.46 layout). ``config`` entries override
    tokenizer_config.json keys (e.g. ``do_lower_case=False``).
    """
    _check_layout(layout)
    if style not in ("hub", "saved"):
        raise PaddleRembertError(f"style must be 'hub' or 'saved', got {style!r}")
    model_file = os.fspath(model_file)
    if not os.path.isfile(model_file):
        raise PaddleRembertError(f"SentencePiece model file not found: {model_file}")
    out_dir = os.fspath(out_dir)
    if model_max_length is not None:
        config["model_max_length"] = int(model_max_length)
    if style == "saved":
        from .auto import tokenizer_class_for

        tokenizer_class_for(layout)(model_file, **config).save_pretrained(out_dir)
        return out_dir
    name, tok_config, special_map = HUB_FILES[layout]
    os.makedirs(out_dir, exist_ok=True)
    with open(model_file, "rb") as src, atomic_open(os.path.join(out_dir, name), "wb") as dst:
        dst.write(src.read())
    write_json(os.path.join(out_dir, "tokenizer_config.json"), dict(tok_config, **config))
    write_json(os.path.join(out_dir, "special_tokens_map.json"), special_map)
    return out_dir
