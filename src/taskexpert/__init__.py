"""taskexpert: train small task-expert models on teacher-refined data, and sweep what matters."""

from taskexpert.config_resolvers import register as _register_resolvers

_register_resolvers()
