"""`kmstui serve`: the local HSM as an AWS KMS (and STS) endpoint for any AWS SDK, the aws CLI and the AWS
Encryption SDK. Registered here like every core command; its implementation (kmstui/server/, the only
place a web server is imported) loads only when the command runs."""

from __future__ import annotations

from kmstui.commands.registry import Arg


def register(registry) -> None:
    registry.command("serve", "Serve the local HSM over the AWS KMS wire protocol (SigV4, policies, grants)", [
        Arg("--host", "address to listen on (default 127.0.0.1; another address also needs --allow-remote)",
            default="127.0.0.1", metavar="ADDR"),
        Arg("--port", "TCP port (default 4599; 0 picks a free one)", type=int, default=4599, metavar="N"),
        Arg("--allow-remote", "allow --host to be a non-loopback address (prints a warning)", flag=True),
        Arg("--tls", "serve HTTPS with a local CA and server certificate kept under KMSTUI_HOME", flag=True),
        Arg("--cert", "serve HTTPS with this server certificate (PEM)", complete="file", metavar="PATH"),
        Arg("--key", "the private key of --cert (PEM)", complete="file", metavar="PATH"),
        Arg("--insecure-anonymous-as", "accept UNSIGNED requests and act as this principal (experiments only)",
            complete="principal", metavar="ARN"),
        Arg("--access-log", "also write the access log here (default: a file under the data folder)",
            complete="file", metavar="PATH"),
        Arg("--quiet", "do not echo the access log on stderr", flag=True),
        Arg("--status", "report whether a server is running for this store, and where; exit 1 if none", flag=True),
    ], handler="kmstui.server.run:cmd_serve", description=(
        "Speak the AWS KMS JSON 1.1 protocol (POST /, X-Amz-Target: TrentService.<Operation>) and STS "
        "(GetCallerIdentity, AssumeRole) on one port. Every request must be signed (SigV4) with an access key "
        "from 'kmstui iam create-access-key' or with AssumeRole session credentials, and is authorized by the "
        "key policy, the caller's identity policies and the grants, exactly as the local backend decides, and "
        "written to the audit log. Runs until Ctrl+C or SIGTERM; in-flight requests finish first. While it runs, "
        "'serve --status' says where, 'serve log' lists its requests, and the TUI shows both (F7)."),
        examples=["serve", "serve --port 4600 --tls",
                  "serve --status"])
    registry.command("serve log", "Show the newest requests a running kmstui serve answered (its access log)", [
        Arg("--denied", "only requests refused by authorization or authentication (explain one with "
            "'whatif --request-id ID')", flag=True),
        Arg("--limit", "how many of the newest requests (default 20)", type=int, default=20, metavar="N"),
        Arg("--access-log", "read this access-log file instead of the running server's", complete="file",
            metavar="PATH"),
    ], handler="kmstui.server.run:cmd_log", description=(
        "One row per request of the kmstui serve running for this store: time, principal, operation, key, "
        "decision (allow, deny, unauthenticated, error), HTTP status, error, latency and request id. Reads the "
        "access log only; the TUI shows the same requests live (F7)."),
        examples=["serve log", "serve log --denied --limit 5", "serve log --access-log access.jsonl"])
