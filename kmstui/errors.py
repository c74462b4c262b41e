"""Errors shared by every layer.

Backend failures use AWS KMS's exception names so that scripts can match on them whichever backend
answered; kmstui's own failures (usage, configuration, a sealed store) map to the AWS CLI v2 exit codes.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1  # a check ran and found a problem (audit verify, verify --check, failing test)
EXIT_USAGE = 252
EXIT_CONFIG = 253  # configuration, credentials, sealed store
EXIT_BACKEND = 254
EXIT_OTHER = 255
EXIT_INTERRUPT = 130


class KmstuiError(Exception):
    """Base class: a one-line message for the user and the exit code it maps to."""

    exit_code = EXIT_OTHER

    @property
    def code(self) -> str:
        return type(self).__name__

    def __str__(self) -> str:
        return self.args[0] if self.args else self.code


class UsageError(KmstuiError):
    """The command line itself is wrong (unknown command or flag, bad value, missing confirmation)."""

    exit_code = EXIT_USAGE


class ConfigError(KmstuiError):
    """Configuration or credentials are missing or wrong."""

    exit_code = EXIT_CONFIG


class SealedError(ConfigError):
    """The local HSM is sealed and nothing can unseal it here (no agent, no passphrase, no TTY)."""


class CheckFailed(KmstuiError):
    """A check ran to completion and found a problem; the result is still printed."""

    exit_code = EXIT_CHECK_FAILED


class KMSError(KmstuiError):
    """A backend refused a request. Subclass names are the AWS KMS exception names."""

    exit_code = EXIT_BACKEND


def _kms(name: str, doc: str) -> type[KMSError]:
    return type(name, (KMSError,), {"__doc__": doc, "__module__": __name__})


NotFoundException = _kms("NotFoundException", "The key, alias, grant or other resource does not exist.")
DisabledException = _kms("DisabledException", "The key is disabled.")
KMSInvalidStateException = _kms("KMSInvalidStateException", "The key's state does not allow this request.")
InvalidCiphertextException = _kms("InvalidCiphertextException", "Ciphertext or encryption context is wrong.")
IncorrectKeyException = _kms("IncorrectKeyException", "The ciphertext was made under another key.")
AccessDeniedException = _kms("AccessDeniedException", "The caller is not authorised for this request.")
InvalidKeyUsageException = _kms("InvalidKeyUsageException", "The key's usage or spec does not allow this.")
AlreadyExistsException = _kms("AlreadyExistsException", "A resource with that name already exists.")
ValidationException = _kms("ValidationException", "A parameter is malformed or out of range.")
UnsupportedOperationException = _kms(
    "UnsupportedOperationException", "This backend does not support the operation."
)
KMSInvalidSignatureException = _kms("KMSInvalidSignatureException", "The signature does not verify.")
KMSInvalidMacException = _kms("KMSInvalidMacException", "The MAC does not verify.")
InvalidGrantTokenException = _kms("InvalidGrantTokenException", "The grant token is not valid.")
InvalidGrantIdException = _kms("InvalidGrantIdException", "The grant id is not valid.")
InvalidAliasNameException = _kms("InvalidAliasNameException", "The alias name is not valid.")
InvalidArnException = _kms("InvalidArnException", "The ARN is not valid.")
LimitExceededException = _kms("LimitExceededException", "A quota was exceeded.")
LimitExceeded = _kms("LimitExceeded", "An IAM quota was exceeded (IAM's error code, e.g. an identity policy too large).")
PackedPolicyTooLarge = _kms("PackedPolicyTooLarge", "STS: the session policy and session tags do not fit in a session "
                            "token.")
MalformedPolicyDocumentException = _kms(
    "MalformedPolicyDocumentException", "The policy document is malformed or would lock the key out."
)
IncorrectKeyMaterialException = _kms(
    "IncorrectKeyMaterialException", "Imported material differs from the key's earlier material."
)
ExpiredImportTokenException = _kms("ExpiredImportTokenException", "The import token has expired.")
InvalidImportTokenException = _kms("InvalidImportTokenException", "The import token is not valid.")
TagException = _kms("TagException", "A tag key or value is not valid.")
InvalidMarkerException = _kms("InvalidMarkerException", "The pagination marker is not valid.")
KMSInternalException = _kms("KMSInternalException", "The backend failed internally (e.g. tampered data).")
DependencyTimeoutException = _kms("DependencyTimeoutException", "The backend did not answer in time.")
KeyUnavailableException = _kms("KeyUnavailableException", "The key's material is not available.")

# AWS Organizations' error codes (the local HSM's organization model, kmstui/backends/local/organization.py).
AWSOrganizationsNotInUseException = _kms("AWSOrganizationsNotInUseException", "The account is in no organization.")
AlreadyInOrganizationException = _kms("AlreadyInOrganizationException", "The account is already in an organization.")
OrganizationNotEmptyException = _kms("OrganizationNotEmptyException", "The organization still has member accounts.")
TargetNotFoundException = _kms("TargetNotFoundException", "No root, OU or account has that target id.")
ParentNotFoundException = _kms("ParentNotFoundException", "No root or OU has that parent id.")
AccountNotFoundException = _kms("AccountNotFoundException", "The account is not in the organization.")
DuplicateAccountException = _kms("DuplicateAccountException", "The account is already in the organization or OU.")
OrganizationalUnitNotFoundException = _kms("OrganizationalUnitNotFoundException", "No OU has that id.")
OrganizationalUnitNotEmptyException = _kms("OrganizationalUnitNotEmptyException", "The OU still holds accounts or OUs.")
DuplicateOrganizationalUnitException = _kms("DuplicateOrganizationalUnitException", "An OU of that name exists.")
PolicyNotFoundException = _kms("PolicyNotFoundException", "No policy has that id.")
DuplicatePolicyException = _kms("DuplicatePolicyException", "A policy of that name exists.")
DuplicatePolicyAttachmentException = _kms("DuplicatePolicyAttachmentException", "The policy is already attached there.")
PolicyNotAttachedException = _kms("PolicyNotAttachedException", "The policy is not attached there.")
PolicyInUseException = _kms("PolicyInUseException", "The policy is still attached somewhere.")
ConstraintViolationException = _kms("ConstraintViolationException", "An Organizations quota or constraint was violated.")
InvalidInputException = _kms("InvalidInputException", "An Organizations parameter is malformed.")

KMS_EXCEPTIONS: dict[str, type[KMSError]] = {
    cls.__name__: cls for cls in list(globals().values()) if isinstance(cls, type) and issubclass(cls, KMSError)
}


def kms_error(name: str, message: str) -> KMSError:
    """Build the KMS-named exception for `name` (e.g. from an AWS error code), falling back to KMSError."""
    return KMS_EXCEPTIONS.get(name, KMSError)(message)

