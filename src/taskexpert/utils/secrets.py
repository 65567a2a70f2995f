"""Secrets kept out of everything written: values of secret-named keys, and passwords inside URLs.

A key is secret when its whole name, or one of its `_`/`-`/camelCase words, is a secret word (`token`,
`password`, `secret`, ...) or a secret pair (`api_key`, `access_key`, ...): `hf_token` and `auth_token` are secret,
`num_virtual_tokens` and `max_new_tokens` are not. A key ending in `_env` names an environment variable and is
never secret itself; its value must look like a variable's name.

Three layers keep secrets out of what is written:
- before Hydra sees the command line, secret values leave it (`move_secrets_to_environment`): Hydra's
  `.hydra/*.yaml`, the logs and W&B's copy of the command line hold `${oc.env:VARIABLE}` references instead;
- every secret a run knows (those values, URL passwords, the values of variables named by secret `*_env` keys)
  is remembered in this process (`remember_secret`, `remember_run_secrets`), and `redact_text` replaces any of
  them wherever they turn up, e.g. in a server's error body that echoes them;
- patterns catch what no one told us: passwords inside URLs, secret-named query parameters, and
  `Bearer`/`Basic` credentials.
Writers pass what they write through `redact` (configs), `scrub` (stats, metrics, splits, predictions) or the
`RedactingFilter` (logs); the teacher cache uses `mask_patterns` alone, so its keys do not depend on the process.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import unquote, urlsplit

REDACTED = "<redacted>"  # replaces the value of a secret-named key
URL_MASK = "***"  # replaces a password inside a URL (SQLAlchemy's own mask)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # what an environment variable's name looks like

_SECRET_WORDS = frozenset(
    {"token", "password", "passwd", "passphrase", "secret", "credential", "credentials", "apikey"}
)
_SECRET_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key")})
# scheme://user:password@ ; the user part may be empty (redis://:password@host)
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*):(?P<password>[^\s@'\"]+)@")
_QUERY_PARAM = re.compile(r"(?P<head>[?&](?P<name>[A-Za-z0-9_.\-]+)=)(?P<value>[^&#\s'\"]*)")
# `Bearer sk-...` / `Basic dXNl...`: a credential holds a digit, a symbol or a capital after a small letter, so
# English ("Basic ideas", "Bearer Bonds") is spared
_CREDENTIAL = re.compile(
    r"\b(?P<scheme>[Bb]earer|[Bb]asic)\s+"
    r"(?=[A-Za-z0-9._~+/=\-]*(?:[0-9._~+/=\-]|[a-z][A-Z]))[A-Za-z0-9._~+/=\-]{8,}"
)
SECRET_VARIABLE_PREFIXES = ("TASKEXPERT_URL_PASSWORD_", "TASKEXPERT_SECRET_")  # where moved secrets live
MIN_REMEMBERED_LENGTH = 4  # shorter values would mask ordinary text; the patterns still catch them in URLs

_remembered: set[str] = set()
_remembered_lock = threading.Lock()


def key_words(key: str) -> list[str]:
    """`hfToken` -> [hf, token]; `max_new_tokens` -> [max, new, tokens]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(key))
    return [word for word in re.split(r"[_\-.\s]+", spaced.lower()) if word]


def is_secret_key(key: str) -> bool:
    words = key_words(key)
    if not words or words[-1] == "env":  # `api_key_env` names a variable; it does not hold the secret
        return False
    return any(word in _SECRET_WORDS for word in words) or any(
        pair in _SECRET_PAIRS for pair in zip(words, words[1:], strict=False)
    )


def remember_secret(value: Any) -> None:
    """From now on `redact_text` replaces `value` (and its URL-decoded form) wherever it appears."""
    if not isinstance(value, str):
        return
    with _remembered_lock:
        for form in {value, unquote(value)}:
            if len(form) >= MIN_REMEMBERED_LENGTH:
                _remembered.add(form)


def forget_secrets() -> None:
    """Forget every remembered secret (for tests)."""
    with _remembered_lock:
        _remembered.clear()


def remember_run_secrets(config: Any, environ: Mapping[str, str] = os.environ) -> None:
    """Remember the secrets a run can reach: the values of variables where the command line's secrets were
    moved, and in the plain resolved `config` the values of secret-named keys, URL passwords, and the values of
    the variables that secret `*_env` keys name (`teacher.api_key_env: OPENAI_API_KEY`)."""
    for name, value in environ.items():
        if name.startswith(SECRET_VARIABLE_PREFIXES):
            remember_secret(value)
    _remember_in(config, environ)


def _remember_in(value: Any, environ: Mapping[str, str], key: str = "") -> None:
    if isinstance(value, Mapping):
        for name, item in value.items():
            _remember_in(item, environ, str(name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            _remember_in(item, environ, key)
    elif isinstance(value, str):
        if is_secret_key(key):
            remember_secret(value)
        elif key.endswith("_env") and is_secret_key(key.removesuffix("_env")) and ENV_NAME.fullmatch(value):
            remember_secret(environ.get(value))
        for match in _URL_PASSWORD.finditer(value):
            remember_secret(match["password"])


def url_password(url: str) -> str | None:
    """The password inside a URL, if it holds one."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def mask_patterns(text: str) -> str:
    """Passwords inside URLs, secret-named query parameters and `Bearer`/`Basic` credentials replaced by `***`.
    Depends on the text alone (not on what this process remembers), so it may shape cache keys."""
    text = _URL_PASSWORD.sub(lambda match: f"{match['head']}:{URL_MASK}@", text)
    text = _QUERY_PARAM.sub(
        lambda match: match["head"] + (URL_MASK if is_secret_key(match["name"]) else match["value"]), text
    )
    return _CREDENTIAL.sub(lambda match: f"{match['scheme']} {URL_MASK}", text)


def redact_text(text: str, patterns: bool = True) -> str:
    """Every remembered secret replaced by `***`, then `mask_patterns` (unless `patterns` is false)."""
    with _remembered_lock:
        remembered = sorted(_remembered, key=len, reverse=True)  # a longer secret before one inside it
    for secret in remembered:
        if secret in text:
            text = text.replace(secret, URL_MASK)
    return mask_patterns(text) if patterns else text


def redact(value: Any, remembered: bool = True) -> Any:
    """A plain config (dicts, lists, scalars) with the values of secret-named keys replaced by `<redacted>`
    and secrets inside strings by `***` (`redact_text`; only `mask_patterns` when `remembered` is false)."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED if is_secret_key(str(key)) and item is not None else redact(item, remembered)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(item, remembered) for item in value]
    if isinstance(value, str):
        return redact_text(value) if remembered else mask_patterns(value)
    return value


def scrub(value: Any, patterns: bool = True) -> Any:
    """Data (stats, metrics, splits, predictions) with secrets inside its strings replaced by `***` (`redact_text`);
    keys are kept, since data keys name measures, not settings. `patterns=False` replaces remembered secrets
    only, for texts (a model's predictions) that may hold URLs or tokens legitimately."""
    if isinstance(value, Mapping):
        return {key: scrub(item, patterns) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(item, patterns) for item in value]
    if isinstance(value, str):
        return redact_text(value, patterns)
    return value


class RedactingFilter(logging.Filter):
    """A log handler's filter: the message (arguments and traceback included) passes through `redact_text`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact_text(record.getMessage()), None
        if record.exc_info:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def env_override_problem(argument: str) -> str | None:
    """For a command-line override `a.b_env=VALUE` whose value is not a variable's name: the one-line reason
    (without the value, which is most likely the secret itself). None when the override is fine."""
    key, equals, value = argument.partition("=")
    if not equals or argument.startswith("-"):
        return None
    name = key.lstrip("~+").split("@", 1)[0]
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    if not name.endswith("_env") or value in ("", "null") or ENV_NAME.fullmatch(value):
        return None
    return (
        f"{name} must be the NAME of an environment variable (e.g. OPENAI_API_KEY), not a value: export the "
        f"value in a variable and pass {name}=THAT_VARIABLE (nothing was written)"
    )


def move_url_passwords_to_environment(
    arguments: list[str], environ: MutableMapping[str, str], prefix: str = "TASKEXPERT_URL_PASSWORD"
) -> list[str]:
    """Each password inside a URL of an override moves into a variable of `environ`; the override keeps
    `${oc.env:VARIABLE}` in its place, so Hydra's files and logs hold the reference, never the password."""
    count = 0

    def to_variable(match: re.Match[str]) -> str:
        nonlocal count
        if match["password"].startswith("${"):  # already a reference
            return match[0]
        count += 1
        variable = f"{prefix}_{count}"
        environ[variable] = match["password"]
        remember_secret(match["password"])
        return f"{match['head']}:${{oc.env:{variable}}}@"

    return [_URL_PASSWORD.sub(to_variable, argument) for argument in arguments]


def move_secrets_to_environment(
    arguments: list[str], environ: MutableMapping[str, str], prefix: str = "TASKEXPERT_SECRET"
) -> list[str]:
    """The value of each secret-named override (`+teacher.api_key=VALUE`) moves into a variable of `environ`;
    the override keeps `${oc.env:VARIABLE}`, so Hydra's `.hydra/*.yaml` and logs never hold the value. So do
    secret-named overrides inside a list of overrides (`'augment.overrides=["+teacher.api_key=VALUE"]'`)."""
    count = [0]
    return [_moved_argument(argument, environ, prefix, count) for argument in arguments]


def _moved_argument(argument: str, environ: MutableMapping[str, str], prefix: str, count: list[int]) -> str:
    key, equals, value = argument.partition("=")
    name = key.lstrip("~+").split("@", 1)[0]
    unquoted = value.strip()
    if len(unquoted) >= 2 and unquoted[0] == unquoted[-1] and unquoted[0] in "'\"":
        unquoted = unquoted[1:-1]
    if not equals or argument.startswith("-") or unquoted in ("", "null") or unquoted.startswith("${"):
        return argument
    if is_secret_key(name.rpartition(".")[2]):
        count[0] += 1
        variable = f"{prefix}_{count[0]}"
        environ[variable] = unquoted
        remember_secret(unquoted)
        return f"{key}=${{oc.env:{variable}}}"
    if unquoted.startswith("[") and "=" in unquoted:
        return _moved_list_argument(argument, key, environ, prefix, count)
    return argument


def _moved_list_argument(
    argument: str, key: str, environ: MutableMapping[str, str], prefix: str, count: list[int]
) -> str:
    """A list of overrides as one override's value: its secret-named items move like top-level ones."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        items = OverridesParser.create().parse_override(argument).value()
    except Exception:  # not an override Hydra reads: Hydra says so itself, with its own message
        return argument
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        return argument
    moved = [_moved_argument(item, environ, prefix, count) for item in items]
    if moved == items or any("\\" in item for item in moved):
        return argument
    quoted = ",".join('"' + item.replace('"', '\\"') + '"' for item in moved)
    return f"{key}=[{quoted}]"
