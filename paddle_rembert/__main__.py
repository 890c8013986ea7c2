import sys
import warnings

# Paddle warns on import that ccache is missing; runtime/settings.py hides it while importing Paddle
# (the package is imported before this file runs), and this covers any later import.
warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)

from .cli import main  # noqa: E402

sys.exit(main())
