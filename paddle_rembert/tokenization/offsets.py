"""Offsets, overflow windows, sequence ids and word ids: what transformers' *fast* tokenizers add to an encoding.

The ids stay the slow reference's (the backends' ``_encode_chunks_detailed`` give the same ids as
``_encode_chunks``); around them this module keeps an alignment from every character the model
sees back to the user's text (through lower-casing, RoBERTa's prefix space and the stripping
around added tokens), and reproduces the fast tokenizers' overflow windows (``stride``) and their
row order. Without ``return_overflowing_tokens`` truncation keeps the slow arithmetic, so the ids
equal the plain call's.
"""
from ..runtime.errors import PaddleRembertError, TruncationError
from .types import BatchEncoding, _lower_per_char
from .utils import per_word


def split_with_positions(tok, text, split):
    """The reference's added-token split of ``text``, each chunk with the original index of each character.

    Returns ``[(chunk, positions, added_id or None), ...]``; mirrors ``PreTrainedTokenizer._split_text``.
    An added token's positions include the whitespace it stripped (either side) where the fast tokenizers count it.
    """
    prepared = tok._prepare_text(text)
    shift = len(prepared) - len(text)  # a prefix space maps to character 0
    pos = [max(0, i - shift) for i in range(len(prepared))]
    if tok._lowercase_outside_added:
        chars, new_pos, last = [], [], 0
        pieces = tok._protect_re.split(prepared) if tok._protect_re is not None else [prepared]
        for k, piece in enumerate(pieces):
            low = piece if k % 2 else _lower_per_char(piece)
            if len(low) == len(piece):  # the usual case: one character for one
                chars.append(low)
                new_pos.extend(pos[last:last + len(piece)])
            else:
                for j, c in enumerate(piece):
                    low = _lower_per_char(c)
                    chars.append(low)
                    new_pos.extend([pos[last + j]] * len(low))
            last += len(piece)
        prepared, pos = "".join(chars), new_pos
    if split or tok._added_re is None:
        return [(prepared, pos, None)] if prepared else []
    # [text, positions, added id, stripped positions counted in the added token's span: left, right]
    parts, last = [], 0
    for m in tok._added_re.finditer(prepared):
        if m.start() > last:
            parts.append([prepared[last:m.start()], pos[last:m.start()], None, [], []])
        parts.append([m.group(), pos[m.start():m.end()], tok._added_tokens_encoder[m.group()], [], []])
        last = m.end()
    if last < len(prepared):
        parts.append([prepared[last:], pos[last:], None, [], []])
    for i, (token, _, idx, _, _) in enumerate(parts):
        if idx is None:
            continue
        added = tok._added_tokens_decoder[idx]
        left = parts[i - 1] if i > 0 else None
        right = parts[i + 1] if i < len(parts) - 1 else None
        if added.rstrip and right and right[0]:
            cut = len(right[0]) - len(right[0].lstrip())
            if tok.added_token_offsets_include_stripped:
                parts[i][4] = parts[i][4] + right[1][:cut]
            right[0], right[1] = right[0][cut:], right[1][cut:]
        if added.lstrip and left and left[0]:
            keep = len(left[0].rstrip())
            if tok.added_token_offsets_include_stripped:
                parts[i][3] = left[1][keep:len(left[0])] + parts[i][3]
            left[0], left[1] = left[0][:keep], left[1][:keep]
        if added.single_word and left and left[0] and left[0][-1] != " ":
            left[0], left[1], left[2] = left[0] + token, left[1] + parts[i][1], None
            parts[i][0] = ""
        elif added.single_word and right and right[0] and right[0][0] != " ":
            right[0], right[1], right[2] = token + right[0], parts[i][1] + right[1], None
            parts[i][0] = ""
    return [(t, left + p + right if idx is not None and t in tok._added_tokens_encoder else p,
             idx if idx is not None and t in tok._added_tokens_encoder else None)
            for t, p, idx, left, right in parts if t]


def encode_detailed(tok, texts, split):
    """``[(ids, offsets, word_ids), ...]`` per text, without special tokens; ids equal ``encode_texts``'.

    A text that is a list of words (``is_split_into_words``) is encoded word by word, as the fast
    tokenizers do: offsets within each word, word ids the index of the word in the list.
    """
    if texts and not isinstance(texts[0], str):
        rows = []
        for words in per_word(texts, lambda flat: encode_detailed(tok, flat, split)):
            ids, offsets, word_ids = [], [], []
            for j, (w_ids, w_offsets, _) in enumerate(words):
                ids += w_ids
                offsets += w_offsets
                word_ids += [j] * len(w_ids)
            rows.append((ids, offsets, word_ids))
        return rows
    plans, chunks = [], []
    for text in texts:
        plan = []
        for chunk, pos, idx in split_with_positions(tok, text, split):
            plan.append((pos, idx, len(chunks) if idx is None else None))
            if idx is None:
                chunks.append(chunk)
        plans.append(plan)
    done = tok._encode_chunks_detailed(chunks) if chunks else []
    rows = []
    for plan in plans:
        ids, offsets, words, n_words = [], [], [], 0
        for pos, idx, k in plan:
            if k is None:
                ids.append(idx)
                offsets.append((pos[0], pos[-1] + 1))
                words.append(n_words)
                n_words += 1
                continue
            c_ids, c_offsets, c_words = done[k]
            ids.extend(c_ids)
            end = pos[-1] + 1
            offsets.extend((pos[s], pos[e - 1] + 1) if e > s else (pos[s], pos[s]) if s < len(pos) else (end, end)
                           for s, e in c_offsets)
            words.extend(w + n_words for w in c_words)
            n_words += (max(c_words) + 1) if c_words else 0
        tok._finish_offsets(ids, offsets)
        rows.append((ids, offsets, words))
    return rows


def _windows(n, keep, stride, left):
    """Rust ``Encoding::truncate`` ranges: the kept part first, then the overflowing windows."""
    if keep >= n:
        return [(0, n)]
    if keep == 0:
        return [(0, 0), (0, n)]
    if stride >= keep:
        raise TruncationError(f"stride={stride} must be smaller than the room left for the truncated "
                                 f"sequence ({keep} tokens)")
    step, ranges = keep - stride, []
    if not left:
        for start in range(0, n, step):
            stop = min(start + keep, n)
            ranges.append((start, stop))
            if stop == n:
                break
    else:
        for stop in range(n, 0, -step):
            start = max(0, stop - keep)
            ranges.append((start, stop))
            if start == 0:
                break
    return ranges


def _fast_keep(n1, n2, room, strategy):
    """Target lengths of the two sequences under the fast tokenizers' truncation (``n2`` None: one text)."""
    if n2 is None:
        if strategy == "only_second":
            raise PaddleRembertError("truncation='only_second' needs a text_pair (transformers' fast tokenizers "
                                     "refuse it too)")
        return min(n1, room), None
    if n1 + n2 <= room:
        return n1, n2
    if strategy == "longest_first":
        small, large = sorted((n1, n2))
        large = small if small > room else max(small, room - small)
        if small + large > room:
            small, large = room // 2, room // 2 + room % 2
        return (large, small) if n1 > n2 else (small, large)
    target = n1 if strategy == "only_first" else n2
    remove = n1 + n2 - room
    if target <= remove:
        which = "first" if strategy == "only_first" else "second"
        raise TruncationError(f"cannot truncate to max_length: the {which} sequence has {target} tokens and "
                                 f"{remove} must go (use truncation='longest_first')")
    return (n1 - remove, n2) if strategy == "only_first" else (n1, n2 - remove)


def build_detailed_columns(tok, rows, n, pair, add_special_tokens, trunc, max_length, stride, overflow):
    """Rows with special tokens: ``(cols, sequence_ids, word_ids, sample_of_row)`` (cols hold ``offset_mapping``)."""
    layout = tok._special_layout(pair) if add_special_tokens else [(0, 0), (1, 0)] if pair else [(0, 0)]
    n_special = sum(len(part) for part, _ in layout if not isinstance(part, int))
    left = tok.truncation_side == "left"
    cols = {"input_ids": [], "token_type_ids": [], "special_tokens_mask": [], "offset_mapping": []}
    seq_ids, word_ids, samples = [], [], []
    for i in range(n):
        a, b = rows[i], rows[n + i] if pair else None
        na, nb = len(a[0]), len(b[0]) if pair else None
        # windows below the special tokens' count cut nothing (the Rust room wraps around); one row follows the
        # slow arithmetic there too (longest_first empties both texts, only_* give up), as the plain call's ids do
        if trunc == "do_not_truncate" or na + (nb or 0) + n_special <= max_length \
                or (overflow and max_length < n_special):
            combos = [((0, na), (0, nb) if pair else None)]
        elif overflow:
            ka, kb = _fast_keep(na, nb, max_length - n_special, trunc)
            wa, wb = _windows(na, ka, stride, left), _windows(nb, kb, stride, left) if pair else [None]
            combos = [(wa[0], wb[0])]
            for ra in wa[1:]:
                combos += [(ra, wb[0])] + [(ra, rb) for rb in wb[1:]]
            combos += [(wa[0], rb) for rb in wb[1:]]
        else:  # the slow arithmetic, as the plain call
            ia, ib, _ = tok.truncate_sequences(list(range(na)), list(range(nb)) if pair else None,
                                               na + (nb or 0) + n_special - max_length, trunc, stride)
            ra = (ia[0], ia[-1] + 1) if ia else (0, 0)
            combos = [(ra, ((ib[0], ib[-1] + 1) if ib else (0, 0)) if pair else None)]
        for ra, rb in combos:
            seqs = (a, b)
            ids, types, special, offsets, sids, wids = [], [], [], [], [], []
            for part, type_id in layout:
                if isinstance(part, int):
                    (s, e), (p_ids, p_offsets, p_words) = (ra if part == 0 else rb), seqs[part]
                    m = e - s
                    ids += p_ids[s:e]
                    offsets += p_offsets[s:e]
                    wids += p_words[s:e]
                    special += [0] * m
                    sids += [part] * m
                else:
                    m = len(part)
                    ids += part
                    offsets += [(0, 0)] * m
                    wids += [None] * m
                    special += [1] * m
                    sids += [None] * m
                types += [type_id] * m
            cols["input_ids"].append(ids)
            cols["token_type_ids"].append(types)
            cols["special_tokens_mask"].append(special)
            cols["offset_mapping"].append(offsets)
            seq_ids.append(sids)
            word_ids.append(wids)
            samples.append(i)
    return cols, seq_ids, word_ids, samples


def detailed_rows(tok, firsts, seconds, split, add_special_tokens, trunc, max_length, stride, overflow=False):
    """Encode with alignment, truncate and add special tokens: ``(cols, sequence_ids, word_ids, sample_of_row)``."""
    rows = encode_detailed(tok, firsts + (seconds or []), split)
    return build_detailed_columns(tok, rows, len(firsts), seconds is not None, add_special_tokens, trunc,
                                  max_length, stride, overflow)


def _check_stride(tok, trunc, max_length, stride):
    """The fast tokenizers' check when truncation is set up: ``stride`` at most ``max_length`` less one text's
    special tokens, whether or not anything is cut (their room below the specials wraps around: no check)."""
    room = max_length - tok.num_special_tokens_to_add(pair=False) if max_length is not None else None
    if trunc != "do_not_truncate" and room is not None and 0 <= room < stride:
        raise TruncationError(f"stride={stride} is greater than the effective max length {room} (max_length="
                                 f"{max_length} less {max_length - room} special tokens); transformers' fast "
                                 "tokenizers refuse it too")


def call_detailed(tok, args, overflow, with_offsets, batched, pad, pad_to_multiple_of, padding_side,
                  return_tensors, with_types, with_attention, with_special_mask, with_length):
    """``__call__`` with offsets and/or overflow windows, in the shape transformers' fast tokenizers return."""
    _check_stride(tok, args[4], args[5], args[6])
    cols, seq_ids, word_ids, samples = detailed_rows(tok, *args, overflow=overflow)
    if not with_types:
        del cols["token_type_ids"]
    if not with_special_mask:
        del cols["special_tokens_mask"]
    offsets = cols.pop("offset_mapping")
    if with_offsets:
        cols["offset_mapping"] = offsets  # padded in place below, with (0, 0) as _padded pads
    tok._pad_columns(cols, args[5], pad, pad_to_multiple_of, padding_side, with_attention)
    left = (padding_side or tok.padding_side) == "left"
    ids = cols["input_ids"]
    seq_ids, word_ids, aligned = (_padded(rows, ids, fill, left) for rows, fill in
                                  ((seq_ids, None), (word_ids, None), (offsets, (0, 0))))
    if with_length:
        cols["length"] = [len(r) for r in cols["input_ids"]]
    if overflow:
        cols["overflow_to_sample_mapping"] = samples
    detail = {"sequence_ids": seq_ids, "word_ids": word_ids, "offsets": aligned,
              "n_sequences": 1 if args[1] is None else 2, "convert": tok.convert_ids_to_tokens}
    if batched or overflow:
        return BatchEncoding(cols, tensor_type=return_tensors, detail=detail)
    return BatchEncoding({k: v[0] for k, v in cols.items()}, tensor_type=return_tensors, prepend_batch_axis=True,
                         detail=detail)


class LazyDetail:
    """Sequence ids, word ids and offsets of a plain ``__call__``, computed together on first use from the same
    inputs and options."""

    def __init__(self, tok, args, padding_side):
        self.tok, self.args, self.padding_side = tok, args, padding_side
        self.convert = tok.convert_ids_to_tokens

    def __call__(self, input_ids):
        """Every row of :class:`BatchEncoding`'s detail, padded as ``input_ids`` are, from one alignment pass."""
        cols, seq_ids, word_ids, _ = detailed_rows(self.tok, *self.args)
        left = self.padding_side == "left"
        return {"sequence_ids": _padded(seq_ids, input_ids, None, left),
                "word_ids": _padded(word_ids, input_ids, None, left),
                "offsets": _padded(cols["offset_mapping"], input_ids, (0, 0), left),
                "n_sequences": 1 if self.args[1] is None else 2}


def _padded(rows, id_rows, fill, left):
    """New lists: each of ``rows`` extended with ``fill`` to the length of its (padded) row of ids."""
    out = []
    for ids, row in zip(id_rows, rows):
        extra = [fill] * (len(ids) - len(row))
        out.append(extra + list(row) if left else list(row) + extra)
    return out
