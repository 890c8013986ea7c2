"""Parity with transformers for every class of every registered family: outputs, losses, gradients, AdamW.

Each tiny random transformers model is saved as safetensors, ``.bin`` and shards, loaded by our
``from_pretrained`` (converting in memory) and run side by side on a padded batch with token
types. Tolerance is fp32 round-off.
"""
import numpy as np
import paddle
import pytest
import torch

import paddle_rembert as pr
from paddle_rembert import testing as T
from paddle_rembert.models import registry

from .conftest import SAVE_FORMATS

BACKBONES = [(f.model_type, f.model_classes[0].__name__) for f in registry.families()]
ATOL = 1e-5  # absolute, on outputs of magnitude ~1
GRAD_RTOL = 1e-5  # relative to the largest gradient of the model


def run_pair(torch_model, paddle_model, inputs):
    t_out = torch_model(**T.to_torch(inputs), output_hidden_states=True)
    p_out = paddle_model(**T.to_paddle(inputs), output_hidden_states=True)
    return t_out, p_out


def assert_outputs_match(t_out, p_out, atol=ATOL):
    t_flat, p_flat = T.flatten_outputs(t_out), T.flatten_outputs(p_out)
    diffs, only_one = T.max_abs_diff(t_flat, p_flat)
    assert not only_one, f"fields present on one side only: {only_one}"
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] < atol, f"{worst} differs by {diffs[worst]:.3g}"
    return diffs


def scalar_loss(out):
    """The head's loss, or for the bare model a fixed function of every output."""
    if out.get("loss") is not None if hasattr(out, "get") else out.loss is not None:
        return out["loss"]
    loss = (out["last_hidden_state"] ** 2).mean()
    pooled = out.get("pooler_output") if hasattr(out, "get") else None
    return loss if pooled is None else loss + (pooled ** 2).mean()  # ELECTRA has no pooler


@pytest.mark.parametrize("fmt", list(SAVE_FORMATS))
@pytest.mark.parametrize("family,class_name", T.ALL_CLASSES)
def test_forward_loss_and_gradients_match(saved, family, class_name, fmt):
    torch_model, path = saved(family, class_name, fmt)
    model, report = getattr(pr, class_name).from_pretrained(path, output_loading_info=True)
    assert report.clean, report.describe(class_name, path)
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, num_labels=torch_model.config.num_labels)

    t_out, p_out = run_pair(torch_model, model, inputs)
    assert_outputs_match(t_out, p_out)
    n_hidden = len(t_out.hidden_states)
    assert n_hidden == torch_model.config.num_hidden_layers + 1 and len(p_out.hidden_states) == n_hidden

    torch_model.zero_grad()
    scalar_loss(t_out).backward()
    scalar_loss(p_out).backward()
    t_grads = T.torch_grads(torch_model)
    p_grads = T.paddle_grads(model, model.linear_weight_keys())
    diffs, only_one = T.max_abs_diff(t_grads, p_grads)
    assert not only_one, f"gradients on one side only: {only_one}"
    scale = max(float(np.abs(g).max()) for g in t_grads.values())
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= GRAD_RTOL * scale, f"grad of {worst} differs by {diffs[worst]:.3g} (scale {scale:.3g})"
    # the same parameters take part on both sides (a wiring slip would leave one without gradient; with
    # relative positions, neither side uses the absolute position table)
    assert len(p_grads) == len(t_grads)


@pytest.mark.parametrize("family,class_name", T.ALL_CLASSES)
def test_attentions_match(saved, family, class_name):
    torch_model, path = saved(family, class_name, "safetensors")
    model = getattr(pr, class_name).from_pretrained(path)
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, with_labels=False)
    t_out = torch_model(**T.to_torch(inputs), output_attentions=True)
    p_out = model(**T.to_paddle(inputs), output_attentions=True)
    assert len(p_out.attentions) == len(t_out.attentions) > 0
    for t_att, p_att in zip(t_out.attentions, p_out.attentions):
        np.testing.assert_allclose(p_att.numpy(), t_att.detach().numpy(), atol=ATOL, rtol=0)


@pytest.mark.parametrize("family,class_name", T.ALL_CLASSES)
def test_three_adamw_steps_give_the_same_losses(saved, family, class_name):
    torch_model, path = saved(family, class_name, "safetensors")
    torch_model = T.torch_model(family, class_name)  # a fresh copy: this test trains it
    model = getattr(pr, class_name).from_pretrained(path)
    model.train()
    torch_model.train()
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, num_labels=torch_model.config.num_labels)
    lr, wd = 1e-3, 0.01
    t_opt = torch.optim.AdamW(torch_model.parameters(), lr=lr, weight_decay=wd, eps=1e-6)
    p_opt = paddle.optimizer.AdamW(learning_rate=lr, parameters=model.parameters(), weight_decay=wd, epsilon=1e-6)
    t_losses, p_losses = [], []
    for _ in range(3):
        t_loss = scalar_loss(torch_model(**T.to_torch(inputs)))  # the head's loss; for a bare model, of its outputs
        t_opt.zero_grad()
        t_loss.backward()
        t_opt.step()
        p_loss = scalar_loss(model(**T.to_paddle(inputs)))
        p_loss.backward()
        p_opt.step()
        p_opt.clear_grad()
        t_losses.append(t_loss.item())
        p_losses.append(float(p_loss))
    assert t_losses[2] < t_losses[0]  # the steps do train
    np.testing.assert_allclose(p_losses, t_losses, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", registry.model_types())
@pytest.mark.parametrize("problem", ["regression", "multi_label_classification", "single_label_classification"])
def test_sequence_classification_problem_types(saved, family, problem):
    class_name = registry.get(family).prefix + "ForSequenceClassification"
    num_labels = 1 if problem == "regression" else 4
    # transformers stores the inferred problem_type on the config, so each case gets its own model
    torch_model, path = saved(family, class_name, "safetensors", num_labels=num_labels, finetuning_task=problem)
    model = getattr(pr, class_name).from_pretrained(path)
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, with_labels=False)
    rng = np.random.RandomState(1)
    batch = inputs["input_ids"].shape[0]
    if problem == "regression":
        inputs["labels"] = rng.randn(batch).astype(np.float32)
    elif problem == "multi_label_classification":
        inputs["labels"] = (rng.rand(batch, num_labels) > 0.5).astype(np.float32)
    else:
        inputs["labels"] = rng.randint(0, num_labels, size=batch)
    t_out, p_out = run_pair(torch_model, model, inputs)
    assert model.config.problem_type == torch_model.config.problem_type == problem
    np.testing.assert_allclose(float(p_out.loss), t_out.loss.item(), rtol=1e-5)
    assert_outputs_match(t_out, p_out)


@pytest.mark.parametrize("family,class_name", BACKBONES)
def test_return_dict_false_gives_transformers_tuple(saved, family, class_name):
    torch_model, path = saved(family, class_name, "safetensors")
    model = getattr(pr, class_name).from_pretrained(path)
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, with_labels=False)
    t_tuple = torch_model(**T.to_torch(inputs), return_dict=False, output_hidden_states=True)
    p_tuple = model(**T.to_paddle(inputs), return_dict=False, output_hidden_states=True)
    assert isinstance(p_tuple, tuple) and len(p_tuple) == len(t_tuple)  # field order and presence as theirs
    for p_item, t_item in zip(p_tuple, t_tuple):
        for p_t, t_t in zip(p_item, t_item) if isinstance(t_item, tuple) else [(p_item, t_item)]:
            np.testing.assert_allclose(p_t.numpy(), t_t.detach().numpy(), atol=ATOL)


def test_head_mask_matches(saved):
    for family, class_name in BACKBONES:
        torch_model, path = saved(family, class_name, "safetensors")
        model = getattr(pr, class_name).from_pretrained(path)
        inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, with_labels=False)
        head_mask = np.ones((torch_model.config.num_hidden_layers, 3), dtype=np.float32)
        head_mask[0, 1] = head_mask[-1, 0] = 0.0
        inputs["head_mask"] = head_mask
        t_out, p_out = run_pair(torch_model, model, inputs)
        assert_outputs_match(t_out, p_out)
