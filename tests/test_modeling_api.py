"""transformers' model API beyond forward: resizing the vocabulary, replacing and tying embeddings, parameter
counts, the mask helpers, output objects, loss checks, Auto mappings and the configs our models refuse."""
import copy
import dataclasses
import inspect
import json
import logging
import pickle
import shutil

import numpy as np
import paddle
import pytest
import torch
import transformers

import paddle_rembert as pr
from paddle_rembert import testing as T
from paddle_rembert.modeling.layers import Embedding
from paddle_rembert.modeling.outputs import SequenceClassifierOutput
from paddle_rembert.models import registry

from .models import assert_same, load_pair, run_both

# every family's masked LM (tied unless told otherwise; RemBERT's decoder is never tied) and a head without one
LM_CLASSES = [(f.model_type, f.model_class("ForMaskedLM").__name__) for f in registry.families()]


def _resize_both(torch_model, model, new, **kwargs):
    torch_model.resize_token_embeddings(new, **kwargs)
    returned = model.resize_token_embeddings(new, **kwargs)
    assert returned is model.get_input_embeddings()


@pytest.mark.parametrize("family,class_name", LM_CLASSES + [("bert", "BertForPreTraining"),
                                                            ("bert", "BertForSequenceClassification")])
@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("delta", [+17, -9])
def test_resize_token_embeddings_gives_transformers_model(saved, family, class_name, tie, delta):
    """Grown or cut, tied or not: the same new rows (the old rows' mean), biases, config and outputs, also
    for ids only the grown vocabulary has."""
    torch_model, model = load_pair(saved, family, class_name, tie_word_embeddings=tie)
    torch_model = copy.deepcopy(torch_model)  # the session's saved model stays as it is
    new = torch_model.config.vocab_size + delta
    _resize_both(torch_model, model, new)
    assert model.config.vocab_size == torch_model.config.vocab_size == new
    assert model.get_input_embeddings().weight.shape == list(torch_model.get_input_embeddings().weight.shape)
    np.testing.assert_allclose(model.get_input_embeddings().weight.numpy(),
                               torch_model.get_input_embeddings().weight.detach().numpy(), atol=1e-7)
    inputs = T.make_inputs(family, class_name, new, num_labels=torch_model.config.num_labels)
    inputs["input_ids"][0, 1] = new - 1  # the last id of the new vocabulary
    assert_same(*run_both(torch_model, model, inputs))


@pytest.mark.parametrize("family,class_name", LM_CLASSES)
def test_resize_without_mean_resizing_draws_new_rows_and_zero_biases(saved, family, class_name):
    _, model = load_pair(saved, family, class_name, tie_word_embeddings=False)
    old = model.get_input_embeddings().weight.numpy()
    std = model.config.initializer_range
    paddle.seed(5)
    model.resize_token_embeddings(old.shape[0] + 300, mean_resizing=False)
    weight = model.get_input_embeddings().weight.numpy()
    np.testing.assert_array_equal(weight[:old.shape[0]], old)
    assert abs(weight[old.shape[0]:].std() - std) < 0.2 * std
    decoder = model.get_output_embeddings()
    assert decoder.weight.shape[-1] == old.shape[0] + 300
    bias = decoder.bias if decoder.bias is not None else decoder.shared_bias
    np.testing.assert_array_equal(bias.numpy()[old.shape[0]:], 0)
    _, again = load_pair(saved, family, class_name, tie_word_embeddings=False)
    paddle.seed(5)
    again.resize_token_embeddings(old.shape[0] + 300, mean_resizing=False)
    np.testing.assert_array_equal(again.get_input_embeddings().weight.numpy(), weight)  # paddle.seed repeats it


def test_resize_pads_to_a_multiple_keeps_training_and_saves(saved, tmp_path):
    torch_model, model = load_pair(saved, "albert", "AlbertForMaskedLM")
    model.resize_token_embeddings(pad_to_multiple_of=64)
    assert model.config.vocab_size % 64 == 0 and model.config.vocab_size >= torch_model.config.vocab_size
    assert model.predictions.bias.shape == [model.config.vocab_size]
    assert model.get_output_embeddings().tied_embeddings is model.get_input_embeddings()
    model.train()
    inputs = T.make_inputs("albert", "AlbertForMaskedLM", model.config.vocab_size)
    model(**T.to_paddle(inputs)).loss.backward()
    assert model.get_input_embeddings().weight.grad is not None and model.predictions.bias.grad is not None
    model.save_pretrained(str(tmp_path))
    loaded, report = pr.AlbertForMaskedLM.from_pretrained(str(tmp_path), output_loading_info=True)
    assert not any(report.values()) and loaded.config.vocab_size == model.config.vocab_size
    np.testing.assert_array_equal(loaded.predictions.bias.numpy(), model.predictions.bias.numpy())


def test_resize_rejects_bad_sizes_and_drops_a_padding_row_it_cut_as_transformers(saved, tmp_path, caplog):
    """Cut below the padding id, the embedding forgets it, with no error or warning, as in transformers; the config
    keeps its pad_token_id, so the saved model loads in neither library (ours says why in one line)."""
    torch_model, model = load_pair(saved, "roberta", "RobertaForMaskedLM")
    torch_model = copy.deepcopy(torch_model)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(pr.PaddleRembertError, match="positive integer"):
            model.resize_token_embeddings(bad)
    assert model.resize_token_embeddings() is model.get_input_embeddings()  # nothing to do: nothing changes
    pad = model.config.pad_token_id  # RoBERTa's <pad> is id 1
    _resize_both(torch_model, model, pad + 1)  # the padding row is the last one: kept
    assert torch_model.get_input_embeddings().padding_idx == model.get_input_embeddings().torch_padding_idx == pad
    with caplog.at_level(logging.INFO, logger="paddle_rembert"):
        _resize_both(torch_model, model, pad)
    assert torch_model.get_input_embeddings().padding_idx is None and \
        model.get_input_embeddings().torch_padding_idx is None
    assert not [r for r in caplog.records if r.name.startswith("paddle_rembert") and r.levelno >= logging.WARNING]
    assert model.config.pad_token_id == torch_model.config.pad_token_id == pad == model.config.vocab_size
    ids = np.zeros((2, 4), dtype="int64")
    assert_same(*run_both(torch_model, model, {"input_ids": ids, "attention_mask": np.ones_like(ids)}))
    torch_model.save_pretrained(tmp_path / "torch")
    model.save_pretrained(str(tmp_path / "ours"))
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        transformers.RobertaForMaskedLM.from_pretrained(tmp_path / "torch")
    with pytest.raises(pr.PaddleRembertError, match=r"config.json: pad_token_id must be a token id below vocab_size"):
        pr.RobertaForMaskedLM.from_pretrained(str(tmp_path / "ours"))


def test_set_input_embeddings_then_tie_weights_as_transformers(saved):
    torch_model, model = load_pair(saved, "bert", "BertForMaskedLM")
    torch_model = copy.deepcopy(torch_model)
    rng = np.random.RandomState(0)
    table = rng.randn(torch_model.config.vocab_size + 4, torch_model.config.hidden_size).astype("float32") * 0.02
    t_new = torch.nn.Embedding(*table.shape)
    t_new.weight.data = torch.from_numpy(table.copy())
    p_new = Embedding(*table.shape)
    p_new.weight.set_value(table)
    torch_model.set_input_embeddings(t_new)
    model.set_input_embeddings(p_new)
    assert model.get_input_embeddings() is p_new
    torch_model.config.vocab_size = model.config.vocab_size = table.shape[0]
    torch_model.tie_weights()
    model.tie_weights()
    assert model.get_output_embeddings().tied_embeddings is p_new
    assert model.cls.predictions.bias.shape == [table.shape[0]]  # padded with zeros, as transformers pads it
    inputs = T.make_inputs("bert", "BertForMaskedLM", table.shape[0])
    assert_same(*run_both(torch_model.eval(), model, inputs))


def test_set_output_embeddings_replaces_the_decoder_and_the_head_bias(saved):
    _, model = load_pair(saved, "rembert", "RemBertForMaskedLM")
    old = model.get_output_embeddings()
    new = type(old)(old.weight.shape[0], old.weight.shape[1])
    model.set_output_embeddings(new)
    assert model.get_output_embeddings() is new and model.cls.predictions.decoder is new
    _, bert = load_pair(saved, "bert", "BertForMaskedLM", tie_word_embeddings=False)
    decoder = bert.get_output_embeddings()
    replacement = pr.BertForMaskedLM(bert.config).get_output_embeddings()
    bert.set_output_embeddings(replacement)
    assert bert.cls.predictions.decoder is replacement and bert.cls.predictions.bias is replacement.shared_bias
    assert decoder is not replacement
    with pytest.raises(pr.PaddleRembertError, match="no output embeddings"):
        load_pair(saved, "bert", "BertModel")[1].set_output_embeddings(new)


@pytest.mark.parametrize("family,class_name", LM_CLASSES + [("bert", "BertForPreTraining")])
@pytest.mark.parametrize("tie", [True, False])
def test_output_embeddings_weight_as_transformers(saved, family, class_name, tie):
    """A tied decoder's weight is the word embedding's parameter itself, as in transformers, held once by the
    model (one parameter, no second state-dict key); an untied one's is its own, transposed as a Linear's."""
    torch_model, model = load_pair(saved, family, class_name, tie_word_embeddings=tie)
    t_weight, weight = torch_model.get_output_embeddings().weight, model.get_output_embeddings().weight
    embedding = model.get_input_embeddings().weight
    assert (weight is embedding) == (t_weight is torch_model.get_input_embeddings().weight)
    np.testing.assert_array_equal(weight.numpy() if weight is embedding else weight.numpy().T,
                                  t_weight.detach().numpy())
    assert sum(p is weight for p in model.parameters()) == 1
    assert sum(value is weight for value in model.state_dict().values()) == 1
    assert model.num_parameters() == torch_model.num_parameters()


def test_assigning_the_embedding_to_a_decoder_weight_ties_it_as_in_transformers(saved):
    torch_model, model = load_pair(saved, "bert", "BertForMaskedLM", tie_word_embeddings=False)
    torch_model = copy.deepcopy(torch_model)
    decoder = model.get_output_embeddings()
    torch_model.get_output_embeddings().weight = torch_model.get_input_embeddings().weight
    decoder.weight = model.get_input_embeddings().weight
    assert decoder.tied_embeddings is model.get_input_embeddings() and "cls.predictions.decoder.weight" not in \
        model.state_dict()
    inputs = T.make_inputs("bert", "BertForMaskedLM", torch_model.config.vocab_size)
    assert_same(*run_both(torch_model, model, inputs))
    own = paddle.create_parameter([model.config.hidden_size, model.config.vocab_size], "float32")
    decoder.weight = own  # untied again: its own parameter, under its own key
    assert decoder.weight is own and decoder.tied_embeddings is None
    assert model.state_dict()["cls.predictions.decoder.weight"] is own
    with pytest.raises(pr.PaddleRembertError, match=r"takes the word embedding's weight .* shape \[15, vocab\]"):
        decoder.weight = paddle.create_parameter([model.config.vocab_size, model.config.hidden_size], "float32")


TIED_LM_CLASSES = [(family, name) for family, name in LM_CLASSES if family != "rembert"]  # RemBERT never ties


@pytest.mark.parametrize("family,class_name", TIED_LM_CLASSES)
def test_a_linear_decoder_set_on_a_tying_model_is_tied_by_tie_weights_as_in_transformers(saved, tmp_path, family,
                                                                                         class_name):
    """set_output_embeddings(Linear) on a model whose config ties the embeddings: untied until tie_weights (or a
    resize), which ties it as transformers does, keeping the Linear's bias (zero-padded by a resize)."""
    from paddle_rembert.modeling.layers import Linear

    torch_model, model = load_pair(saved, family, class_name)
    torch_model = copy.deepcopy(torch_model)
    vocab, width = model.get_input_embeddings().weight.shape
    rng = np.random.RandomState(0)
    weight, bias = rng.randn(vocab, width).astype("float32") * 0.02, rng.randn(vocab).astype("float32") * 0.1
    t_linear = torch.nn.Linear(width, vocab)
    with torch.no_grad():
        t_linear.weight.copy_(torch.from_numpy(weight))
        t_linear.bias.copy_(torch.from_numpy(bias))
    linear = Linear(width, vocab)
    linear.weight.set_value(weight.T.copy())
    linear.bias.set_value(bias)
    torch_model.set_output_embeddings(t_linear)
    model.set_output_embeddings(linear)
    inputs = T.make_inputs(family, class_name, vocab)
    assert_same(*run_both(torch_model, model, inputs))  # the Linear's own weight
    torch_model.tie_weights()
    model.tie_weights()
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert_same(*run_both(torch_model, model, inputs))
    _resize_both(torch_model, model, vocab + 5)
    inputs["input_ids"][0, 1] = vocab + 4
    t_out, p_out = run_both(torch_model, model, inputs)
    assert_same(t_out, p_out)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    model.save_pretrained(str(tmp_path))
    again = getattr(pr, class_name).from_pretrained(str(tmp_path), strict=True)
    assert_same(t_out, again(**T.to_paddle(inputs)))


@pytest.mark.parametrize("family,class_name", TIED_LM_CLASSES)
def test_a_bias_less_linear_decoder_is_tied_without_a_bias_as_in_transformers(saved, family, class_name):
    """set_output_embeddings(Linear without bias) then tie_weights on a float64 model whose config ties the
    embeddings: no bias anywhere in the head, as in transformers (no state-dict key it lacks, no float32 bias),
    and its logits. transformers' ALBERT and RoBERTa fail in tie_weights on the missing bias: their expected
    logits come from tying the Linear by hand, as tie_weights would."""
    torch_model, path = saved(family, class_name, "safetensors")
    torch_model = copy.deepcopy(torch_model).double()
    model = getattr(pr, class_name).from_pretrained(path, dtype="float64")
    vocab, width = model.get_input_embeddings().weight.shape
    t_linear = torch.nn.Linear(width, vocab, bias=False).double()
    linear = paddle.nn.Linear(width, vocab, bias_attr=False)
    linear.to(dtype="float64")
    torch_model.set_output_embeddings(t_linear)
    model.set_output_embeddings(linear)
    # transformers' RoBERTa keeps lm_head.bias, unused, until tie_weights fails (see set_output_embeddings)
    assert set(model.state_dict()) == set(torch_model.state_dict()) - {"lm_head.bias"}
    if family in ("albert", "roberta"):
        with pytest.raises(AttributeError):
            torch_model.tie_weights()
        t_linear.weight = torch_model.get_input_embeddings().weight
    else:
        torch_model.tie_weights()
    model.tie_weights()
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert model.get_output_embeddings().bias is None
    assert {p.dtype for p in model.parameters()} == {paddle.float64}
    assert set(model.state_dict()) | set(model.tied_weights) == set(torch_model.state_dict()) - {"lm_head.bias"}
    inputs = T.make_inputs(family, class_name, vocab)
    t_out, p_out = run_both(torch_model.eval(), model, inputs)
    assert p_out.logits.dtype == paddle.float64
    assert_same(t_out, p_out)


@pytest.mark.parametrize("family,class_name", TIED_LM_CLASSES)
@pytest.mark.parametrize("resize", [False, True])
def test_a_decoder_given_its_own_weight_on_a_tying_model_is_tied_again_as_in_transformers(saved, family, class_name,
                                                                                          resize):
    """A weight of its own assigned to the decoder of a model whose config ties the embeddings unties it until
    tie_weights or a resize, which tie it again in transformers (the config wins): so here."""
    torch_model, model = load_pair(saved, family, class_name)
    torch_model = copy.deepcopy(torch_model)
    vocab, width = model.get_input_embeddings().weight.shape
    own = np.random.RandomState(0).randn(vocab, width).astype("float32")
    torch_model.get_output_embeddings().weight = torch.nn.Parameter(torch.from_numpy(own.copy()))
    weight = paddle.create_parameter([width, vocab], "float32")
    weight.set_value(own.T.copy())
    model.get_output_embeddings().weight = weight
    inputs = T.make_inputs(family, class_name, vocab)
    assert_same(*run_both(torch_model, model, inputs))  # untied: the weight of its own
    if resize:
        _resize_both(torch_model, model, vocab + 3)
        inputs["input_ids"][0, 1] = vocab + 2
    else:
        torch_model.tie_weights()
        model.tie_weights()
    assert torch_model.get_output_embeddings().weight is torch_model.get_input_embeddings().weight
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert_same(*run_both(torch_model, model, inputs))


@pytest.mark.parametrize("family,class_name", LM_CLASSES + [("albert", "AlbertForSequenceClassification")])
def test_num_parameters_as_transformers(saved, family, class_name):
    torch_model, model = load_pair(saved, family, class_name)
    for kwargs in ({}, {"exclude_embeddings": True}):
        assert model.num_parameters(**kwargs) == torch_model.num_parameters(**kwargs), kwargs
    model.get_input_embeddings().weight.stop_gradient = True
    torch_model.get_input_embeddings().weight.requires_grad_(False)
    assert model.num_parameters(only_trainable=True) == torch_model.num_parameters(only_trainable=True)
    assert model.main_input_name == torch_model.main_input_name == "input_ids"


@pytest.mark.parametrize("is_decoder", [False, True])
def test_mask_helpers_as_transformers(saved, is_decoder):
    torch_model, model = load_pair(saved, "bert", "BertModel", is_decoder=is_decoder)
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
    t = torch_model.get_extended_attention_mask(torch.tensor(mask), (2, 4))
    p = model.get_extended_attention_mask(paddle.to_tensor(mask), [2, 4])
    np.testing.assert_array_equal(p.numpy(), t.numpy())
    cube = np.random.RandomState(0).randint(0, 2, (2, 4, 4))
    np.testing.assert_array_equal(model.get_extended_attention_mask(paddle.to_tensor(cube), [2, 4]).numpy(),
                                  torch_model.get_extended_attention_mask(torch.tensor(cube), (2, 4)).numpy())
    np.testing.assert_array_equal(model.invert_attention_mask(paddle.to_tensor(mask)).numpy(),
                                  torch_model.invert_attention_mask(torch.tensor(mask)).numpy())
    layers, heads = torch_model.config.num_hidden_layers, torch_model.config.num_attention_heads
    for shape in ([heads], [layers, heads], [layers, 2, heads, 1, 1]):
        head_mask = np.random.RandomState(1).randint(0, 2, shape).astype("float32")
        np.testing.assert_array_equal(model.get_head_mask(paddle.to_tensor(head_mask), layers).numpy(),
                                      torch_model.get_head_mask(torch.tensor(head_mask), layers).numpy())
    assert model.get_head_mask(None, layers) == [None] * layers


@pytest.mark.parametrize("family,class_name", [("bert", "BertModel"), ("albert", "AlbertForSequenceClassification")])
def test_a_per_example_five_dimensional_head_mask_as_transformers(saved, family, class_name):
    torch_model, model = load_pair(saved, family, class_name)
    cfg = torch_model.config
    inputs = T.make_inputs(family, class_name, cfg.vocab_size, with_labels=False)
    head_mask = np.random.RandomState(2).randint(0, 2, (cfg.num_hidden_layers, 3, cfg.num_attention_heads, 1, 1))
    assert_same(*run_both(torch_model, model, {**inputs, "head_mask": head_mask.astype("float32")},
                          output_attentions=True))
    with pytest.raises(pr.PaddleRembertError, match="head_mask must be"):
        model(**T.to_paddle(inputs), head_mask=paddle.ones([cfg.num_hidden_layers, 1, cfg.num_attention_heads]))


def test_an_output_field_set_by_attribute_is_the_dict_entry():
    out = SequenceClassifierOutput(logits=paddle.ones([2]), attentions=(paddle.zeros([1]),))
    out.logits = paddle.full([2], 7.0)
    assert float(out["logits"][0]) == float(out[0][0]) == 7.0
    out.loss = paddle.to_tensor(3.0)  # a field that was not there takes its place in the field order
    assert list(out) == ["loss", "logits", "attentions"] and float(out[0]) == 3.0
    out.loss = None
    assert list(out) == ["logits", "attentions"] and out.loss is None
    out.note = "kept"  # not a field: a plain attribute
    assert out.note == "kept" and "note" not in out


def _output_semantics(cls, tensor):
    """What an output class does when built, indexed, copied, pickled, replaced or edited, in plain values (any
    exception as "raised"): the same probe runs on transformers' class and ours."""
    results = {}

    def probe(name, action):
        try:
            results[name] = action()
        except Exception:  # transformers raises a bare Exception where it refuses
            results[name] = "raised"

    def keys(out):
        return list(out.keys())

    probe("positional", lambda: keys(cls(tensor(1.0), tensor(2.0))))
    probe("dict as the only argument", lambda: keys(cls({"logits": tensor(2.0)})))
    probe("pairs as the only argument", lambda: keys(cls([("logits", tensor(2.0)), ("attentions", None)])))
    probe("unknown field", lambda: cls(foo=1))
    for name, empty in (("empty list", []), ("empty dict", {}), ("empty tuple", ())):
        probe(name, lambda: [keys(cls(empty)), cls(empty).loss, cls(empty).to_tuple()])

    def mixed_pairs():
        try:
            cls([("logits", tensor(2.0)), 3])
        except ValueError as error:  # what a caller catching ValueError sees
            return ["ValueError", str(error)]
    probe("mixed pairs", mixed_pairs)
    out = cls(logits=tensor(2.0), attentions=(tensor(3.0),))
    out.note = "kept"
    probe("tuple", lambda: [len(out.to_tuple()), float(out[0]), len(out[0:]), float(out[-1][0])])
    probe("by key", lambda: [float(out["logits"]), out["loss"]])
    probe("unset field", lambda: out.loss)
    for name, copier in (("copy", copy.copy), ("deepcopy", copy.deepcopy),
                         ("pickle", lambda o: pickle.loads(pickle.dumps(o)))):
        probe(name, lambda: [type(copier(out)).__name__, keys(copier(out)), copier(out).note,
                             float(copier(out).logits)])
    probe("replace", lambda: [keys(dataclasses.replace(out, loss=tensor(5.0))),
                              hasattr(dataclasses.replace(out, loss=tensor(5.0)), "note")])
    probe("fields", lambda: [f.name for f in dataclasses.fields(out)])
    probe("asdict", lambda: sorted(dataclasses.asdict(out)))
    for method, args in (("pop", ("logits",)), ("update", ({"loss": tensor(1.0)},)), ("setdefault", ("x", 1)),
                         ("__delitem__", ("logits",))):
        probe(method, lambda: getattr(out, method)(*args))
    probe("after refusals", lambda: keys(out))
    out["loss"] = tensor(9.0)
    out["extra"] = 1
    probe("set by key", lambda: [keys(out), float(out.loss), out.extra, float(out[-2])])
    probe("repr", lambda: repr(cls()))
    probe("dataclass", lambda: dataclasses.is_dataclass(out))
    return results


def test_output_objects_behave_as_transformers_model_outputs():
    from transformers.modeling_outputs import SequenceClassifierOutput as TorchOutput

    theirs = _output_semantics(TorchOutput, torch.tensor)
    ours = _output_semantics(SequenceClassifierOutput, paddle.to_tensor)
    assert ours == theirs
    assert ours["deepcopy"] == ["SequenceClassifierOutput", ["logits", "attentions"], "kept", 2.0]  # not refusals
    assert ours["empty list"] == [[], [], ()] and ours["mixed pairs"][0] == "ValueError"
    with pytest.raises(pr.PaddleRembertError, match=r"Cannot set key/value for 3\. It needs to be a tuple"):
        SequenceClassifierOutput([("logits", paddle.ones([1])), 3])


def test_a_to_static_model_returns_its_output_object():
    """Paddle's static function rebuilds the output from (name, value) pairs, as transformers' outputs allow."""
    config = pr.BertConfig(**T.tiny_config_dict("bert", "BertForSequenceClassification"))
    model = pr.BertForSequenceClassification(config)
    model.eval()
    inputs = T.to_paddle(T.make_inputs("bert", "BertForSequenceClassification", config.vocab_size,
                                       with_labels=False))
    static = paddle.jit.to_static(model, full_graph=True)(**inputs, output_hidden_states=True)
    eager = model(**inputs, output_hidden_states=True)
    assert type(static) is type(eager) and list(static.keys()) == list(eager.keys()) == ["logits", "hidden_states"]
    np.testing.assert_allclose(static.logits.numpy(), eager.logits.numpy(), atol=1e-5)


CACHING_BACKBONES = [(f.model_type, f.model_class("Model").__name__) for f in registry.families()
                     if "use_cache" in inspect.signature(f.model_class("Model").forward).parameters]


@pytest.mark.parametrize("family,class_name", CACHING_BACKBONES)
@pytest.mark.parametrize("is_decoder", [False, True])
@pytest.mark.parametrize("config_use_cache", [True, False])
def test_use_cache_gives_a_cache_where_transformers_does(family, class_name, is_decoder, config_use_cache):
    """A cache only from a decoder, by use_cache or (BERT, RoBERTa, RemBERT) config.use_cache. One slip is not
    copied: transformers' ELECTRA encoder given use_cache=True returns each layer's output as its "cache"."""
    overrides = dict(is_decoder=is_decoder, use_cache=config_use_cache)
    torch_model = T.torch_model(family, class_name, **overrides)
    cls = getattr(pr, class_name)
    model = cls(cls.config_class(**T.tiny_config_dict(family, class_name, **overrides)))
    model.eval()
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, with_labels=False)
    for use_cache in (None, True, False):
        kwargs = {} if use_cache is None else {"use_cache": use_cache}
        t_out, p_out = run_both(torch_model, model, inputs, output_hidden_states=True, **kwargs)
        t_tuple, p_tuple = run_both(torch_model, model, inputs, return_dict=False, **kwargs)
        if family == "electra" and not is_decoder and use_cache:
            assert p_out.past_key_values is None and len(p_tuple) == len(t_tuple) - 1
            assert all(torch.equal(a, b) for a, b in zip(t_out.past_key_values, t_out.hidden_states[1:]))
            continue
        assert (p_out.past_key_values is None) == (t_out.past_key_values is None), use_cache
        assert len(p_tuple) == len(t_tuple)
        if p_out.past_key_values is not None:
            assert [len(layer) for layer in p_out.past_key_values] == [len(layer) for layer in t_out.past_key_values]


def test_multi_label_loss_needs_labels_shaped_like_the_logits(saved):
    torch_model, model = load_pair(saved, "bert", "BertForSequenceClassification")
    torch_model = copy.deepcopy(torch_model)  # its config learns a problem type
    inputs = T.make_inputs("bert", "BertForSequenceClassification", torch_model.config.vocab_size, with_labels=False)
    one = {k: v[:1] for k, v in inputs.items()}
    for labels in (np.array([2], "int16"), np.array([2.0], "float32")):
        torch_model.config.problem_type = None
        with pytest.raises(ValueError, match="Target size"):  # transformers' BCEWithLogitsLoss refuses the shape
            torch_model(**T.to_torch({**one, "labels": labels}))
        model.config.problem_type = None
        with pytest.raises(pr.PaddleRembertError, match=r"labels shaped like the logits \[1, 3\]"):
            model(**T.to_paddle({**one, "labels": labels}))
    multi = np.random.RandomState(0).randint(0, 2, (3, 3)).astype("float32")
    model.config.problem_type = torch_model.config.problem_type = None
    assert_same(*run_both(torch_model, model, {**inputs, "labels": multi}))


def test_float64_models_compute_their_loss_in_float64(saved):
    torch_model, path = saved("bert", "BertForSequenceClassification", "safetensors")
    torch_model = copy.deepcopy(torch_model).double()
    model = pr.BertForSequenceClassification.from_pretrained(path, dtype="float64")
    inputs = T.make_inputs("bert", "BertForSequenceClassification", torch_model.config.vocab_size)
    t_out, p_out = run_both(torch_model, model, inputs)
    assert p_out.loss.dtype == paddle.float64
    assert abs(float(p_out.loss) - float(t_out.loss)) < 1e-12


def test_electra_pretraining_loss_refuses_a_mask_that_names_no_tokens(saved):
    torch_model, model = load_pair(saved, "electra", "ElectraForPreTraining")
    inputs = T.make_inputs("electra", "ElectraForPreTraining", torch_model.config.vocab_size)
    additive = ((1.0 - inputs["attention_mask"][:, None, None, :]) * -1e4).astype("float32")
    with pytest.raises(pr.PaddleRembertError, match=r"2-D attention_mask .* shape \[3, 1, 1, 9\]"):
        model(**T.to_paddle({**inputs, "attention_mask": additive}))
    without_labels = {k: v for k, v in inputs.items() if k != "labels"}
    logits = model(**T.to_paddle({**without_labels, "attention_mask": additive})).logits  # no loss: it runs
    np.testing.assert_allclose(logits.numpy(), model(**T.to_paddle(without_labels)).logits.numpy(), atol=1e-5)


def test_untied_decoders_start_as_transformers_linear_layers():
    config = pr.BertConfig(vocab_size=4000, hidden_size=256, num_hidden_layers=1, num_attention_heads=4,
                           intermediate_size=64, tie_word_embeddings=False)
    paddle.seed(0)
    decoder = pr.BertForMaskedLM(config).get_output_embeddings()
    assert abs(float(decoder.weight.std()) - config.initializer_range) < 1e-3
    assert float(decoder.weight.abs().max()) > 3 * config.initializer_range  # normal, not Xavier-uniform's bound


def test_auto_classes_map_as_transformers():
    from transformers.models.auto import modeling_auto

    for auto_name, mapping in (("AutoModelForPreTraining", "MODEL_FOR_PRETRAINING_MAPPING_NAMES"),
                               ("AutoModelWithLMHead", "MODEL_WITH_LM_HEAD_MAPPING_NAMES")):
        names = getattr(modeling_auto, mapping)
        for family in registry.families():
            expected = names.get(family.model_type)
            if expected is None:
                with pytest.raises(pr.PaddleRembertError):
                    getattr(pr, auto_name).model_class(family.model_type)
            else:
                assert getattr(pr, auto_name).model_class(family.model_type).__name__ == expected
    for family in registry.families():  # the families' base classes, exported under transformers' names
        name = family.prefix + "PreTrainedModel"
        assert hasattr(transformers, name) and all(issubclass(c, getattr(pr, name)) for c in family.model_classes)


def test_configs_our_models_refuse_or_allow_as_transformers(saved, tmp_path):
    config = pr.AlbertConfig(**{**T.tiny_config_dict("albert", "AlbertModel"), "classifier_dropout_prob": None})
    pr.AlbertForTokenClassification(config)  # falls back to hidden_dropout_prob, as transformers
    with pytest.raises(pr.PaddleRembertError, match="AlbertForSequenceClassification needs classifier_dropout_prob"):
        pr.AlbertForSequenceClassification(config)
    _, path = saved("albert", "AlbertForSequenceClassification", "safetensors")
    shutil.copytree(path, tmp_path / "model")
    with open(tmp_path / "model" / "config.json") as f:
        data = json.load(f)
    with open(tmp_path / "model" / "config.json", "w") as f:
        json.dump({**data, "classifier_dropout_prob": None}, f)
    with pytest.raises(pr.PaddleRembertError, match="config.json: AlbertForSequenceClassification needs") as info:
        pr.AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "model"))
    assert str(tmp_path / "model") in str(info.value)
    pruned = pr.BertConfig(**{**T.tiny_config_dict("bert", "BertModel"), "pruned_heads": {"0": [1]}})
    with pytest.raises(pr.PaddleRembertError, match="pruned attention heads"):
        pr.BertModel(pruned)
    _, path = saved("bert", "BertForQuestionAnswering", "safetensors")
    model = pr.BertForQuestionAnswering.from_pretrained(path, num_labels=3, ignore_mismatched_sizes=True)
    inputs = T.make_inputs("bert", "BertForQuestionAnswering", model.config.vocab_size, with_labels=False)
    with pytest.raises(pr.PaddleRembertError, match="needs num_labels=2"):
        model(**T.to_paddle(inputs))


def test_albert_refuses_a_head_mask_its_groups_cannot_index():
    """transformers indexes an ALBERT head mask per group, so it cannot run more inner layers than layers per group;
    ours runs them without a head mask and refuses one, rather than leave the extra layers unmasked."""
    config = pr.AlbertConfig(**{**T.tiny_config_dict("albert", "AlbertModel"), "num_hidden_layers": 2,
                                "num_hidden_groups": 2, "inner_group_num": 2})
    model = pr.AlbertModel(config)
    model.eval()
    ids = paddle.to_tensor([[5, 6, 7]])
    model(ids)
    with pytest.raises(pr.PaddleRembertError, match=r"inner_group_num \(2\) at most the layers per group \(1\)"):
        model(ids, head_mask=paddle.ones([config.num_attention_heads]))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_resize_keeps_half_precision_weights(saved, dtype):
    torch_model, path = saved("bert", "BertForMaskedLM", "safetensors")
    model = pr.BertForMaskedLM.from_pretrained(path, dtype=dtype)
    old = model.get_input_embeddings().weight.astype("float32").numpy()
    model.resize_token_embeddings(old.shape[0] + 3)
    weight = model.get_input_embeddings().weight
    assert str(weight.dtype).endswith(dtype) and weight.shape == [old.shape[0] + 3, old.shape[1]]
    np.testing.assert_array_equal(weight.astype("float32").numpy()[:old.shape[0]], old)
    bias = model.cls.predictions.bias
    assert str(bias.dtype).endswith(dtype) and bias.shape == [weight.shape[0]]


@pytest.mark.parametrize("tie", [True, False])
def test_resize_keeps_float64_weights_as_transformers(saved, tie):
    """A float64 model's kept rows stay bit for bit (they do not pass through float32) and its new rows are
    transformers' (the old rows' mean, taken in float32 there too)."""
    torch_model, path = saved("bert", "BertForMaskedLM", "safetensors", tie_word_embeddings=tie)
    torch_model = copy.deepcopy(torch_model).double()
    model = pr.BertForMaskedLM.from_pretrained(path, dtype="float64")
    rng = np.random.RandomState(0)
    table, out_table = (rng.randn(*model.get_input_embeddings().weight.shape) * 0.02 for _ in range(2))
    with torch.no_grad():  # float64 values float32 cannot hold
        torch_model.get_input_embeddings().weight.copy_(torch.from_numpy(table))
        if not tie:
            torch_model.get_output_embeddings().weight.copy_(torch.from_numpy(out_table))
    model.get_input_embeddings().weight.set_value(table)
    if not tie:
        model.get_output_embeddings().weight.set_value(out_table.T.copy())
    _resize_both(torch_model, model, table.shape[0] + 5)
    weight = model.get_input_embeddings().weight
    assert weight.dtype == paddle.float64 and model.cls.predictions.bias.dtype == paddle.float64
    np.testing.assert_array_equal(weight.numpy()[:table.shape[0]], table)
    np.testing.assert_allclose(weight.numpy(), torch_model.get_input_embeddings().weight.detach().numpy(),
                               rtol=0, atol=1e-8)
    if not tie:
        decoder = model.get_output_embeddings().weight.numpy().T
        np.testing.assert_array_equal(decoder[:table.shape[0]], out_table)
        np.testing.assert_allclose(decoder, torch_model.get_output_embeddings().weight.detach().numpy(),
                                   rtol=0, atol=1e-8)
    inputs = T.make_inputs("bert", "BertForMaskedLM", table.shape[0] + 5)
    inputs["input_ids"][0, 1] = table.shape[0] + 4
    assert_same(*run_both(torch_model, model, inputs), atol=1e-8)


def test_resize_keeps_each_parameter_s_device_trainability_and_optimizer_attributes(saved):
    """The new parameters replace the old ones as they were (transformers makes them on the old device, in the old
    dtype, and keeps requires_grad); Paddle's parameters also carry their learning rate and clipping."""
    _, model = load_pair(saved, "bert", "BertForMaskedLM", tie_word_embeddings=False)

    def resized():
        return [model.get_input_embeddings().weight, model.get_output_embeddings().weight, model.cls.predictions.bias]

    for param in resized():
        param.stop_gradient, param.optimize_attr, param.need_clip = True, {"learning_rate": 0.25}, False
    places = [str(param.place) for param in resized()]
    model.resize_token_embeddings(model.config.vocab_size + 4)
    for param, place in zip(resized(), places):
        assert param.shape[-1] == model.config.vocab_size or param.shape[0] == model.config.vocab_size
        assert param.stop_gradient and param.optimize_attr == {"learning_rate": 0.25} and not param.need_clip
        assert str(param.place) == place


def test_a_replaced_linear_decoder_resizes_with_the_head_bias_it_shares(saved, tmp_path):
    """set_output_embeddings(Linear) makes the head's bias the Linear's, as in transformers; a resize then resizes
    both names of that bias, and the saved model loads again."""
    from paddle_rembert.modeling.layers import Linear

    _, model = load_pair(saved, "bert", "BertForMaskedLM", tie_word_embeddings=False)
    cfg = model.config
    model.set_output_embeddings(Linear(cfg.hidden_size, cfg.vocab_size))
    assert model.cls.predictions.bias is model.cls.predictions.decoder.bias
    model.resize_token_embeddings(cfg.vocab_size + 3)
    assert model.cls.predictions.bias is model.cls.predictions.decoder.bias
    assert model.cls.predictions.bias.shape == [cfg.vocab_size]
    model.save_pretrained(str(tmp_path))
    loaded = pr.BertForMaskedLM.from_pretrained(str(tmp_path))
    assert loaded.config.vocab_size == cfg.vocab_size and loaded.cls.predictions.bias.shape == [cfg.vocab_size]
