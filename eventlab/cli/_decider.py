"""A decider named on the command line: ``package.module:name``.

``name`` is a :class:`~eventlab.write.decider.Decider`, or a function that returns one (called
with the ``--option KEY=VALUE`` pairs as keyword arguments; values are read as JSON when they
parse, else as text: ``overdraft_limit=0`` is the number 0). The module is imported as Python
imports it, with the current folder searched last, so ``mydomain:decider`` finds
``./mydomain.py``. Importing a module runs its code: name only modules you trust.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from eventlab.errors import InvalidArgumentError, ValidationError

_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")


def options(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``["overdraft_limit=0", "label=x"]`` -> ``{"overdraft_limit": 0, "label": "x"}``."""
    values: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        if not sep or not key.isidentifier():
            raise InvalidArgumentError(
                "--option", pair, "it must be KEY=VALUE with KEY a Python name",
                "e.g. --option overdraft_limit=0",
            )
        try:
            values[key] = json.loads(text)
        except ValueError:
            values[key] = text
    return values


def _module(name: str, flag: str) -> Any:
    here = os.getcwd()
    if here not in sys.path:
        sys.path.append(here)  # last: a local file never shadows an installed module
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise InvalidArgumentError(
            flag, name, f"no module {exc.name!r} can be imported",
            "install it, or run from the folder that holds it (mydomain.py -> mydomain:decider)",
        ) from None
    except Exception as exc:  # its own code failed: say so in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValidationError(f"importing {name} failed: {type(exc).__name__}: {first}") from None


def load_decider(path: str, settings: Mapping[str, Any], flag: str = "DECIDER") -> Any:
    """The Decider ``path`` names (see the module docstring)."""
    from eventlab.write.decider import Decider

    if not _PATH.fullmatch(path):
        raise InvalidArgumentError(
            flag, path, "it must be package.module:name",
            "e.g. eventlab.examples.bank_domain:bank_decider",
        )
    module_name, _, attr = path.partition(":")
    module = _module(module_name, flag)
    if not hasattr(module, attr):
        names = sorted(n for n, v in vars(module).items() if isinstance(v, Decider) or (
            callable(v) and not isinstance(v, type) and "decider" in n.lower()))
        raise InvalidArgumentError(flag, path, f"{module_name} has no {attr!r}; deciders there: "
                                   f"{names or 'none found'}")
    value = getattr(module, attr)
    if callable(value) and not isinstance(value, Decider):
        try:
            value = value(**settings)
        except TypeError as exc:
            raise InvalidArgumentError("--option", dict(settings), f"{path} refused them: {exc}",
                                       ) from None
    elif settings:
        raise InvalidArgumentError("--option", dict(settings),
                                   f"{path} is a decider, not a function taking options")
    if not isinstance(value, Decider):
        raise InvalidArgumentError(flag, path, f"it is a {type(value).__name__}, not a Decider "
                                   "(or a function returning one)")
    return value


def as_commands(pairs: Sequence[str] | None, module_path: str) -> dict[str, str] | None:
    """``--as-command Deposited=Deposit`` pairs, else the decider module's AS_COMMANDS."""
    if pairs:
        mapping = {}
        for pair in pairs:
            event, sep, command = pair.partition("=")
            if not sep or not event or not command:
                raise InvalidArgumentError(
                    "--as-command", pair, "it must be EVENT_TYPE=COMMAND_TYPE",
                    "e.g. --as-command Deposited=Deposit",
                )
            mapping[event] = command
        return mapping
    module = sys.modules.get(module_path.partition(":")[0])
    found = getattr(module, "AS_COMMANDS", None)
    return dict(found) if isinstance(found, Mapping) else None
