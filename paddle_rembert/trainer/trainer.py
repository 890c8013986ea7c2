"""XNLI / PAWS-X fine-tuning, top to bottom.

``run(args)``: read the data, train on the training languages (English by default), evaluate
on dev every ``eval_step`` optimizer steps, keep the checkpoint that scores best on dev
(``select_on``), and finally report that checkpoint's accuracy on every dev and test language.
The test set never takes part in any choice.

Distributed runs (``python -m paddle.distributed.launch --nproc_per_node N``) split each
global batch across ranks (see ``data.sampler``) and weight each rank's loss by its share, so
N processes with per-device batch B/N follow the same trajectory as one process with batch B.
Only rank 0 writes files.
"""
import logging
import math
import os
import random
import re
import shutil
import time

import numpy as np
import paddle
from tqdm.auto import tqdm

from ..data import TrainBatchSampler, get_task, write_predictions
from ..data.features import encode_examples
from ..models.auto import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, read_model_type
from ..runtime.errors import PaddleRembertError
from ..runtime.files import read_json, write_json
from ..runtime.settings import held_log_records, replay_log_records, set_num_threads, setup_logging
from ..tokenization.utils import check_ids_fit
from . import checkpoint, distributed, optim
from .evaluate import EvalSet, evaluate, selection_score, task_label_map

logger = logging.getLogger("paddle_rembert.trainer")
BEST_DIR = "best"


def run(args):
    """Train and/or evaluate as ``args`` says; returns the eval_results dict (rank 0) or None."""
    env = distributed.init(args.device)
    # the format of train.log on stderr from the start (tools/train.py and the example do not set it up): records
    # held while the inputs are read and emitted when start-up fails then look as they would have in the run
    setup_logging(logging.INFO if env.is_main else logging.WARNING)
    if args.amp == "fp16" and env.device == "cpu":  # Paddle would warn and train in fp32
        raise PaddleRembertError("amp fp16 needs a GPU; on CPU use amp bf16 (AVX512-BF16 / AMX) or none")
    set_num_threads(args.threads, env.world_size)
    task = get_task(args.task)
    read_model_type(args.model_name_or_path)  # a wrong model_name_or_path is named as the model's, not the tokenizer's
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)
    # every rank, before any rank writes: nothing is lost to a late error; the evaluation rows are read here, once,
    # and so are the training rows and the model (a bad training file or head must not cost the previous run)
    notes, evaluated = preflight(args, task, tokenizer)
    if not env.is_main:  # every rank reads the same files: rank 0 reports their skipped rows
        logging.getLogger("paddle_rembert.data").setLevel(logging.ERROR)
    with held_log_records() as held:  # the loading report and skipped rows, for train.log once it exists
        if args.do_train:  # the rows first: a bad training file is the one line reported, not after a loading report
            train_examples, _ = task.load_train(args.data_dir, args.train_languages)  # it logs skipped rows
            # too few rows for one batch on every process is refused here, before the output directory is touched
            TrainBatchSampler(len(train_examples), args.train_batch_size, env.world_size, env.rank, args.seed)
            seed_everything(args.seed)
            model = load_model(args, task)
    distributed.barrier(env)
    if env.is_main:
        prepare_output_dir(args)
    distributed.barrier(env)
    setup_logging(logging.INFO if env.is_main else logging.WARNING,
                  os.path.join(args.output_dir, "train.log") if env.is_main else None)
    logger.info("rank %d of %d on %s; arguments: %s", env.rank, env.world_size, env.device, args.to_dict())
    for note in notes:
        logger.warning("%s", note)
    replay_log_records(held)
    model_dir = args.model_name_or_path
    if args.do_train:
        model_dir = train(args, env, task, tokenizer, evaluated["dev"], model, train_examples)
    if args.do_eval:
        return final_evaluation(args, env, task, tokenizer, model_dir, evaluated)
    return None


# -- training ----------------------------------------------------------------------------------
def train(args, env, task, tokenizer, dev_examples, model, train_examples):
    """The training loop (``dev_examples``: ``{language: examples}`` of dev; ``model`` from :func:`load_model`
    after :func:`seed_everything`); returns the directory of the selected (best-on-dev) model."""
    if args.recompute:
        model.gradient_checkpointing_enable()
    pad_id = tokenizer.pad_token_id
    train_data = encode(tokenizer, train_examples, args, env, "train")
    if args.select_on != "all":  # preflight checked that dev has it
        dev_examples = {args.select_on: dev_examples[args.select_on]}
    dev = load_eval_set(tokenizer, args, env, "dev", dev_examples)

    sampler = TrainBatchSampler(len(train_data), args.train_batch_size, env.world_size, env.rank, args.seed,
                                lengths=train_data.lengths if args.group_by_length else None)
    accum = args.gradient_accumulation_steps
    steps_per_epoch = math.ceil(sampler.num_batches_per_epoch / accum)
    total_steps = args.max_steps if args.max_steps > 0 else math.ceil(args.num_train_epochs * steps_per_epoch)
    optimizer, scheduler, warmup = optim.build(model, args, total_steps)
    scaler = optim.grad_scaler(args.amp)
    state = {"global_step": 0, "epoch": 0, "batch_in_epoch": 0, "best_score": None, "best_step": None,
             "history": [], "sampler": sampler.fingerprint(),
             "optimization": optimization_settings(args, total_steps)}
    if args.resume:
        state = resume(args, env, model, optimizer, scheduler, scaler, sampler, state, total_steps)
    logger.info("%d training examples, %d optimizer steps (%d per epoch, warm-up %d), global batch %d x %d "
                "accumulation", len(train_data), total_steps, steps_per_epoch, warmup, sampler.global_batch_size,
                accum)

    dp_model = distributed.wrap(model, env)
    dp_model.train()
    writer = visualdl_writer(args, env)
    bar = tqdm(total=total_steps, initial=state["global_step"], desc="train", unit="step", disable=not env.is_main)
    window = resumed_window(state.pop("log_window", None), env)
    batches = micro_batches(sampler, state["epoch"], state["batch_in_epoch"], accum)
    while state["global_step"] < total_steps:
        group, (state["epoch"], state["batch_in_epoch"]) = next(batches)
        step_examples = sum(sampler.global_batch_size_at(b) for _, b, _ in group)
        step_loss, step_tokens = 0.0, 0
        for j, (_, _, indices) in enumerate(group):
            arrays = train_data.batch(indices, pad_id)
            inputs = {k: paddle.to_tensor(v) for k, v in arrays.items() if k != "num_tokens"}
            # each rank's mean loss, weighted by its share of the step's examples: after the
            # all-reduce average this is the mean over every example of the optimizer step
            weight = len(indices) * env.world_size / step_examples
            with distributed.no_sync(dp_model, skip=j < len(group) - 1):
                with optim.autocast(args.amp):
                    loss = dp_model(**inputs).loss * weight
                scaler.scale(loss).backward()
            step_loss += float(loss)
            step_tokens += arrays["num_tokens"]
        scaler.step(optimizer)
        scaler.update()
        optimizer.clear_grad()
        scheduler.step()
        state["global_step"] += 1
        bar.update(1)
        window["loss"] += step_loss
        window["tokens"] += step_tokens
        window["steps"] += 1
        step = state["global_step"]
        last = step == total_steps
        if step % args.logging_steps == 0 or last:
            log_window(window, step, scheduler, env, writer, bar)
        if step % args.eval_step == 0 or last:
            evaluate_and_select(args, env, task, model, tokenizer, dev, pad_id, state, writer)
        if step % args.save_steps == 0 or last:
            state["log_window"] = window_state(window, env)
            save_checkpoint(args, env, model, tokenizer, optimizer, scheduler, scaler, state)
            del state["log_window"]
    if state["best_score"] is None:  # a finished run resumed without its best/: no step was left to evaluate at
        evaluate_and_select(args, env, task, model, tokenizer, dev, pad_id, state, writer)
    bar.close()
    if writer is not None:
        writer.close()
    distributed.barrier(env)
    return os.path.join(args.output_dir, BEST_DIR)


def micro_batches(sampler, epoch, batch_in_epoch, accum):
    """Yield (group of ``accum`` micro-batches, data position after it), epoch after epoch.

    A group never crosses an epoch boundary: the last step of an epoch may have fewer micro-batches.
    """
    while True:
        sampler.set_epoch(epoch, batch_in_epoch)
        group = []
        for b, indices in enumerate(sampler, start=batch_in_epoch):
            group.append((epoch, b, indices))
            if len(group) == accum or b == sampler.num_batches_per_epoch - 1:
                done = b + 1
                next_position = (epoch + 1, 0) if done == sampler.num_batches_per_epoch else (epoch, done)
                yield group, next_position
                group = []
        epoch, batch_in_epoch = epoch + 1, 0


def window_state(window, env):
    """The logging window's loss so far (summed over ranks, over the world size: its share of the logged mean) and
    steps, saved with a checkpoint so that a resumed run logs the same loss at the window's end."""
    totals = distributed.gather_rows(np.array([[window["loss"]]], dtype=np.float64), env)
    return {"loss": float(sum(t[0, 0] for t in totals)) / env.world_size, "steps": window["steps"]}


def resumed_window(saved, env):
    """A new logging window; after a resume, it goes on from the checkpoint's (:func:`window_state`; rank 0 holds
    its loss, on any number of ranks). Tokens per second restart with the run."""
    window = {"loss": 0.0, "tokens": 0, "steps": 0, "start": time.time()}
    if isinstance(saved, dict):
        window.update(loss=float(saved.get("loss", 0.0)) * env.world_size if env.is_main else 0.0,
                      steps=int(saved.get("steps", 0)))
    return window


def log_window(window, step, scheduler, env, writer, bar):
    """Loss (mean over the window, averaged over ranks), learning rate and non-pad tokens/s."""
    totals = distributed.gather_rows(np.array([[window["loss"], window["tokens"]]], dtype=np.float64), env)
    loss = sum(t[0, 0] for t in totals) / env.world_size / max(1, window["steps"])
    tokens = sum(t[0, 1] for t in totals)
    elapsed = max(1e-9, time.time() - window["start"])
    lr = scheduler.get_lr()
    logger.info("step %d: loss %.4f, lr %.3g, %.0f tokens/s", step, loss, lr, tokens / elapsed)
    bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2g}")
    if writer is not None:
        writer.add_scalar("train/loss", loss, step)
        writer.add_scalar("train/lr", lr, step)
        writer.add_scalar("train/tokens_per_second", tokens / elapsed, step)
    window.update(loss=0.0, tokens=0, steps=0, start=time.time())


def evaluate_and_select(args, env, task, model, tokenizer, dev, pad_id, state, writer):
    """Dev accuracy on the selection languages; a new best is written to ``best/``."""
    results, _ = evaluate(model, dev, env, args.eval_batch_size, pad_id, args.amp, task.name, state["global_step"])
    score = selection_score(results, args.select_on)
    improved = state["best_score"] is None or score > state["best_score"]
    state["history"].append({"step": state["global_step"], "score": score})
    logger.info("step %d: dev %s accuracy %.4f%s", state["global_step"], args.select_on, score,
                " (new best)" if improved else f" (best {state['best_score']:.4f} at step {state['best_step']})")
    if writer is not None:
        writer.add_scalar(f"dev/accuracy_{args.select_on}", score, state["global_step"])
        for lang, r in results["languages"].items():
            writer.add_scalar(f"dev/accuracy/{lang}", r["accuracy"], state["global_step"])
    if improved:
        state["best_score"], state["best_step"] = score, state["global_step"]
        if env.is_main:
            checkpoint.save_model_dir(os.path.join(args.output_dir, BEST_DIR), model, tokenizer,
                                      {"step": state["global_step"], "select_on": args.select_on, "score": score})
    distributed.barrier(env)


def save_checkpoint(args, env, model, tokenizer, optimizer, scheduler, scaler, state):
    # every rank's dropout stream, as JSON-able numbers
    rng_states = distributed.gather_objects(checkpoint.rng_state_to_json(paddle.get_rng_state()), env)
    if env.is_main:
        path = checkpoint.save(args.output_dir, state["global_step"], model, tokenizer, optimizer, scheduler, scaler,
                               rng_states, state, args.save_total_limit)
        logger.info("saved %s", path)
    distributed.barrier(env)


def resume(args, env, model, optimizer, scheduler, scaler, sampler, state, total_steps=None):
    """Load the newest checkpoint that loads; a corrupt newer one is skipped with a warning."""
    candidates = checkpoint.list_checkpoints(args.output_dir)[::-1]
    if not candidates:
        logger.warning("--resume: no complete checkpoint in %s, starting from the beginning", args.output_dir)
        return state
    reasons = []
    for path in candidates:
        _check_same_labels(path, model)
        try:
            saved, rng_states = checkpoint.load(path, model, optimizer, scheduler, scaler)
            break
        except (PaddleRembertError, OSError, ValueError, KeyError, TypeError, EOFError, RuntimeError) as e:
            reasons.append(f"{os.path.basename(path)}: "
                           + (str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__))
            logger.warning("--resume: %s cannot be loaded (%s); trying the previous checkpoint", path,
                           reasons[-1].split(": ", 1)[1])
    else:
        raise PaddleRembertError(f"--resume: none of the checkpoints in {args.output_dir} can be loaded "
                                 f"({'; '.join(reasons)})")
    sampler.check_resume(saved["sampler"])
    now = optimization_settings(args, total_steps)
    changed = [f"{k}: checkpoint {v!r}, now {now[k]!r}" for k, v in (saved.get("optimization") or {}).items()
               if k in now and v != now[k]]
    if changed:
        raise PaddleRembertError(f"cannot resume: the training would differ from the interrupted run's "
                                 f"({'; '.join(changed)}); give the checkpoint's values, or start a new run from "
                                 f"{path} as model_name_or_path (without its optimizer state)")
    saved["optimization"] = now  # a checkpoint written before this was recorded gets it from here on
    if total_steps is not None and saved["global_step"] >= total_steps:
        logger.warning("--resume: %s is at step %d of this run's %d: nothing is left to train (to train further, "
                       "start a new run with it as model_name_or_path)", path, saved["global_step"], total_steps)
    if len(rng_states) == env.world_size:
        paddle.set_rng_state(rng_states[env.rank])
    else:
        logger.warning("checkpoint has RNG states of %d ranks, this run has %d: dropout streams restart",
                       len(rng_states), env.world_size)
    logger.info("resumed from %s at step %d (epoch %d, batch %d)", path, saved["global_step"], saved["epoch"],
                saved["batch_in_epoch"])
    return reconcile_best(args, saved)


def _check_same_labels(path, model):
    """A checkpoint of another task's run (its labels differ) is refused by name, not tried as a damaged one."""
    try:
        labels = list(AutoConfig.from_pretrained(path).id2label.values())
    except PaddleRembertError:
        return  # a damaged config: the load reports it, and the previous checkpoint is tried
    wanted = list(model.config.id2label.values())
    if labels != wanted:
        raise PaddleRembertError(f"cannot resume: {path} was trained for the labels {labels}, this task has "
                                 f"{wanted}: it holds another task's run; choose another output_dir")


def optimization_settings(args, total_steps=None):
    """The arguments that shape each optimizer step, the number of steps (the learning-rate schedule's length and
    warm-up follow it) and the metric the best model is selected on: a resume must keep them (the batches are
    checked apart; a best score on another metric would be compared as if the same)."""
    settings = {name: getattr(args, name) for name in ("learning_rate", "gradient_accumulation_steps",
                                                       "warmup_proportion", "weight_decay", "adam_epsilon",
                                                       "max_grad_norm", "amp", "select_on")}
    if total_steps is not None:
        settings["total_steps"] = total_steps
    return settings


def reconcile_best(args, state):
    """The best score to beat after a resume: ``best/``'s own when it is ahead of the checkpoint (a new best
    is written at once, the checkpoint only every ``save_steps``), none when ``best/`` is gone, so that the
    next evaluation writes it again instead of leaving the run without a selected model."""
    path = os.path.join(args.output_dir, BEST_DIR, checkpoint.SELECTION_FILE)
    info = None
    if os.path.isfile(path):
        try:
            raw = read_json(path, "the best model's selection.json")
            info = float(raw["score"]), int(raw["step"]), raw["select_on"]
        except (PaddleRembertError, KeyError, TypeError, ValueError):
            pass  # unreadable: as if best/ were gone
    if info is None:
        if state["best_score"] is not None:
            logger.warning("--resume: %s has no readable %s/; the next evaluation selects the best model again",
                           args.output_dir, BEST_DIR)
        state["best_score"] = state["best_step"] = None
        return state
    score, step, select_on = info
    if select_on == args.select_on and (state["best_score"] is None or score > state["best_score"]):
        logger.info("--resume: %s/ holds step %d (dev %s %.4f), ahead of the checkpoint: that is the score to beat",
                    BEST_DIR, step, select_on, score)
        state["best_score"], state["best_step"] = score, step
    return state


# -- start-up checks -------------------------------------------------------------------------------
# What a training run writes into output_dir (and --overwrite_output_dir removes): nothing else is touched.
RUN_OUTPUTS = re.compile(r"checkpoint-\d+|best|vdl|eval_results\.json|predictions_(dev|test)\.tsv|train\.log")


def _inside(path, directory):
    path, directory = os.path.realpath(path), os.path.realpath(directory)
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def preflight(args, task, tokenizer):
    """Check what would otherwise fail late; returns warnings to log once logging is set up, and the
    evaluation rows read (``{split: {language: examples}}``), which the run uses rather than read them again.

    * every data file the run needs (training languages; dev for selection; dev and test for
      do_eval) exists;
    * training never writes into the directory of its starting model, and a non-empty
      output_dir needs ``resume`` or ``overwrite_output_dir``;
    * every evaluation row is read and checked (a bad test row is found before training, not after);
    * the checkpoint is of ``model_type`` when one is given, and its tokenizer's ids fit its embeddings;
    * ``max_seq_length`` leaves room for text and fits the model's position table (clamped, with a warning).
    """
    notes = []
    splits = list(dict.fromkeys((["dev"] if args.do_train else []) + (["dev", "test"] if args.do_eval else [])))
    task.check_files(args.data_dir, args.train_languages if args.do_train else None, splits)
    # every evaluation row is read now: a bad test row must not wait for the end of training
    evaluated = {split: task.load_eval(args.data_dir, split) for split in splits}
    out = args.output_dir
    if os.path.lexists(out) and not os.path.isdir(out):
        raise PaddleRembertError(f"output_dir {out} exists and is not a directory")
    if args.do_train:
        if os.path.exists(args.model_name_or_path) and _inside(args.model_name_or_path, out):
            raise PaddleRembertError(f"model_name_or_path {args.model_name_or_path} is inside output_dir {out}: "
                                     f"training would overwrite (or remove) its own starting model; copy it "
                                     f"elsewhere or choose another output_dir")
        # a run that failed before training began leaves only its log: that does not make a previous run
        existing = sorted(os.listdir(out)) if os.path.isdir(out) else []
        if existing == ["train.log"] and not args.resume:
            existing = []
            notes.append(f"{out}/train.log is from a run that stopped before training; this run's log follows it")
        if existing and not (args.resume or args.overwrite_output_dir):
            shown = ", ".join(existing[:5]) + (", ..." if len(existing) > 5 else "")
            raise PaddleRembertError(f"output_dir {out} is not empty ({shown}); pass resume (--resume) to continue "
                                     f"its last checkpoint, or overwrite_output_dir (--overwrite_output_dir) to "
                                     f"start over")
        if args.resume and args.overwrite_output_dir:
            raise PaddleRembertError("resume and overwrite_output_dir contradict each other: give one")
        dev_languages = list(evaluated["dev"])  # in the order eval_languages gives them
        if args.select_on != "all" and args.select_on not in dev_languages:
            raise PaddleRembertError(f"select_on {args.select_on!r} is not a dev language of {task.name} under "
                                     f"{args.data_dir} (found: {dev_languages}), nor 'all'")
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    if args.max_seq_length <= specials:
        raise PaddleRembertError(f"max_seq_length {args.max_seq_length} leaves no room for text: the tokenizer "
                                 f"adds {specials} special tokens to a sentence pair")
    config = AutoConfig.from_pretrained(args.model_name_or_path)
    if args.model_type is not None and config.model_type != args.model_type:
        raise PaddleRembertError(f"model_type {args.model_type} but {args.model_name_or_path} holds a model of "
                                 f"type {config.model_type} (its config.json)")
    check_ids_fit(tokenizer, config.vocab_size, args.model_name_or_path)
    if args.do_eval and not args.do_train:  # evaluation alone needs a classifier for this task, before any output
        heads = config.architectures or []
        if heads and not is_classifier(config):
            raise PaddleRembertError(f"{args.model_name_or_path} holds {heads[0]} (its config.json), not a "
                                     f"sequence classifier fine-tuned for {task.name}: evaluation alone needs one "
                                     f"(do_train trains it)")
        task_label_map(config, task, args.model_name_or_path)
        if has_placeholder_labels(config, task):
            notes.append(placeholder_labels_note(config, task, args.model_name_or_path))
    limit = config.max_sequence_length
    if limit is not None and args.max_seq_length > limit:
        notes.append(f"max_seq_length {args.max_seq_length} is more than {args.model_name_or_path}'s config "
                     f"allows (its position table): using {limit}")
        args.max_seq_length = limit
    return notes, evaluated


def prepare_output_dir(args):
    """Create output_dir; with overwrite_output_dir (and training), remove a previous run's outputs."""
    os.makedirs(args.output_dir, exist_ok=True)
    if not (args.do_train and args.overwrite_output_dir):
        return
    for name in os.listdir(args.output_dir):
        if RUN_OUTPUTS.fullmatch(name):
            path = os.path.join(args.output_dir, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
            logger.info("overwrite_output_dir: removed %s", path)


# -- evaluation ------------------------------------------------------------------------------------
def final_evaluation(args, env, task, tokenizer, model_dir, evaluated):
    """The selected model on every dev and test language (``evaluated``: ``{split: {language: examples}}``):
    eval_results.json and predictions_<split>.tsv."""
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, strict=True)
    label_map = task_label_map(model.config, task, model_dir)
    selection = os.path.join(model_dir, checkpoint.SELECTION_FILE)
    step = None
    if os.path.isfile(selection):  # only names the step in the results
        raw = read_json(selection, "the model's selection.json")
        step = raw.get("step") if isinstance(raw, dict) and isinstance(raw.get("step"), int) else None
    pad_id = tokenizer.pad_token_id
    out = {}
    for split in ("dev", "test"):
        eval_set = load_eval_set(tokenizer, args, env, split, evaluated[split])
        results, predictions = evaluate(model, eval_set, env, args.eval_batch_size, pad_id, args.amp, task.name,
                                        step, label_map)
        out[split] = results
        if env.is_main:
            examples = [ex for lang in eval_set.languages for ex in eval_set.examples[lang]]
            preds = np.concatenate([predictions[lang] for lang in eval_set.languages])
            write_predictions(os.path.join(args.output_dir, f"predictions_{split}.tsv"), task, examples, preds)
    if env.is_main:
        write_json(os.path.join(args.output_dir, "eval_results.json"), out)
        logger.info("results of %s (step %s):\n%s", model_dir, step, results_table(out))
    distributed.barrier(env)
    return out if env.is_main else None


def results_table(results):
    """Accuracy per language (rows) and split (columns); a language one split lacks shows ``-`` there."""
    splits = list(results)
    langs = list(dict.fromkeys(lang for s in splits for lang in results[s]["languages"]))
    lines = ["language  " + "  ".join(f"{s:>8}" for s in splits)]
    for lang in langs:
        cells = (results[s]["languages"].get(lang) for s in splits)
        lines.append(f"{lang:<8}  " + "  ".join(f"{100 * c['accuracy']:8.2f}" if c else f"{'-':>8}" for c in cells))
    lines.append("average   " + "  ".join(f"{100 * results[s]['average_accuracy']:8.2f}" for s in splits))
    return "\n".join(lines)


# -- helpers ---------------------------------------------------------------------------------------
def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


def is_classifier(config):
    return any(name.endswith("ForSequenceClassification") for name in config.architectures or ())


def has_placeholder_labels(config, task):
    """A classifier fine-tuned elsewhere for this task whose label names say nothing of their order (transformers'
    placeholders LABEL_0 ..., which PaddleNLP's save_pretrained writes)."""
    return config.num_labels == task.num_labels and is_classifier(config) and \
        all(config.id2label.get(i) == f"LABEL_{i}" for i in range(config.num_labels))


def placeholder_labels_note(config, task, source):
    return (f"{source} names its labels LABEL_0..{task.num_labels - 1}, which does not say their order; they are "
            f"taken in {task.name}'s order {list(task.labels)}. If it was trained in another (PaddleNLP's RemBERT "
            f"XNLI example: neutral, entailment, contradictory), write the names into id2label in its config.json")


def load_model(args, task):
    """The classifier, from a Paddle or transformers directory, with the task's label names. A classifier already
    fine-tuned for this task with its labels in another order (PaddleNLP's XNLI: neutral, entailment,
    contradictory) has its outputs put in the task's order, so training goes on from what it learnt."""
    config = AutoConfig.from_pretrained(args.model_name_or_path)
    try:
        label_map = task_label_map(config, task, args.model_name_or_path)
    except PaddleRembertError:  # another task's labels or number of them: a new head under the task's names
        label_map = None
    other_head = config.num_labels != task.num_labels and is_classifier(config)
    if other_head:  # a classifier of another task (PAWS-X's two labels for XNLI's three): a new one in its place
        logger.warning("%s classifies %d labels, %s has %d: its classifier is replaced by a new one",
                       args.model_name_or_path, config.num_labels, task.name, task.num_labels)
    elif has_placeholder_labels(config, task):
        logger.warning("%s", placeholder_labels_note(config, task, args.model_name_or_path))
    model = AutoModelForSequenceClassification.from_pretrained(  # one label per example, whatever the head was
        args.model_name_or_path, num_labels=task.num_labels, id2label=dict(enumerate(task.labels)),
        problem_type="single_label_classification", ignore_mismatched_sizes=other_head)
    if label_map is not None:
        order = np.argsort(label_map)  # the task's label j is the checkpoint's output order[j]
        heads = [(n.rsplit(".", 1)[0], p) for n, p in model.named_parameters()
                 if n.startswith("classifier.") and p.shape and p.shape[-1] == task.num_labels]
        with paddle.no_grad():
            for _, param in [h for h in heads if h[0] == heads[-1][0]]:  # the last Linear: weight [in, labels], bias
                param.set_value(paddle.index_select(param, paddle.to_tensor(order), axis=param.ndim - 1))
        logger.info("%s names its labels %s; its classifier's outputs are put in %s's order %s",
                    args.model_name_or_path, [config.id2label[i] for i in range(config.num_labels)], task.name,
                    list(task.labels))
    return model


def encode(tokenizer, examples, args, env, what):
    with tqdm(total=len(examples), desc=f"tokenize {what}", unit="pair", disable=not env.is_main) as bar:
        return encode_examples(tokenizer, examples, args.max_seq_length, bar)


def load_eval_set(tokenizer, args, env, split, examples):
    total = sum(len(exs) for exs in examples.values())
    with tqdm(total=total, desc=f"tokenize {split}", unit="pair", disable=not env.is_main) as bar:
        encoded = {lang: encode_examples(tokenizer, exs, args.max_seq_length, bar) for lang, exs in examples.items()}
    return EvalSet(split, examples, encoded)


def visualdl_writer(args, env):
    if not env.is_main:
        return None
    from visualdl import LogWriter

    return LogWriter(logdir=os.path.join(args.output_dir, "vdl"))
