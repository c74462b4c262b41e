"""Start-up cost of the local backend: every kmstui command on the local HSM imports the backend and its
authorization engine, so what only some operations use is imported by those operations (issue 13). These
tests pin what an ordinary call (GenerateDataKey, Decrypt: the envelope path) must not load."""

import subprocess
import sys

# Modules only some operations need, and who needs them.
ONLY_SOME_OPERATIONS = {
    "subprocess": "starting the unseal agent (hsm unseal)",
    "uuid": "new key and HSM file ids (key create, hsm init); it loads platform",
    "getpass": "HSM-level audit events",
    "secrets": "new access keys, organization and account ids (it loads random)",
    "socket": "the agent process (its clients use _socket)",
    "kmstui.authz.lint": "KMS's lockout safety check (CreateKey, PutKeyPolicy with a policy)",
    "kmstui.authz.org": "an organization, permissions boundary or session policy",
    "kmstui.authz.layers": "an organization, permissions boundary or session policy",
    "cryptography.hazmat.primitives.asymmetric.rsa": "RSA keys and import wrapping keys",
    "cryptography.hazmat.primitives.asymmetric.ec": "ECC keys",
    "cryptography.hazmat.primitives.serialization": "asymmetric keys",
    "cryptography.hazmat.primitives.keywrap": "ImportKeyMaterial",
    "cryptography.hazmat.primitives.kdf.scrypt": "unsealing with a passphrase",
}


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True, timeout=60)
    return set(out.stdout.split())


def test_opening_the_local_backend_loads_only_what_every_call_needs():
    loaded = _loaded_after("import kmstui.backends.local.backend, kmstui.authz.local")
    assert "kmstui.authz.engine" in loaded  # every call is authorized
    unexpected = {name: why for name, why in ONLY_SOME_OPERATIONS.items() if name in loaded}
    assert not unexpected, f"imported at start-up though only these use them: {unexpected}"


def test_the_authz_package_api_still_resolves_every_name():
    loaded = _loaded_after("import kmstui.authz.model")
    assert "kmstui.authz.engine" not in loaded and "kmstui.authz.lint" not in loaded
    import kmstui.authz as authz

    for name in authz.__all__:
        assert callable(getattr(authz, name)) or name == "GRANT_OPERATIONS", name
