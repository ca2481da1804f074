"""The test S3 server is a real one: it stores and returns bytes, and refuses a tampered or expired
signature and a wrong secret (what a mock S3 would let through)."""
from __future__ import annotations

import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError


def client(rgw, secret=None):
    return boto3.client("s3", endpoint_url=rgw.endpoint, aws_access_key_id=rgw.access_key,
                        aws_secret_access_key=secret or rgw.secret_key, region_name="us-east-1")


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_rgw_round_trip_and_signatures(rgw, s3_settings):
    bucket = s3_settings["MEDIA_URL"].removeprefix("s3://")
    s3 = client(rgw)
    s3.put_object(Bucket=bucket, Key="a/b.bin", Body=b"\x00\x01sach", ChecksumAlgorithm="SHA256")
    assert s3.get_object(Bucket=bucket, Key="a/b.bin")["Body"].read() == b"\x00\x01sach"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a/b.bin"}, ExpiresIn=2)
    assert status(url) == 200
    assert status(url.replace("Signature=", "Signature=0")) == 403
    time.sleep(3)
    assert status(url) == 403  # expired
    with pytest.raises(ClientError):
        client(rgw, secret="wrong-secret").get_object(Bucket=bucket, Key="a/b.bin")
    with pytest.raises(ClientError) as refused:  # an original is never overwritten
        s3.put_object(Bucket=bucket, Key="a/b.bin", Body=b"other", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"

