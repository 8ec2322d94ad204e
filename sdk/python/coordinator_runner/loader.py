"""Finds the participant's model class: the single subclass of the base class.

Errors are LoadError with a protocol status code: BAD_IMPLEMENTATION for the
participant's code (a file that does not import, no subclass, several
subclasses), SETUP_FAILED for everything else (the base class cannot be
found, the constructor raised).
"""

import importlib
import inspect
import os
import sys
import traceback

BAD_IMPLEMENTATION = "BAD_IMPLEMENTATION"
SETUP_FAILED = "SETUP_FAILED"
INVALID_ARGUMENT = "INVALID_ARGUMENT"

TRACEBACK_LINES = 8


class LoadError(Exception):
    """A failed Setup: code is the commons.Status code, str(self) the message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def traceback_tail(exc, lines=TRACEBACK_LINES):
    """The last lines of exc's formatted traceback (file, line, error)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith("<frozen") and "coordinator_runner" not in f.filename]
    text = "".join(traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc))
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def _model_modules(code_dir, skip):
    """Module names of the .py files and packages directly in code_dir, sorted.

    Test files (test_*.py, *_test.py), private files (_*.py) and the base
    class's own module name are skipped.
    """
    names = []
    for entry in sorted(os.listdir(code_dir)):
        path = os.path.join(code_dir, entry)
        if entry.endswith(".py") and os.path.isfile(path):
            name = entry[:-3]
        elif os.path.isfile(os.path.join(path, "__init__.py")):
            name = entry
        else:
            continue
        if name.startswith("_") or name.startswith("test_") or name.endswith("_test") or name in skip:
            continue
        if not name.isidentifier():
            continue
        names.append(name)
    return names


def load_class(code_dir, class_name, extra_paths=()):
    """Import the model code in code_dir and return its model class.

    class_name is "module.ClassName" of the base class (the challenge's
    MODEL_BASE_CLASSNAME). extra_paths (e.g. the challenge's Python
    directory holding the base module) go on sys.path before code_dir.
    """
    if not class_name:
        raise LoadError(INVALID_ARGUMENT, "className is empty (expected module.ClassName of the base class)")
    if "." not in class_name:
        raise LoadError(SETUP_FAILED, "className %r has no module (expected module.ClassName, e.g. tracker.TrackerBase)" % class_name)
    code_dir = os.path.abspath(code_dir)
    if not os.path.isdir(code_dir):
        raise LoadError(BAD_IMPLEMENTATION, "model directory %s does not exist" % code_dir)
    for p in reversed([os.path.abspath(p) for p in extra_paths] + [code_dir]):
        if p not in sys.path:
            sys.path.insert(0, p)
    # The challenge's directories come first so a participant's copy of the
    # base module cannot replace the real one.
    for p in [os.path.abspath(p) for p in extra_paths]:
        sys.path.remove(p)
        sys.path.insert(0, p)

    base_module, _, base_name = class_name.rpartition(".")
    try:
        mod = importlib.import_module(base_module)
    except Exception as exc:  # noqa: BLE001 - reported to the host
        raise LoadError(SETUP_FAILED, "base class module %r cannot be imported (searched %s): %s"
                        % (base_module, ", ".join(list(extra_paths) or ["the model directory"]), traceback_tail(exc, 3)))
    base = getattr(mod, base_name, None)
    if not inspect.isclass(base):
        raise LoadError(SETUP_FAILED, "base class %s not found in module %s (%s)"
                        % (base_name, base_module, getattr(mod, "__file__", "?")))

    names = _model_modules(code_dir, skip={base_module.split(".")[0]})
    if not names:
        raise LoadError(BAD_IMPLEMENTATION, "no Python file in %s (expected a .py file defining a subclass of %s)"
                        % (code_dir, class_name))
    found = []
    for name in names:
        try:
            m = importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - SystemExit in a model file too
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise LoadError(BAD_IMPLEMENTATION, "importing %s failed:\n%s"
                            % (os.path.join(code_dir, name + ("" if os.path.isdir(os.path.join(code_dir, name)) else ".py")),
                               traceback_tail(exc)))
        for obj in list(vars(m).values()):
            if (inspect.isclass(obj) and obj is not base and issubclass(obj, base)
                    and obj.__module__ == m.__name__ and obj not in found):
                found.append(obj)
    # An intermediate class that another found class extends is not a candidate.
    leaves = [c for c in found if not any(o is not c and issubclass(o, c) for o in found)]
    if not leaves:
        raise LoadError(BAD_IMPLEMENTATION, "no subclass of %s found in %s (files: %s); define exactly one class extending %s"
                        % (class_name, code_dir, ", ".join(n + ".py" for n in names), base_name))
    if len(leaves) > 1:
        raise LoadError(BAD_IMPLEMENTATION, "several subclasses of %s found in %s: %s; keep exactly one"
                        % (class_name, code_dir, ", ".join("%s (%s)" % (c.__qualname__, _file_of(c)) for c in leaves)))
    return leaves[0]


def _file_of(cls):
    mod = sys.modules.get(cls.__module__)
    return os.path.basename(getattr(mod, "__file__", "") or cls.__module__)


def instantiate(cls):
    """Instantiate cls with no arguments; a raising constructor is SETUP_FAILED."""
    try:
        return cls()
    except Exception as exc:  # noqa: BLE001 - reported to the host
        raise LoadError(SETUP_FAILED, "%s() raised (in %s):\n%s" % (cls.__qualname__, _file_of(cls), traceback_tail(exc)))
