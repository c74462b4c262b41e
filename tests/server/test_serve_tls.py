"""`kmstui serve --tls`: a local CA and server certificate made once under KMSTUI_HOME; clients that trust the
CA (AWS_CA_BUNDLE / verify=) connect over HTTPS, and requests then carry aws:SecureTransport=true."""

from __future__ import annotations

import json
import stat

import pytest
from botocore.exceptions import SSLError


pytestmark = pytest.mark.timeout(300)


def test_tls_server_with_its_local_ca(tmp_path, serve_tools):
    start_kmstui_server, stop_kmstui_server = serve_tools.start, serve_tools.stop
    pytest.importorskip("uvicorn")
    server = start_kmstui_server(tmp_path, "--tls")
    try:
        assert server.url.startswith("https://127.0.0.1:")
        folder = server.home / "data" / "serve-tls"
        ca = folder / "ca.pem"
        assert ca.is_file() and stat.S_IMODE((folder / "ca-key.pem").stat().st_mode) == 0o600
        assert f"AWS_CA_BUNDLE={ca}" in server.log()
        kms = server.client(verify=str(ca))
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{server.account}:root"}, "Action": "kms:*",
             "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
        key = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]
        assert kms.encrypt(KeyId=key, Plaintext=b"over tls")["KeyId"].endswith(key)
        with pytest.raises(SSLError):
            server.client().list_keys()  # the system trust store does not know the local CA
    finally:
        assert stop_kmstui_server(server) == 0
    first_ca = ca.read_bytes()
    again = start_kmstui_server(tmp_path, "--tls", store=(server.store, server.keys))  # same KMSTUI_HOME
    try:
        assert ca.read_bytes() == first_ca  # made once, reused: clients keep trusting it
        assert again.client(verify=str(ca)).list_keys()["Keys"]
    finally:
        stop_kmstui_server(again)
