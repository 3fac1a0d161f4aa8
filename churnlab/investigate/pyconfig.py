"""A gunicorn config file (Python) read with ast, never executed or imported.

The probe runs on production hosts, often as root: running someone's config
would run whatever it does (open files, connect, import the app). So the file
is parsed, and only its top-level assignments are read:

- literals (strings, numbers, lists, tuples, dicts, True/False/None) and
  f-strings of what can be read;
- names assigned before (GUNICORN_PORT = ...; bind = f"0.0.0.0:{GUNICORN_PORT}");
- os.environ["X"], os.environ.get("X", default), os.getenv("X", default)
  (environ / getenv imported from os too), resolved against the server
  process's own environment (/proc/PID/environ) when it could be read;
- int(), float(), str(), bool() of those, and + - * between them;
- NAME.get(key, default) of a dict read before (WORKERS = {"asgi": ...};
  worker_class = WORKERS.get(KIND, KIND)).

Anything else (a call, a comprehension, an if) is not evaluated: the setting is
reported as unresolved with its source text. Statements inside if/for/def are
not followed, as they would only be known by running the file.
"""
from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field


class Unresolved(Exception):
    """This expression is not read without running the file."""


@dataclass
class Config:
    settings: dict = field(default_factory=dict)    # name: value, resolved
    unresolved: dict = field(default_factory=dict)  # name: its source text
    error: str = ""                                  # the file is not Python the parser reads


CASTS = {"int": int, "float": float, "str": str, "bool": bool}
OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}
ENV_GETTERS = ("os.environ.get", "environ.get", "os.getenv", "getenv")


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


class _Reader:
    def __init__(self, names: dict, environ: dict[str, str] | None) -> None:
        self.names = names
        self.environ = environ

    def env(self, key, default, has_default: bool):
        if not isinstance(key, str):
            raise Unresolved
        if self.environ is None:  # the process's environment could not be read
            raise Unresolved
        if key in self.environ:
            return self.environ[key]
        if has_default:
            return default
        raise Unresolved  # os.environ["X"] without X fails when gunicorn reads it

    def eval(self, node: ast.AST):  # noqa: C901: one branch per form read, each a line
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self.eval(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise Unresolved
            return {self.eval(k): self.eval(v) for k, v in zip(node.keys, node.values, strict=True)}
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            raise Unresolved
        if isinstance(node, ast.JoinedStr):
            return "".join(self.eval(v) if isinstance(v, ast.Constant) else str(self.eval(v.value))
                           for v in node.values)
        if isinstance(node, ast.FormattedValue):
            return str(self.eval(node.value))
        if isinstance(node, ast.Subscript) and _dotted(node.value) in ("os.environ", "environ"):
            return self.env(self.eval(node.slice), None, False)
        if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            try:
                return OPERATORS[type(node.op)](self.eval(node.left), self.eval(node.right))
            except (TypeError, ValueError, OverflowError) as exc:
                raise Unresolved from exc
        if isinstance(node, ast.Call) and not node.keywords:
            name = _dotted(node.func)
            if name in ENV_GETTERS and 1 <= len(node.args) <= 2:
                default = self.eval(node.args[1]) if len(node.args) == 2 else None
                return self.env(self.eval(node.args[0]), default, True)
            if (isinstance(node.func, ast.Attribute) and node.func.attr == "get" and 1 <= len(node.args) <= 2
                    and isinstance(node.func.value, ast.Name)
                    and isinstance(self.names.get(node.func.value.id), dict)):  # a dict read before
                default = self.eval(node.args[1]) if len(node.args) == 2 else None
                try:
                    return self.names[node.func.value.id].get(self.eval(node.args[0]), default)
                except TypeError as exc:  # an unhashable key
                    raise Unresolved from exc
            if name in CASTS and len(node.args) == 1:
                try:
                    return CASTS[name](self.eval(node.args[0]))
                except (TypeError, ValueError) as exc:
                    raise Unresolved from exc
        raise Unresolved


def read(source: str, environ: dict[str, str] | None) -> Config:
    """The config's top-level settings; environ: the server process's environment, None if unreadable."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        return Config(error=f"not parsed: {type(exc).__name__}: {exc}")
    config = Config()
    reader = _Reader(config.settings, environ)
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        try:
            config.settings[target.id] = reader.eval(value)
            config.unresolved.pop(target.id, None)
        except (Unresolved, RecursionError):
            config.settings.pop(target.id, None)
            config.unresolved[target.id] = (ast.get_source_segment(source, value) or "?")[:200]
    return config
