"""Load a function app and index its functions by trigger, like the Python worker's indexing step."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func


@dataclass(frozen=True)
class IndexedFunction:
    name: str
    trigger_type: str
    arg_name: str
    user_function: Any
    route: str = ""
    methods: tuple[str, ...] = ()
    auth_level: str = "function"


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
        trigger = function.get_trigger().get_dict_repr()
        methods = tuple(str(getattr(m, "value", m)).upper() for m in trigger.get("methods") or ())
        auth = trigger.get("authLevel")
        indexed[function.get_function_name()] = IndexedFunction(
            name=function.get_function_name(),
            trigger_type=trigger["type"],
            arg_name=trigger["name"],
            user_function=function.get_user_function(),
            route=trigger.get("route") or function.get_function_name(),
            methods=methods,
            auth_level=str(getattr(auth, "value", auth or "function")).lower(),
        )
    return indexed
