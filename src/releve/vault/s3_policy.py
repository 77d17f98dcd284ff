"""The least-privilege bucket policy of an S3 vault (docs/s3.md, "Bucket policy").

Object Lock in COMPLIANCE mode is what keeps a segment whatever credentials an attacker
holds; this policy narrows what each role's keys can even ask for, so that stolen keys
cannot make noise the vault must then sort out (delete markers, extra versions outside
the vault's prefix, a bucket emptied of its default retention):

- the writers (the capture) put new objects under the prefix, read them back, list the
  versions (to continue the chain after a crash), read the lock configuration (init
  checks the bucket is locked) and extend a retention (renewal; the store itself refuses
  any shortening in COMPLIANCE mode);
- the readers (the stations, `vault verify`) list and read, versions included, and read
  the retention of what they read;
- listing is granted on the whole bucket, not on the prefix alone: S3 answers a missing
  key with AccessDenied instead of NoSuchKey to whoever may not list it (radosgw too), and
  the vault must tell "not there yet" from "forbidden". Names are all a listing shows: the
  objects outside the prefix stay unreadable. One bucket per vault is the simple layout;
- nobody, the bucket's owner included, may delete a version, bypass a governance
  retention, change the bucket's lock configuration or delete the bucket; writers and
  readers may not delete at all (not even a delete marker), nor touch the policy, the
  ACLs, the legal holds or the lifecycle.

Principals are named the way radosgw names its users: `arn:aws:iam:::user/NAME` (no
account number; with radosgw tenants, `arn:aws:iam::TENANT:user/NAME`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

WRITE_OBJECTS = ["s3:PutObject", "s3:PutObjectRetention"]
READ_OBJECTS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention"]
LIST_BUCKET = ["s3:ListBucket", "s3:ListBucketVersions"]
READ_BUCKET = ["s3:GetBucketObjectLockConfiguration", "s3:GetBucketVersioning",
               "s3:GetBucketLocation"]

# Refused to everyone, the owner's credentials included: what would undo a lock or let
# the next object go unlocked. (The owner can still replace the policy itself: the lock,
# not the policy, is the guarantee; this keeps a stolen owner key from doing it quietly
# in one request.)
DENIED_TO_ALL = ["s3:DeleteObjectVersion", "s3:BypassGovernanceRetention",
                 "s3:PutBucketObjectLockConfiguration", "s3:DeleteBucket"]

# Refused to writers and readers on top: deleting (a plain delete makes a delete marker,
# which hides the object from plain reads), and anything that changes who may do what.
DENIED_TO_ROLES = ["s3:DeleteObject", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
                   "s3:PutBucketAcl", "s3:PutObjectAcl", "s3:PutObjectVersionAcl",
                   "s3:PutObjectLegalHold", "s3:PutLifecycleConfiguration",
                   "s3:PutBucketVersioning"]


def principal(user: str) -> str:
    """The ARN radosgw matches for a user id (an ARN given as is stays as is)."""
    return user if user.startswith("arn:") else f"arn:aws:iam:::user/{user}"


def bucket_policy(bucket: str, prefix: str, writers: Iterable[str],
                  readers: Iterable[str]) -> dict[str, Any]:
    """The policy document (to be applied by the bucket's owner with PutBucketPolicy, as
    JSON) granting `writers` and `readers` (radosgw user ids or ARNs) their share of the
    vault at `bucket`/`prefix`, and denying the rest; see the module's docstring."""
    writers = [principal(user) for user in writers]
    readers = [principal(user) for user in readers]
    prefix = prefix.strip("/")
    bucket_arn = f"arn:aws:s3:::{bucket}"
    objects_arn = f"{bucket_arn}/{prefix}/*" if prefix else f"{bucket_arn}/*"
    everyone = writers + [user for user in readers if user not in writers]

    def allow(sid: str, who: list[str], actions: list[str], resource: str) -> dict[str, Any]:
        return {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": who},
                "Action": actions, "Resource": [resource]}

    statements = []
    if writers:
        statements += [
            allow("WritersPutAndRead", writers, WRITE_OBJECTS + READ_OBJECTS, objects_arn),
            allow("WritersList", writers, LIST_BUCKET, bucket_arn),
            allow("WritersReadBucket", writers, READ_BUCKET, bucket_arn),
        ]
    if readers:
        statements += [
            allow("ReadersRead", readers, READ_OBJECTS, objects_arn),
            allow("ReadersList", readers, LIST_BUCKET, bucket_arn),
            allow("ReadersReadBucket", readers, READ_BUCKET, bucket_arn),
        ]
    only_readers = [user for user in readers if user not in writers]
    if only_readers:
        statements.append({"Sid": "ReadersNeverWrite", "Effect": "Deny",
                           "Principal": {"AWS": only_readers},
                           "Action": WRITE_OBJECTS, "Resource": [f"{bucket_arn}/*"]})
    if everyone:
        statements.append({"Sid": "RolesNeverDelete", "Effect": "Deny",
                           "Principal": {"AWS": everyone}, "Action": DENIED_TO_ROLES,
                           "Resource": [bucket_arn, f"{bucket_arn}/*"]})
    statements.append({"Sid": "NobodyUndoesLocks", "Effect": "Deny", "Principal": {"AWS": ["*"]},
                       "Action": DENIED_TO_ALL, "Resource": [bucket_arn, f"{bucket_arn}/*"]})
    return {"Version": "2012-10-17", "Statement": statements}
