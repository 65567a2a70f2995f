"""Secrets kept out of everything written: values of secret-named keys, and passwords inside URLs.

A key is secret when its whole name, or one of its `_`/`-`/camelCase words, is a secret word (`token`,
`password`, `secret`, ...) or a secret pair (`api_key`, `access_key`, ...): `hf_token` and `auth_token` are secret,
`num_virtual_tokens` and `max_new_tokens` are not. A key ending in `_env` names an environment variable and is
never secret itself; its value must look like a variable's name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

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


def redact_text(text: str) -> str:
    """Passwords inside URLs and secret-named query parameters replaced by `***`."""
    text = _URL_PASSWORD.sub(lambda match: f"{match['head']}:{URL_MASK}@", text)
    return _QUERY_PARAM.sub(
        lambda match: match["head"] + (URL_MASK if is_secret_key(match["name"]) else match["value"]), text
    )


def redact(value: Any) -> Any:
    """A plain config (dicts, lists, scalars) with the values of secret-named keys replaced by `<redacted>`
    and passwords inside URL strings by `***`."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED if is_secret_key(str(key)) and item is not None else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


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
        return f"{match['head']}:${{oc.env:{variable}}}@"

    return [_URL_PASSWORD.sub(to_variable, argument) for argument in arguments]
