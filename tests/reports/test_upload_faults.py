"""An upload whose endpoint answers anything (a proxy's HTML error page, a reset connection): one line and exit 3
when the gate passed, exit 1 when findings fail it; never a traceback."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import boto3
import pytest
from botocore.config import Config as BotoConfig
from click.testing import CliRunner

from auditor.cli.main import main
from auditor.report.share import UploadError, upload_reports

PAGE = b"<html><head><title>502 Bad Gateway</title></head>\n<body>\x1b]0;owned\x07<h1>Bad Gateway</h1></body></html>\n"
SLICE = """apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: cart-manual, namespace: shop, labels: {kubernetes.io/service-name: cart}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1], conditions: {ready: true}}]
"""


class _Proxy(BaseHTTPRequestHandler):
    def _page(self) -> None:
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(PAGE)

    do_GET = do_PUT = do_POST = do_HEAD = _page

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "eu-west-1",
                       "AWS_ENDPOINT_URL_S3": url, "AWS_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def test_an_html_error_page_is_an_upload_error(proxy: str, tmp_path: Path) -> None:
    f = tmp_path / "report.md"
    f.write_text("# r\n")
    s3 = boto3.client("s3", endpoint_url=proxy, config=BotoConfig(retries={"max_attempts": 1}))
    with pytest.raises(UploadError) as err:
        upload_reports([f], "s3://bucket/x", client=s3)
    text = str(err.value)
    assert text.startswith("upload to s3://bucket/x failed: ") and "\n" not in text and "\x1b" not in text


@pytest.mark.parametrize(("fail_on", "code"), [("never", 3), ("error", 1)])
def test_cli_upload_to_a_proxy_page_is_one_line(proxy: str, tmp_path: Path, fail_on: str, code: int) -> None:
    (tmp_path / "dump.yaml").write_text(SLICE)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["audit", str(tmp_path / "dump.yaml"), "--output-dir", str(out),
                                    "--fail-on", fail_on, "--upload", "s3://bucket/x"])
    assert res.exit_code == code, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "upload to s3://bucket/x failed" in errors[0], res.output
    assert "Traceback" not in res.output and "\x1b" not in res.output
    assert (out / "report.json").is_file()
