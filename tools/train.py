"""Fine-tune from a YAML recipe: ``tools/train.py --config configs/rembert_xnli.yaml [key=value ...]``.

Runs under plain ``python`` or ``python -m paddle.distributed.launch --nproc_per_node N``.
"""
import sys
import warnings

# Paddle warns on import that ccache (for compiling custom C++ operators) is missing: not our users' concern.
warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)

from paddle_rembert.cli import run_guarded, thread_count  # noqa: E402
from paddle_rembert.runtime.errors import ArgumentParser  # noqa: E402
from paddle_rembert.runtime.settings import quiet_third_party  # noqa: E402
from paddle_rembert.trainer import from_yaml, run  # noqa: E402


def main(argv=None):
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a YAML recipe from configs/")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the recipe (types are checked)")
    parser.add_argument("--threads", type=thread_count, default=None,
                        help="CPU threads per process (the threads=N override; default: the cores, split among ranks)")
    args = parser.parse_args(argv)
    quiet_third_party()
    # --threads as the first override: a threads=N override still wins, as with paddle-rembert train
    overrides = ([] if args.threads is None else [f"threads={args.threads}"]) + list(args.overrides)
    return run_guarded(lambda: run(from_yaml(args.config, overrides)), "train.py")


if __name__ == "__main__":
    sys.exit(main())
