"""PKCS#11 token backend (python-pkcs11; tested against SoftHSM2).

Modules: token (module loading, token lookup by label, the one login and the one lock), records (the per-key
metadata data object), keyspecs (KMS key specs and signing algorithms as PKCS#11 mechanisms), backend (key
management), crypto (the cryptographic operations). Profile settings: ``module`` (default
/usr/lib/softhsm/libsofthsm2.so), ``token_label`` (required), ``keyring`` (look the PIN up in the OS keyring,
default true). The PIN comes from KMSTUI_PKCS11_PIN, the OS keyring or a prompt, never from the config file.
"""

from __future__ import annotations

import importlib.util

from kmstui.errors import ConfigError, UsageError


def open_pkcs11_backend(ctx):
    """Factory used by kmstui.backends.builtin: connect (and log in) to the profile's token."""
    profile = ctx.profile
    if ctx.options.get("region"):
        raise UsageError("--region chooses a region for the aws backend; a PKCS#11 token has none")
    label = profile.get("token_label")
    if not label:
        raise ConfigError(f"profile '{profile.name}' needs token_label (the PKCS#11 token's label); add it to "
                          "the profile in config.toml")
    if importlib.util.find_spec("pkcs11") is None:
        raise ConfigError("the pkcs11 backend needs python-pkcs11: pip install 'kmstui[pkcs11]'")
    from kmstui.backends.pkcs11.backend import Pkcs11Backend
    from kmstui.backends.pkcs11.token import DEFAULT_MODULE, connect, release

    conn = connect(str(profile.get("module") or DEFAULT_MODULE), str(label),
                   use_keyring=bool(profile.get("keyring", True)), prompt=ctx.prompt_secret)
    try:
        return Pkcs11Backend(conn, profile.name)
    except Exception:
        release(conn)
        raise
