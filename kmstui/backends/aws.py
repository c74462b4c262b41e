"""AWS KMS through botocore: every interface operation is forwarded unchanged (the interface already uses
boto3's names and KMS's parameter names), so this module only adds what a thin forwarder lacks: lazy
client creation, paginated listings followed to the end, retries with backoff, and AWS errors turned into
kmstui's KMS-named exceptions with AWS's own message kept.

botocore is imported on first use (not when kmstui starts, nor when another backend is active), and the
low-level botocore session is used instead of boto3's resource layer, which kmstui does not need.

Region, as the aws CLI v2 resolves it: ``--region``, then ``AWS_REGION``, then ``AWS_DEFAULT_REGION``, then the
kmstui profile's ``region``, then the region of its ``aws_profile`` in the AWS config file (``resolve_region``).

Settings (profile keys; the AWS SDK's own environment variables and config files fill in the rest):
``aws_profile``, ``region``, ``endpoint_url`` (``KMSTUI_AWS_ENDPOINT_URL`` overrides it; without either,
the SDK honours ``AWS_ENDPOINT_URL_KMS``/``AWS_ENDPOINT_URL``), ``retry_mode`` (standard|adaptive,
default standard), ``max_attempts`` (default 5), ``connect_timeout``/``read_timeout`` in seconds.
"""

from __future__ import annotations

import os
from typing import Any

from kmstui.backends.base import (
    ALIASES, ASYMMETRIC, GRANTS, HMAC, IMPORT, KEY_POLICIES, KEY_STATE, OPERATION_CAPABILITY, OPERATIONS,
    ROTATION, SCHEDULED_DELETION, TAGS, Backend, BackendInfo,
)
from kmstui.errors import KMS_EXCEPTIONS, ConfigError, DependencyTimeoutException, KMSError, UsageError, kms_error

# The list field each paginated operation returns; pages are merged into one response.
PAGINATED = {
    "list_keys": "Keys", "list_aliases": "Aliases", "list_grants": "Grants",
    "list_retirable_grants": "Grants", "list_resource_tags": "Tags", "list_key_policies": "PolicyNames",
    "list_key_rotations": "Rotations",
}

# AWS error codes that mean "your credentials are wrong", not "KMS refused this request".
CREDENTIAL_CODES = frozenset({
    "UnrecognizedClientException", "InvalidClientTokenId", "ExpiredTokenException", "ExpiredToken",
    "InvalidSignatureException", "IncompleteSignature", "MissingAuthenticationToken", "SignatureDoesNotMatch",
    "AuthFailure", "InvalidAccessKeyId",
})

# DescribeKey calls in flight at once for `key list` (KMS has no batch DescribeKey).
DESCRIBE_WORKERS = 8


class AwsBackend(Backend):
    """AWS KMS (or anything speaking its API: moto, LocalStack, a VPC endpoint)."""

    kind = "aws"
    capabilities = frozenset({KEY_POLICIES, GRANTS, ALIASES, TAGS, ROTATION, SCHEDULED_DELETION, KEY_STATE,
                              IMPORT, ASYMMETRIC, HMAC})

    def __init__(self, profile_name: str, *, aws_profile: str | None = None, region: str | None = None,
                 endpoint_url: str | None = None, retry_mode: str = "standard", max_attempts: int = 5,
                 connect_timeout: float = 10, read_timeout: float = 60) -> None:
        if retry_mode not in ("standard", "adaptive", "legacy"):
            raise ConfigError(f"profile '{profile_name}': retry_mode must be standard or adaptive, not {retry_mode!r}")
        self.profile_name = profile_name
        self.aws_profile = aws_profile
        self.region = region
        self.endpoint_url = endpoint_url
        self._client_args = dict(retry_mode=retry_mode, max_attempts=int(max_attempts),
                                 connect_timeout=connect_timeout, read_timeout=read_timeout)
        self._client: Any = None

    # -- connection ------------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The botocore KMS client, created on first use."""
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        import botocore.session
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError

        args = self._client_args
        try:
            session = botocore.session.Session(profile=self.aws_profile)
            _install_quick_loader(session)
            config = Config(retries={"mode": args["retry_mode"], "max_attempts": args["max_attempts"]},
                            connect_timeout=args["connect_timeout"], read_timeout=args["read_timeout"])
            client = session.create_client("kms", region_name=self.region, endpoint_url=self.endpoint_url,
                                           config=config)
        except BotoCoreError as exc:
            raise self._config_error(exc) from None
        self.region = client.meta.region_name
        return client

    def _config_error(self, exc: Exception) -> ConfigError:
        name = type(exc).__name__
        where = f"profile '{self.profile_name}'"
        if name == "NoRegionError":
            return ConfigError(f"no AWS region for {where}: give --region, set AWS_REGION (or AWS_DEFAULT_REGION), "
                               "set region in the profile, or set region for its aws_profile in the AWS config file")
        if name == "ProfileNotFound":
            return ConfigError(f"{where}: AWS profile '{self.aws_profile}' is not in your AWS config; "
                               "fix aws_profile or run 'aws configure --profile NAME'")
        if name == "NoCredentialsError":
            return ConfigError(f"no AWS credentials for {where}: set aws_profile, AWS_PROFILE or "
                               "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
        if name == "EndpointConnectionError":
            return ConfigError(f"cannot reach AWS KMS for {where} ({exc}); check endpoint_url, region and network")
        return ConfigError(f"AWS credentials or configuration problem for {where}: {exc}")

    def _error(self, exc: Exception) -> Exception:
        """Translate a botocore exception into kmstui's error for it."""
        from botocore.exceptions import (
            BotoCoreError, ClientError, ConnectTimeoutError, ParamValidationError, ReadTimeoutError,
        )

        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or "KMSError")
            message = error.get("Message") or (KMS_EXCEPTIONS[code].__doc__ if code in KMS_EXCEPTIONS else str(exc))
            if code.isdigit():  # an HTTP status with no KMS error body (an HTML page from a proxy or stub)
                return KMSError(f"the KMS endpoint answered HTTP {code} with no KMS error in the body; check "
                                "endpoint_url (and that the server implements this operation)")
            message = " ".join(str(message).split())  # one line, whatever the server sent
            if code in CREDENTIAL_CODES:
                return ConfigError(f"AWS rejected the credentials for profile '{self.profile_name}' ({code}: "
                                   f"{message}); check aws_profile and your AWS credentials")
            err = kms_error(code, message)
            if type(err) is KMSError:
                err = KMSError(f"{code}: {message}")
            return err
        if isinstance(exc, ParamValidationError):  # botocore refused it before sending: the aws CLI's exit 252
            return UsageError(" ".join(str(exc).split()))
        if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
            return DependencyTimeoutException(f"AWS KMS did not answer in time ({exc})")
        if isinstance(exc, BotoCoreError):
            return self._config_error(exc)
        return exc

    def _call(self, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = getattr(self.client, operation)(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc) from None
        response.pop("ResponseMetadata", None)
        return response

    def _paginate(self, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Follow every page unless the caller asked for one page (Marker or Limit given)."""
        if "Marker" in kwargs or "Limit" in kwargs:
            return self._call(operation, kwargs)
        from botocore.exceptions import BotoCoreError, ClientError

        field = PAGINATED[operation]
        merged: dict[str, Any] = {field: []}
        try:
            for page in self.client.get_paginator(operation).paginate(**kwargs):
                merged[field].extend(page.get(field, []))
                for key, value in page.items():
                    if key not in (field, "ResponseMetadata", "NextMarker", "Truncated"):
                        merged[key] = value
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc) from None
        merged["Truncated"] = False
        return merged

    # -- interface -------------------------------------------------------------------------------------
    def set_caller(self, principal_arn: str | None) -> None:
        if principal_arn is not None:
            raise UsageError("--as (and a profile 'principal') cannot be used with the aws backend: AWS KMS acts as "
                             "the identity of your AWS credentials; pick another identity with aws_profile")

    def info(self) -> BackendInfo:
        endpoint = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_KMS") or os.environ.get("AWS_ENDPOINT_URL")
        region = self.region
        location = " ".join(p for p in (region or "default region", endpoint) if p)
        extra = {"aws_profile": self.aws_profile} if self.aws_profile else {}
        return BackendInfo("aws", self.profile_name, location, region=region, extra=extra)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def list_key_metadata(self) -> list[dict[str, Any]]:
        """ListKeys and ListAliases once each, then the DescribeKey calls side by side."""
        from concurrent.futures import ThreadPoolExecutor

        keys = [k["KeyId"] for k in self.list_keys()["Keys"]]
        aliases: dict[str, list[str]] = {}
        for alias in self.list_aliases()["Aliases"]:
            if alias.get("TargetKeyId"):
                aliases.setdefault(alias["TargetKeyId"], []).append(alias["AliasName"])
        if not keys:
            return []
        self.client  # noqa: B018 - create the client before the threads share it
        with ThreadPoolExecutor(max_workers=min(DESCRIBE_WORKERS, len(keys))) as pool:
            described = list(pool.map(lambda kid: self.describe_key(KeyId=kid)["KeyMetadata"], keys))
        out = []
        for md in described:
            md = dict(md)
            md["Aliases"] = aliases.get(md["KeyId"], [])
            out.append(md)
        return out


class _ServiceNames:
    """Stands in for botocore's list of every service it has models for. botocore builds that list (a listdir
    and a stat per service directory, about 400 of them, once per model type) only to check that the service
    asked for exists; checking the one directory gives the same answer and cuts client creation roughly by a
    third, which matters for a one-shot `kmstui --backend aws encrypt`."""

    def __init__(self, loader: Any, type_name: str, full_listing: Any) -> None:
        self._loader, self._type_name, self._full_listing = loader, type_name, full_listing

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(
            os.path.isdir(os.path.join(path, name)) for path in self._loader.search_paths)

    def __iter__(self):
        return iter(self._full_listing(self._type_name))


def _install_quick_loader(session: Any) -> None:
    """Give `session` botocore's own data loader, with the service-existence check made cheap."""
    from botocore.loaders import create_loader

    loader = create_loader(session.get_config_variable("data_path"))
    full_listing = loader.list_available_services
    loader.list_available_services = lambda type_name: _ServiceNames(loader, type_name, full_listing)
    session.register_component("data_loader", loader)


def _forwarder(name: str):
    if name in PAGINATED:
        def op(self: AwsBackend, **kwargs: Any) -> dict[str, Any]:
            return self._paginate(name, kwargs)
    else:
        def op(self: AwsBackend, **kwargs: Any) -> dict[str, Any]:
            return self._call(name, kwargs)
    op.__name__ = name
    op.__doc__ = f"KMS {''.join(p.title() for p in name.split('_'))}, forwarded to AWS."
    return op


# Only what AWS KMS has: kmstui's own operations (stored identity policies) keep the base class's clear
# UnsupportedOperationException instead of reaching botocore, which has no such method.
for _name in OPERATIONS:
    if OPERATION_CAPABILITY.get(_name, "") in AwsBackend.capabilities | {""}:
        setattr(AwsBackend, _name, _forwarder(_name))


def resolve_region(flag: str | None, profile_region: str | None) -> str | None:
    """The region the aws CLI v2 would use: --region, AWS_REGION, AWS_DEFAULT_REGION, then the kmstui profile's
    `region`. None leaves the last step to botocore: the region of the session's AWS profile in ~/.aws/config."""
    for value in (flag, os.environ.get("AWS_REGION"), os.environ.get("AWS_DEFAULT_REGION"), profile_region):
        if value:
            return str(value)
    return None


def open_aws_backend(ctx) -> AwsBackend:
    """Factory used by kmstui.backends.builtin: settings from the profile, nothing contacted yet."""
    import importlib.util

    if importlib.util.find_spec("botocore") is None:
        raise ConfigError(f"profile '{ctx.profile.name}' uses the aws backend, which needs boto3: "
                          "pip install 'kmstui[aws]'")
    p = ctx.profile
    endpoint = os.environ.get("KMSTUI_AWS_ENDPOINT_URL") or p.get("endpoint_url")
    return AwsBackend(
        p.name, aws_profile=p.get("aws_profile"), region=resolve_region(ctx.options.get("region"), p.get("region")),
        endpoint_url=endpoint,
        retry_mode=str(p.get("retry_mode", "standard")), max_attempts=p.get("max_attempts", 5),
        connect_timeout=p.get("connect_timeout", 10), read_timeout=p.get("read_timeout", 60),
    )
