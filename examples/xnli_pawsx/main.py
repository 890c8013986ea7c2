"""Fine-tune any family (``--model_type``) on XNLI / PAWS-X with the flags of PaddleNLP's RemBERT example.

    python -m paddle.distributed.launch --nproc_per_node 2 examples/xnli_pawsx/main.py \
        --task xnli --model_type rembert --model_name_or_path rembert-paddle/ --data_dir data/xnli \
        --output_dir out/ --device cpu --learning_rate 1e-5 --num_train_epochs 3 \
        --train_batch_size 16 --do_train --do_eval --eval_step 500

``--train_batch_size`` is per device. The checkpoint is selected on dev (``--select_on``), never
on test; see README.md for the protocol and the outputs.
"""
import sys
import warnings

# Paddle warns on import that ccache (for compiling custom C++ operators) is missing: not our users' concern.
warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)

from paddle_rembert.cli import run_guarded  # noqa: E402
from paddle_rembert.runtime.settings import quiet_third_party  # noqa: E402
from paddle_rembert.trainer import from_example_flags, run  # noqa: E402

if __name__ == "__main__":
    quiet_third_party()
    sys.exit(run_guarded(lambda: run(from_example_flags(sys.argv[1:])), "main.py"))
