"""Issue 12 item 11: the aws backend's region, resolved as the aws CLI v2 resolves it: `--region`, then
AWS_REGION, then AWS_DEFAULT_REGION, then the kmstui profile's `region`, then the region of its `aws_profile`
in the AWS config file. Checked on the moto server, which puts the request's region into every key ARN."""

from __future__ import annotations

import json

import pytest

from tests.conftest import write_profile

pytest.importorskip("botocore", reason="botocore (the aws extra) is not installed")


@pytest.fixture
def aws_config(tmp_path, moto_server, monkeypatch):
    """An AWS config file whose profile 'team' has region ap-south-1 (and dummy keys: botocore reads a named
    profile's credentials from the files, not the environment)."""
    config = tmp_path / "aws-config"
    config.write_text("[profile team]\nregion = ap-south-1\n"
                      "aws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    return config


def _region_of_new_key(run_kmstui, *flags: str, env: dict | None = None) -> str:
    result = run_kmstui("key", "create", "--profile", "kms", *flags, "--output", "json", env=env)
    assert result.code == 0, result.err
    return json.loads(result.out)["KeyMetadata"]["Arn"].split(":")[3]


def test_each_place_in_the_aws_cli_order(run_kmstui, aws_config, moto_server):
    write_profile("kms", "aws", aws_profile="team", endpoint_url=moto_server.url)
    assert _region_of_new_key(run_kmstui) == "ap-south-1"  # the aws_profile's region in the AWS config file
    write_profile("kms", "aws", aws_profile="team", region="eu-west-1", endpoint_url=moto_server.url)
    assert _region_of_new_key(run_kmstui) == "eu-west-1"  # the kmstui profile's region
    assert _region_of_new_key(run_kmstui, env={"AWS_DEFAULT_REGION": "eu-central-1"}) == "eu-central-1"
    both = {"AWS_DEFAULT_REGION": "eu-central-1", "AWS_REGION": "eu-north-1"}
    assert _region_of_new_key(run_kmstui, env=both) == "eu-north-1"  # AWS_REGION before AWS_DEFAULT_REGION
    assert _region_of_new_key(run_kmstui, "--region", "sa-east-1", env=both) == "sa-east-1"  # --region first


def test_backend_aws_without_a_profile_honours_aws_region(run_kmstui, aws_config, moto_server):
    result = run_kmstui("--backend", "aws", "key", "create", "--output", "json", env={"AWS_REGION": "us-west-2"})
    assert result.code == 0, result.err
    assert json.loads(result.out)["KeyMetadata"]["Arn"].split(":")[3] == "us-west-2"


def test_no_region_anywhere_is_one_line_naming_the_places(run_kmstui, aws_config, moto_server):
    write_profile("kms", "aws", endpoint_url=moto_server.url)
    result = run_kmstui("key", "list", "--profile", "kms")
    assert result.code == 253 and len(result.err.strip().splitlines()) == 1
    for place in ("--region", "AWS_REGION", "AWS_DEFAULT_REGION", "profile", "aws_profile"):
        assert place in result.err, place


def test_region_elsewhere_is_refused_not_ignored(run_kmstui, unsealed_hsm):
    """A local HSM has the one region it was made with; asking for another fails instead of being ignored."""
    assert run_kmstui("key", "list", "--region", "us-east-1").code == 0
    other = run_kmstui("key", "list", "--region", "eu-west-1")
    assert other.code == 252 and "us-east-1" in other.err
