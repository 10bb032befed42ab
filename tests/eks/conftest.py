"""Fixtures for the EKS tests: an AWS environment that can never reach real credentials or real AWS."""
from __future__ import annotations

from pathlib import Path

import pytest

_AWS_VARS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
             "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EKS",
             "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS",
             "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
             "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
             "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")


@pytest.fixture(autouse=True)
def aws_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty AWS config files, no IMDS, fake keys: nothing here can find or use real credentials."""
    for var in _AWS_VARS:
        monkeypatch.delenv(var, raising=False)
    config = tmp_path / "aws-config"
    creds = tmp_path / "aws-credentials"
    config.write_text("")
    creds.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    return tmp_path
