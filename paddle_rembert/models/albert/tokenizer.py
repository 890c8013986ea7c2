"""ALBERT's SentencePiece tokenizer, id for id with transformers 4.46's slow ``AlbertTokenizer``.

Google's pipeline, which transformers 4.x and PaddleNLP copy: collapse whitespace, turn `````` and
``''`` into ``"``, NFKD and drop combining marks unless ``keep_accents``, lower-case, SentencePiece,
then re-encode every piece that ends in a digit and a comma (``▁2000,`` -> ``▁2000`` ``,``).
Transformers 5 drops that last step; we keep it (docs/tokenizers.md).
"""
import os
import re
import sys
import unicodedata

from ...tokenization.sentencepiece import SPIECE_UNDERLINE, SentencePieceTokenizer

_COMBINING = None


def _strip_combining(text):
    """Drop characters with a non-zero canonical combining class (the reference's per-char filter).

    A class of the BMP's marks compiles to one lookup table in ``re`` (fast); the few astral
    marks go through ``str.translate`` only when the text has astral characters at all.
    """
    global _COMBINING
    if _COMBINING is None:  # built once from this Python's unicodedata, as the reference uses
        marks = [cp for cp in range(sys.maxunicode + 1) if unicodedata.combining(chr(cp))]
        bmp = re.compile("[" + "".join(f"\\u{cp:04x}" for cp in marks if cp < 0x10000) + "]+")
        _COMBINING = (bmp, re.compile("[\U00010000-\U0010ffff]"), {cp: None for cp in marks if cp >= 0x10000})
    bmp, astral, table = _COMBINING
    text = bmp.sub("", text)
    return text.translate(table) if astral.search(text) else text


class AlbertTokenizer(SentencePieceTokenizer):
    """ALBERT tokenizer (``spiece.model``); arguments and defaults as transformers' ``AlbertTokenizer``."""

    vocab_file_name = "spiece.model"
    mask_token_normalized = False

    def __init__(self, vocab_file, do_lower_case=True, remove_space=True, keep_accents=False, bos_token="[CLS]",
                 eos_token="[SEP]", unk_token="<unk>", sep_token="[SEP]", pad_token="<pad>", cls_token="[CLS]",
                 mask_token="[MASK]", sp_model_kwargs=None, **kwargs):
        super().__init__(vocab_file, do_lower_case=do_lower_case, remove_space=remove_space,
                         keep_accents=keep_accents, bos_token=bos_token, eos_token=eos_token, unk_token=unk_token,
                         sep_token=sep_token, pad_token=pad_token, cls_token=cls_token, mask_token=mask_token,
                         sp_model_kwargs=sp_model_kwargs, **kwargs)

    def preprocess_text(self, inputs):
        """The reference's text normalisation (one chunk, before SentencePiece)."""
        outputs = " ".join(inputs.strip().split()) if self.remove_space else inputs
        outputs = outputs.replace("``", '"').replace("''", '"')
        if not self.keep_accents and not outputs.isascii():  # ASCII is NFKD-stable and has no combining marks
            outputs = _strip_combining(unicodedata.normalize("NFKD", outputs))
        if self.do_lower_case:
            outputs = outputs.lower()
        return outputs

    _normalize = preprocess_text

    def _normalize_aligned(self, text):
        """:meth:`preprocess_text` with each output character's span in ``text`` (for offsets), per character as
        the fast tokenizers align: a collapsed whitespace run is its last character, ``````/``''`` the second one."""
        chars = [(text[i], i, i + 1) for m in re.finditer(r"\S+", text) for i in range(m.start(), m.end())] \
            if self.remove_space else [(c, i, i + 1) for i, c in enumerate(text)]
        if self.remove_space:
            words = [m.start() for m in re.finditer(r"\S+", text)][1:]
            chars = sorted(chars + [(" ", w - 1, w) for w in words], key=lambda c: (c[1], c[0] != " "))
        for quote in ("``", "''"):
            out, i = [], 0
            while i < len(chars):
                if i + 1 < len(chars) and chars[i][0] + chars[i + 1][0] == quote:
                    out.append(('"', chars[i + 1][1], chars[i + 1][2]))
                    i += 2
                else:
                    out.append(chars[i])
                    i += 1
            chars = out
        if not self.keep_accents:
            chars = [(d, a, b) for c, a, b in chars for d in _strip_combining(unicodedata.normalize("NFKD", c))]
        if self.do_lower_case:
            chars = [(d, a, b) for c, a, b in chars for d in c.lower()]
        target = self.preprocess_text(text)
        if "".join(c for c, _, _ in chars) != target:  # context-dependent case mapping: whole-chunk spans
            return target, [0] * len(target), [len(text)] * len(target)
        return target, [a for _, a, _ in chars], [b for _, _, b in chars]

    def _needs_exact(self, piece):
        return len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit()

    def _fix_pieces(self, pieces):
        """Split ``9,`` pieces so that ``9,9`` gives ``▁9`` ``,`` ``9`` (google-research/bert README)."""
        out = []
        for piece in pieces:
            if not self._needs_exact(piece):
                out.append(piece)
                continue
            cur = self.sp_model.encode(piece[:-1].replace(SPIECE_UNDERLINE, ""), out_type=str)
            if piece[0] != SPIECE_UNDERLINE and cur[0][0] == SPIECE_UNDERLINE:
                if len(cur[0]) == 1:
                    cur = cur[1:]
                else:
                    cur[0] = cur[0][1:]
            cur.append(piece[-1])
            out.extend(cur)
        return out

    def convert_tokens_to_string(self, tokens):
        """Decode pieces, keeping special tokens verbatim (a space before the first of a run)."""
        specials = set(self.all_special_tokens)
        current, out, prev_is_special = [], "", False
        for token in tokens:
            if token in specials:
                if not prev_is_special:
                    out += " "
                out += self.sp_model.decode(current) + token
                prev_is_special, current = True, []
            else:
                current.append(token)
                prev_is_special = False
        out += self.sp_model.decode(current)
        return out.strip()

    @classmethod
    def missing_vocabulary_hint(cls, directory):
        # PaddleNLP's AlbertTokenizer saves its Chinese models' WordPiece vocab.txt under this class name
        if os.path.isfile(os.path.join(directory, "vocab.txt")):
            return ("; it holds vocab.txt, a WordPiece vocabulary as PaddleNLP saves its Chinese ALBERT tokenizer "
                    "(albert-chinese-*): load it with BertTokenizer or AutoTokenizer")
        return ""

    def _extra_saved_config(self):
        # PaddleNLP's AlbertTokenizer takes a positional `vocab_file` (its Chinese WordPiece vocab)
        # that no file provides; `init_args` passes it as None so its English SentencePiece branch
        # loads `spiece.model`. Transformers and we ignore the key.
        return {"init_args": [None]}
