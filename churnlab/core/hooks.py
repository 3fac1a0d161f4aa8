"""Events a feature listens to, so the lab's own commands never name it
(locust's event.py is the model). A listener is added with
`hooks.<event>.add_listener(fn)`; the command that owns the event fires it.
Training mode is the listener today (churnlab.training.hooks); the core and
the commands only fire.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


class EventHook:
    """Listeners called in the order they were added; fire() returns what each returned."""

    def __init__(self, about: str) -> None:
        self.about = about
        self._listeners: list[Callable[..., Any]] = []

    def add_listener(self, listener: Callable[..., Any]) -> Callable[..., Any]:
        if listener not in self._listeners:
            self._listeners.append(listener)
        return listener

    def remove_listener(self, listener: Callable[..., Any]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def fire(self, **kwargs: Any) -> list[Any]:
        return [listener(**kwargs) for listener in list(self._listeners)]

    def taken(self, **kwargs: Any) -> bool:
        """Fire; True when a listener answered True (it did the work itself)."""
        return any(answer is True for answer in self.fire(**kwargs))


command_starting = EventHook("before any command runs: a listener may point the lab at other settings")
stack_env = EventHook("env=<dict>: the environment `docker compose` gets; a listener may add to it")
load_defaults = EventHook("returns {VARIABLE: value} for the load's variables the caller left empty")
lab_up = EventHook("`lab-up` asked: returns True when a listener brought up its own stack instead")
load_finished = EventHook("stack=, result=: returns True when a listener showed the summary itself")
diagnose_starting = EventHook("before `diagnose`: a listener may refuse it (LabError)")
