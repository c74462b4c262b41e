"""KMS's rules for alias names, shared by every backend that keeps aliases and by the commands that check a
name before doing anything else, so a bad name is refused with the same error and message everywhere.

The errors follow AWS KMS (CreateAlias, UpdateAlias and DeleteAlias): a name without the `alias/` prefix,
with a character outside `^[a-zA-Z0-9:/_-]+$`, longer than 256 characters or containing `:` is a
ValidationException with the message the service sends; the reserved `alias/aws/` prefix and an empty name
after `alias/` are InvalidAliasNameException ("The request was rejected because the specified alias name
is not valid."). The target of an alias must be a key, never another alias (ValidationException).
"""

from __future__ import annotations

import re
from typing import Any

from kmstui.errors import InvalidAliasNameException, ValidationException
from kmstui.visible import visible

PREFIX = "alias/"
RESERVED_PREFIX = "alias/aws/"
MAX_LENGTH = 256
PATTERN = "^[a-zA-Z0-9:/_-]+$"  # AliasNameType's pattern in the KMS API model


def check_alias_name(name: Any, note: str = "") -> str:
    """`name` when KMS accepts it as an alias name; otherwise the error KMS gives (`note` is appended to the
    message, e.g. to say what was therefore left undone)."""
    if not isinstance(name, str) or not name:
        raise ValidationException(f"AliasName is required: give alias/NAME{note}")
    if len(name) > MAX_LENGTH:
        raise ValidationException(f"1 validation error detected: Value '{visible(name[:60])}...' at 'aliasName' failed "
                                  f"to satisfy constraint: Member must have length less than or equal to "
                                  f"{MAX_LENGTH}{note}")
    if not re.match(PATTERN, name):  # compiled by `re` when first used (start-up)
        raise ValidationException(f"1 validation error detected: Value '{visible(name)}' at 'aliasName' failed to "
                                  f"satisfy constraint: Member must satisfy regular expression pattern: "
                                  f"{PATTERN}{note}")
    if not name.startswith(PREFIX):
        raise ValidationException('Alias must start with the prefix "alias/". Please see '
                                  f"https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html{note}")
    if ":" in name:
        raise ValidationException(f"{name} contains invalid characters for an alias{note}")
    if name == PREFIX:
        raise InvalidAliasNameException(f"alias name '{name}' has no name after the alias/ prefix{note}")
    if name.startswith(RESERVED_PREFIX):
        raise InvalidAliasNameException(f"alias name '{name}' uses the prefix alias/aws/, reserved for AWS managed "
                                        f"keys; choose another name{note}")
    return name


def is_alias_ref(ref: Any) -> bool:
    """An alias name or alias ARN (which an alias may not target)."""
    return isinstance(ref, str) and (ref.startswith(PREFIX) or (ref.startswith("arn:") and ":alias/" in ref))


def check_alias_target(ref: Any) -> None:
    """An alias must point at a key (id or ARN), never at another alias: ValidationException, as KMS says."""
    if is_alias_ref(ref):
        raise ValidationException("Aliases must refer to keys. Not aliases")
