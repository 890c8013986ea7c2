"""Print the worst difference to transformers per head: outputs, loss and gradients.

    python -m tools.parity_report [--json out.json]

Same tiny random models and padded inputs as tests/test_modeling_parity.py (which asserts the
bounds); this prints the measured numbers for release notes.
"""
import os
import tempfile

import numpy as np

import paddle_rembert as pr
from paddle_rembert import testing as T
from paddle_rembert.runtime.errors import ArgumentParser
from paddle_rembert.runtime.settings import set_num_threads
from tools.bench.common import write_json, writable_file


def measure(family, class_name, directory):
    torch_model = T.torch_model(family, class_name)
    torch_model.save_pretrained(directory)
    model = getattr(pr, class_name).from_pretrained(directory)
    inputs = T.make_inputs(family, class_name, torch_model.config.vocab_size, num_labels=torch_model.config.num_labels)
    t_out = torch_model(**T.to_torch(inputs), output_hidden_states=True)
    p_out = model(**T.to_paddle(inputs), output_hidden_states=True)
    diffs, _ = T.max_abs_diff(T.flatten_outputs(t_out), T.flatten_outputs(p_out))
    row = {"outputs": max(v for k, v in diffs.items() if k != "loss"), "loss": diffs.get("loss")}
    if "loss" in t_out:
        t_out.loss.backward()
        p_out.loss.backward()
    else:
        (t_out.last_hidden_state ** 2).mean().backward()
        (p_out.last_hidden_state ** 2).mean().backward()
    t_grads = T.torch_grads(torch_model)
    g_diffs, _ = T.max_abs_diff(t_grads, T.paddle_grads(model, model.linear_weight_keys()))
    scale = max(float(np.abs(g).max()) for g in t_grads.values())
    row["gradients"] = max(g_diffs.values())
    row["gradients_relative"] = row["gradients"] / scale
    return row


def main(argv=None):
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=writable_file, help="also write the table as JSON")
    args = parser.parse_args(argv)
    set_num_threads()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for family, class_name in T.ALL_CLASSES:
            rows[class_name] = measure(family, class_name, os.path.join(tmp, class_name))
    print(f"{'class':36} {'outputs':>10} {'loss':>10} {'grad abs':>10} {'grad rel':>10}")
    for name, r in rows.items():
        loss = "-" if r["loss"] is None else f"{r['loss']:.2e}"
        print(f"{name:36} {r['outputs']:10.2e} {loss:>10} {r['gradients']:10.2e} {r['gradients_relative']:10.2e}")
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
