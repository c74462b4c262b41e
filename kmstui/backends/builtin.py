"""Registers the three built-in backend kinds. Each factory imports its module only when used, so a
command on the local HSM never pays for boto3 or python-pkcs11."""

from __future__ import annotations

from kmstui.hookspecs import hookimpl


def _local(ctx):
    from kmstui.backends.local.backend import open_local_backend

    return open_local_backend(ctx)


def _pkcs11(ctx):
    from kmstui.backends.pkcs11 import open_pkcs11_backend

    return open_pkcs11_backend(ctx)


def _aws(ctx):
    from kmstui.backends.aws import open_aws_backend

    return open_aws_backend(ctx)


@hookimpl
def register_backends(register):
    register("local", _local, "sealed-key HSM file on this machine (the default)")
    register("pkcs11", _pkcs11, "PKCS#11 token (e.g. SoftHSM2, a hardware HSM)")
    register("aws", _aws, "AWS KMS through boto3")
