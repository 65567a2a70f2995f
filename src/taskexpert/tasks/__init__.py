"""Tasks: what taskexpert learns, as configuration (conf/task/<name>.yaml).

`build_task(cfg.task)` gives the Task object the rest of the code asks for field names, labels, prompt
templates and the kind's functions (`tasks.kinds`); `tasks.readers` reads each dataset's original files.
"""

from taskexpert.tasks.kinds import KINDS, Kind, register_kind
from taskexpert.tasks.task import GenerateSettings, PromptTemplates, Task, build_task, load_task

__all__ = [
    "KINDS",
    "GenerateSettings",
    "Kind",
    "PromptTemplates",
    "Task",
    "build_task",
    "load_task",
    "register_kind",
]
