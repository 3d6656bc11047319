"""Load a function app and index its functions by trigger, like the Python worker's indexing step."""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func

#: trigger kinds the stand-in can fire, and the output binding types it can write
TRIGGERS = ("eventGridTrigger", "httpTrigger", "blobTrigger", "queueTrigger", "timerTrigger")
OUTPUTS = ("http", "eventGrid", "blob", "queue")


class IndexingError(RuntimeError):
    """The app uses something this stand-in cannot run (fails loudly at start-up, as the host does)."""


@dataclass(frozen=True)
class IndexedFunction:
    name: str
    trigger_type: str
    arg_name: str
    user_function: Any
    route: str = ""
    methods: tuple[str, ...] = ()
    auth_level: str = "function"
    #: the trigger binding as the worker sends it to the host (``get_raw_bindings()``)
    trigger: dict[str, Any] = field(default_factory=dict)
    #: output bindings (``direction == OUT``), ``$return`` included
    outputs: tuple[dict[str, Any], ...] = ()
    #: the function declares a ``context`` parameter (gets a ``func.Context``)
    wants_context: bool = False


def load_functions(app_dir: Path) -> dict[str, IndexedFunction]:
    """Import ``<app_dir>/function_app.py`` and index every function (``get_functions()`` runs once)."""
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    spec = importlib.util.spec_from_file_location("function_app", app_dir / "function_app.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"no function_app.py in {app_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = module
    spec.loader.exec_module(module)
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionApp)]
    if len(apps) != 1:
        raise RuntimeError(f"function_app.py must define exactly one FunctionApp, found {len(apps)}")
    indexed: dict[str, IndexedFunction] = {}
    for function in apps[0].get_functions():
        name = function.get_function_name()
        bindings = [json.loads(raw) for raw in function.get_raw_bindings()]
        trigger = next(b for b in bindings if b["type"].endswith("Trigger"))
        if trigger["type"] not in TRIGGERS:
            raise IndexingError(f"function '{name}': trigger type '{trigger['type']}' is not supported here")
        outputs = []
        for binding in bindings:
            if binding is trigger:
                continue
            if str(binding.get("direction", "")).upper() != "OUT" or binding["type"] not in OUTPUTS:
                raise IndexingError(
                    f"function '{name}': binding '{binding.get('name')}' of type '{binding['type']}' "
                    f"({binding.get('direction')}) is not supported here"
                )
            outputs.append(binding)
        user_function = function.get_user_function()
        methods = tuple(str(getattr(m, "value", m)).upper() for m in trigger.get("methods") or ())
        auth = trigger.get("authLevel")
        indexed[name] = IndexedFunction(
            name=name,
            trigger_type=trigger["type"],
            arg_name=trigger["name"],
            user_function=user_function,
            route=trigger.get("route") or name,
            methods=methods,
            auth_level=str(getattr(auth, "value", auth or "function")).lower(),
            trigger=trigger,
            outputs=tuple(outputs),
            wants_context="context" in inspect.signature(user_function).parameters,
        )
    return indexed
