"""`--upload s3://bucket/prefix`: reports copied with their content types, object URLs printed, and a
failed upload reported as one line with exit 3 after the local files are written (moto mock_aws)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import boto3
import moto
import pytest
from click.testing import CliRunner

from auditor.cli.main import main
from auditor.report import render
from auditor.report.share import UploadError, object_url, parse_s3_url, upload_reports

SLICE = """\
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: cart-manual
  namespace: shop
  uid: 0b1c2d3e-0000-4000-8000-000000000001
  resourceVersion: "1234"
  creationTimestamp: "2024-06-01T10:00:00Z"
  labels:
    kubernetes.io/service-name: cart
addressType: IPv4
endpoints:
- addresses: ["10.0.12.7"]
ports:
- port: 8080
  protocol: TCP
"""


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        yield


def _bucket(name: str, region: str = "eu-west-1") -> None:
    s3 = boto3.client("s3", region_name=region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})


def test_upload_sets_content_types_and_returns_object_urls(aws: None, tmp_path: Path) -> None:
    import report_fixture as F
    _bucket("audit-reports")
    paths = render.write_reports(F.result(), tmp_path, ("html", "md", "json", "junit"))
    urls = upload_reports(paths, "s3://audit-reports/prod/2024-06-01/")
    assert urls == [f"https://audit-reports.s3.eu-west-1.amazonaws.com/prod/2024-06-01/{p.name}" for p in paths]
    s3 = boto3.client("s3", region_name="eu-west-1")
    types = {}
    for p in paths:
        obj = s3.get_object(Bucket="audit-reports", Key=f"prod/2024-06-01/{p.name}")
        assert obj["Body"].read() == p.read_bytes()
        types[p.name] = obj["ContentType"]
    assert types == {"report.html": "text/html; charset=utf-8", "report.md": "text/markdown; charset=utf-8",
                     "report.json": "application/json", "report.junit.xml": "application/xml"}


def test_cli_upload_prints_the_object_urls(aws: None, tmp_path: Path) -> None:
    _bucket("ci-artifacts", "us-east-1")
    (tmp_path / "dump.yaml").write_text(SLICE)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["audit", str(tmp_path / "dump.yaml"), "--output-dir", str(out),
                                    "--fail-on", "never", "--upload", "s3://ci-artifacts/run-7"])
    assert res.exit_code == 0, res.output
    assert "https://ci-artifacts.s3.amazonaws.com/run-7/report.html" in res.output
    keys = sorted(o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="ci-artifacts")["Contents"])
    assert keys == ["run-7/report.html", "run-7/report.json", "run-7/report.md"]


@pytest.mark.parametrize(("fail_on", "code"), [("never", 3), ("error", 1)])
def test_cli_failed_upload_is_one_line_after_local_files(aws: None, tmp_path: Path, fail_on: str, code: int) -> None:
    """Exit 3 when the gate passed; the gate's 1 wins over the failed upload (README: exit codes)."""
    (tmp_path / "dump.yaml").write_text(SLICE)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["audit", str(tmp_path / "dump.yaml"), "--output-dir", str(out),
                                    "--fail-on", fail_on, "--upload", "s3://no-such-bucket-here/x"])
    assert res.exit_code == code, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "s3://no-such-bucket-here/x" in errors[0] and "NoSuchBucket" in errors[0]
    assert "Traceback" not in res.output
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json", "report.md"]
    assert str(out / "report.html") in res.output  # the summary still says where the local files are


def test_cli_rejects_a_bad_upload_url_before_doing_anything(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["audit", "x.yaml", "--output-dir", str(tmp_path / "o"),
                                    "--upload", "https://bucket/prefix"])
    assert res.exit_code == 2 and "--upload" in res.output
    assert not (tmp_path / "o").exists()


def test_upload_without_credentials_is_an_upload_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from botocore.exceptions import NoCredentialsError

    class NoCreds:
        def get_bucket_location(self, **_: object) -> dict[str, str]:
            raise NoCredentialsError()

    f = tmp_path / "report.md"
    f.write_text("x")
    with pytest.raises(UploadError, match="upload to s3://b-1/p failed: Unable to locate credentials"):
        upload_reports([f], "s3://b-1/p", client=NoCreds())


@pytest.mark.parametrize("url,bucket,prefix", [("s3://b-1", "b-1", ""), ("s3://b-1/", "b-1", ""),
                                               ("s3://my.bucket/a/b/", "my.bucket", "a/b")])
def test_parse_s3_url(url: str, bucket: str, prefix: str) -> None:
    t = parse_s3_url(url)
    assert (t.bucket, t.prefix) == (bucket, prefix)


def test_object_url_styles() -> None:
    assert object_url("b-1", "eu-west-1", "p/report a.html") == "https://b-1.s3.eu-west-1.amazonaws.com/p/report%20a.html"
    assert object_url("b-1", "us-east-1", "k") == "https://b-1.s3.amazonaws.com/k"
    assert object_url("my.bucket", "eu-west-1", "k") == "https://s3.eu-west-1.amazonaws.com/my.bucket/k"


def test_cli_upload_links_the_uploaded_html_from_the_markdown(aws: None, tmp_path: Path) -> None:
    _bucket("ci-artifacts", "us-east-1")
    (tmp_path / "dump.yaml").write_text(SLICE)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["audit", str(tmp_path / "dump.yaml"), "--output-dir", str(out),
                                    "--fail-on", "never", "--upload", "s3://ci-artifacts/run-7"])
    assert res.exit_code == 0, res.output
    url = "https://ci-artifacts.s3.amazonaws.com/run-7/report.html"
    local = (out / "report.md").read_text()
    assert f"**Full report:** [report.html]({url})" in local
    uploaded = boto3.client("s3").get_object(Bucket="ci-artifacts", Key="run-7/report.md")["Body"].read().decode()
    assert uploaded == local
    assert res.output.count("https://ci-artifacts.s3.amazonaws.com/run-7/") == 3  # each file once, in order


def test_cli_report_url_wins_over_the_upload(aws: None, tmp_path: Path) -> None:
    _bucket("ci-artifacts", "us-east-1")
    (tmp_path / "dump.yaml").write_text(SLICE)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["audit", str(tmp_path / "dump.yaml"), "--output-dir", str(out), "--fail-on",
                                    "never", "--upload", "s3://ci-artifacts/x", "--report-url",
                                    "https://ci.example/job/7/artifacts/report.html"])
    assert res.exit_code == 0, res.output
    assert "[report.html](https://ci.example/job/7/artifacts/report.html)" in (out / "report.md").read_text()


def test_cli_report_url_quiet_and_verbose(tmp_path: Path) -> None:
    (tmp_path / "dump.yaml").write_text(SLICE)
    out = tmp_path / "out"
    dump = str(tmp_path / "dump.yaml")
    res = CliRunner().invoke(main, ["audit", dump, "--output-dir", str(out), "--report-url",
                                    "https://ci.example/r/report.html", "-q"])
    assert res.exit_code == 1, res.output
    assert res.output.splitlines() == [res.output.strip()] and res.output.startswith("FAIL  audit")
    md = (out / "report.md").read_text()
    assert md.startswith("<!-- eks-upgrade-auditor-report -->\n")
    assert "[report.html](https://ci.example/r/report.html)" in md
    verbose = CliRunner().invoke(main, ["audit", dump, "--output-dir", str(out), "-v"])
    assert "not run:" in verbose.output and "the state has no EKS data" in verbose.output
    normal = CliRunner().invoke(main, ["audit", dump, "--output-dir", str(out)])
    assert "-v says why" in normal.output and "the state has no EKS data" not in normal.output
    for bad in ("javascript:alert(1)", "ftp://x/y", "report.html"):
        res = CliRunner().invoke(main, ["audit", dump, "--output-dir", str(out), "--report-url", bad])
        assert res.exit_code == 2 and "--report-url" in res.output, res.output
    both = CliRunner().invoke(main, ["audit", dump, "--output-dir", str(out), "-q", "-v"])
    assert both.exit_code == 2 and "-q and -v" in both.output
