"""The write side: commands, deciders, command handling, process managers, what-if replay.

.. code-block:: python

    from eventlab.write import CommandType, Decider, Emit, Field, Handler, handle, reject_if

See :mod:`eventlab.write.commands` (typed commands and validation), :mod:`~.decider`,
:mod:`~.handling` (``handle``, ``handle_many``), :mod:`~.engine` and :mod:`~.speculative`
(vectorized decisions), :mod:`~.journal` (first outcomes), :mod:`~.process` (sagas) and
:mod:`~.whatif` (back-testing a changed decider on recorded history).
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
from eventlab.write.journal import JournalCompaction, compact_journal
from eventlab.write.process import Compensate, Issue, On, ProcessManager, ProcessRun
from eventlab.write.whatif import WhatIf, events_as_commands, what_if

__all__ = [
    "Command",
    "CommandRejected",
    "CommandType",
    "Compensate",
    "Decider",
    "Emit",
    "Field",
    "HandleResult",
    "Handler",
    "Issue",
    "JournalCompaction",
    "On",
    "Outcome",
    "ProcessManager",
    "ProcessRun",
    "RejectIf",
    "Rejected",
    "Rule",
    "WhatIf",
    "commands_frame",
    "compact_journal",
    "events_as_commands",
    "handle",
    "handle_many",
    "load_state",
    "reject_if",
    "validate",
    "what_if",
]
