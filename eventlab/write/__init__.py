"""The write side: commands, deciders, command handling, process managers, what-if replay.

.. code-block:: python

    from eventlab.write import CommandType, Decider, Emit, Field, Handler, handle, reject_if
"""

from eventlab.write.commands import Command, CommandType, Field, Rule, commands_frame, validate
from eventlab.write.decider import Decider, Emit, Handler, Rejected, RejectIf, reject_if
from eventlab.write.handling import (
    CommandRejected,
    HandleResult,
    Outcome,
    handle,
    handle_many,
    load_state,
)

__all__ = [
    "Command",
    "CommandRejected",
    "CommandType",
    "Decider",
    "Emit",
    "Field",
    "HandleResult",
    "Handler",
    "Outcome",
    "RejectIf",
    "Rejected",
    "Rule",
    "commands_frame",
    "handle",
    "handle_many",
    "load_state",
    "reject_if",
    "validate",
]
