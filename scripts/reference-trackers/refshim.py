"""Import shims that let the reference trackers' unchanged code load under numpy 2 without torch,
OpenCV or matplotlib, none of which their tracking code uses.

Every stand-in module is empty (matplotlib.use excepted): if the tracking code ever reached for one
of them it would fail with an AttributeError rather than run differently. A real module, where one
is installed, is always used instead.
"""
import importlib
import sys
import types

import numpy as np


def unused_modules(*names):
    """Empty modules for names a tracker imports but never uses on the path the drivers run."""
    for name in names:
        try:
            importlib.import_module(name)
            continue
        except ImportError:
            pass
        module = types.ModuleType(name)
        module.__refshim__ = True
        sys.modules[name] = module
        parent, _, child = name.rpartition('.')
        if parent:
            setattr(sys.modules[parent], child, module)
    if 'matplotlib' in sys.modules and getattr(sys.modules['matplotlib'], '__refshim__', False):
        # sort.py picks a display backend at import time; it draws only with --display.
        sys.modules['matplotlib'].use = lambda *args, **kwargs: None


def numpy_float_alias():
    """np.float was an alias of float until numpy 1.24 removed it; ByteTrack still writes it."""
    if 'float' not in np.__dict__:
        np.float = float


def package_without_init(name, path):
    """Import name.* from path without running name/__init__.py (ByteTrack's yolox/__init__.py
    only sets up training: file-descriptor limits and OpenCV threads, through torch)."""
    module = types.ModuleType(name)
    module.__path__ = [path]
    sys.modules[name] = module
