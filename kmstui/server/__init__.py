"""`kmstui serve`: the local HSM as an AWS KMS (and minimal STS) endpoint for any AWS SDK, the aws CLI and
the AWS Encryption SDK. A face like the TUI and the shell: the only place a web server (uvicorn) is
imported, and only by run.py. See docs/serve.md."""
