"""Read pickle files (``.pdparams``, ``.pdopt``) without running code from them.

A pickle is a program: its ``GLOBAL`` opcodes import any callable and its ``REDUCE`` opcodes call
it, so ``pickle.load`` on a downloaded ``model_state.pdparams`` runs whatever its author wrote.
What Paddle and PaddleNLP write needs only numpy arrays, dtypes and scalars, plain containers and
Paddle's ``(name, ndarray)`` tensor tuples; :class:`RestrictedUnpickler` resolves those globals
and refuses every other one, naming the file and the global, before anything is called.
"""
import pickle

from ..runtime.errors import PaddleRembertError

# (module, name) pairs a weights or optimizer-state pickle may reference. Each one only builds data.
SAFE_GLOBALS = frozenset({
    *((mod, name) for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
      for name in ("_reconstruct", "scalar")),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),  # protocol 5 arrays
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    ("builtins", "tuple"),  # paddle.save's tensor form: (tuple, ((name, ndarray),))
    ("builtins", "bytearray"),  # protocol 5 arrays: bytearray(data); only from bytes (see _bytearray)
    ("_codecs", "encode"),  # protocol 2 spells bytes as _codecs.encode(str, "latin1")
})


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`SAFE_GLOBALS` (plus ``extra``) and refuses the rest."""

    def __init__(self, file, path, extra=()):
        super().__init__(file)
        self.path, self.allowed = path, SAFE_GLOBALS | frozenset(extra)

    def find_class(self, module, name):
        if (module, name) == ("builtins", "bytearray"):
            return self._bytearray
        if (module, name) in self.allowed:
            return super().find_class(module, name)
        raise PaddleRembertError(
            f"refusing to load {self.path}: it references {module}.{name}, which weights never need "
            f"(a pickle can run code on load; only numpy arrays, scalars and plain containers are admitted)")

    def _bytearray(self, *args):
        """``bytearray`` of data, as pickled arrays use it; ``bytearray(n)`` would allocate any size a file asks."""
        if len(args) != 1 or not isinstance(args[0], (bytes, bytearray)):
            raise PaddleRembertError(f"refusing to load {self.path}: it calls bytearray with "
                                     f"{', '.join(type(a).__name__ for a in args) or 'nothing'}, not data")
        return bytearray(args[0])

    def persistent_load(self, pid):
        raise PaddleRembertError(f"refusing to load {self.path}: it uses persistent ids, which weights never need")


def safe_load(path, what="pickle file", extra=()):
    """The object stored in ``path``, read with :class:`RestrictedUnpickler`; clear errors for bad files."""
    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(f, path, extra).load()
    except FileNotFoundError:
        raise PaddleRembertError(f"{what} not found: {path}") from None
    except PaddleRembertError:
        raise
    except Exception as e:  # truncated or corrupt data raises many types (EOFError, UnpicklingError, ...)
        raise PaddleRembertError(f"cannot read {path}: it is truncated or not a {what} ({type(e).__name__}: {e})") \
            from None


def as_array(value):
    """A state-dict value as numpy: paddle.save's ``(name, ndarray)`` tuple gives its array."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return value[1]
    return value
