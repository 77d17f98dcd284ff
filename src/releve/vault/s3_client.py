"""Reaching an S3 store: the vault's URL, a boto3 client set up for on-premises stores,
and the store's refusals as VaultErrors that name its error code and never a secret.

boto3 speaks S3 (SigV4 included: nothing here signs by hand). Credentials, endpoint and
region come the usual ways of the S3 ecosystem (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_ENDPOINT_URL, AWS_REGION), with an explicit
endpoint and region as overrides.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from .errors import VaultError

SCHEME = "s3://"
LOCK_MODE = "COMPLIANCE"  # the Object Lock mode of every object Relève puts


def is_s3(vault: str) -> bool:
    return vault.startswith(SCHEME)


def parse_url(url: str) -> tuple[str, str]:
    """(bucket, prefix ending in '/' or empty) of `s3://BUCKET/PREFIX`."""
    if not is_s3(url):
        raise VaultError(f"{url!r} is not an s3:// URL")
    bucket, _, prefix = url[len(SCHEME):].partition("/")
    if not bucket:
        raise VaultError(f"{url!r} names no bucket (s3://BUCKET/PREFIX)")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def s3_client(endpoint: str | None = None, region: str | None = None) -> Any:
    """A boto3 S3 client. Path-style addressing, as on-premises stores (Ceph's radosgw,
    MinIO) are reached by address rather than by a DNS name per bucket; checksums only
    where S3 requires them, as stores older than 2025's AWS defaults refuse the new
    trailing checksums."""
    import boto3
    from botocore.config import Config as BotoConfig

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint or os.environ.get("AWS_ENDPOINT_URL") or None,
        region_name=region or "us-east-1",
        config=BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"mode": "standard", "max_attempts": 4},
                          connect_timeout=10, read_timeout=120,
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"))


@contextlib.contextmanager
def answers(where: str, doing: str) -> Iterator[None]:
    """S3 errors as one VaultError naming the store's code, never the credentials."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except NoCredentialsError:
        raise VaultError(f"{where}: no S3 credentials (set AWS_ACCESS_KEY_ID and "
                         "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise VaultError(f"{where}: {doing} refused by the store: {error.get('Code', '?')} "
                         f"({error.get('Message') or 'no message'})") from None
    except BotoCoreError as exc:
        raise VaultError(f"{where}: {doing} failed: {exc}") from None


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
