"""Teachers: one interface over local transformers, OpenAI-compatible servers and vLLM, every call cached.

Augmentation code talks to `Teacher.generate(requests) -> responses` only; the backend behind it and the
SQLite cache in front of it are configuration.
"""

from taskexpert.teachers.cache import ResponseCache
from taskexpert.teachers.factory import build_teacher
from taskexpert.teachers.sampling import Sampling
from taskexpert.teachers.teacher import Teacher, TeacherStats
from taskexpert.teachers.types import TeacherRequest, TeacherResponse

__all__ = [
    "ResponseCache",
    "Sampling",
    "Teacher",
    "TeacherRequest",
    "TeacherResponse",
    "TeacherStats",
    "build_teacher",
]
