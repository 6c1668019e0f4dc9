"""Ready-to-use bearer tokens for the local stack.

    python -m devtools.tokens                      # the demo tokens `make run` prints
    python -m devtools.tokens viewer acct_own_2    # one token: role, account id

Signed with BILLING_JWT_SECRET when it is set, else the local default secret.
"""

from __future__ import annotations

import argparse
import os
from datetime import timedelta

from chalicelib.config import LOCAL_JWT_SECRET
from chalicelib.domain.access import Role
from chalicelib.services.tokens import issue_token

from .demo_ids import AGENCY_ID, OWN_1_ID

DEFAULT_TTL = timedelta(days=30)
PLATFORM_ACCOUNT = "platform"


def jwt_secret() -> tuple[str, bool]:
    """The secret tokens are signed with, and whether it is the local default."""
    secret = os.environ.get("BILLING_JWT_SECRET")
    return (secret, False) if secret else (LOCAL_JWT_SECRET, True)


def demo_tokens(secret: str, ttl: timedelta = DEFAULT_TTL) -> dict[str, str]:
    """Shell-variable name -> token: the platform, the demo agency's admin, a sub-account viewer."""
    return {
        "SERVICE_TOKEN": issue_token(secret, "platform-backend", PLATFORM_ACCOUNT, Role.SERVICE, ttl),
        "AGENCY_ADMIN_TOKEN": issue_token(secret, "admin@demo-agency.example", AGENCY_ID, Role.ADMIN, ttl),
        "VIEWER_TOKEN": issue_token(secret, "viewer@harbor-plumbing.example", OWN_1_ID, Role.VIEWER, ttl),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", nargs="?", choices=[r.value for r in Role])
    parser.add_argument("account_id", nargs="?")
    parser.add_argument("--sub", default=None, help="the token's subject (default: <role>@<account>)")
    parser.add_argument("--days", type=int, default=DEFAULT_TTL.days, help="lifetime in days (default 30)")
    args = parser.parse_args(argv)
    secret, _ = jwt_secret()
    ttl = timedelta(days=args.days)
    if args.role is None:
        for name, token in demo_tokens(secret, ttl).items():
            print(f"export {name}={token}")
        return 0
    account_id = args.account_id or (PLATFORM_ACCOUNT if args.role == Role.SERVICE.value else None)
    if not account_id:
        parser.error("account_id is required for viewer and admin tokens")
    print(issue_token(secret, args.sub or f"{args.role}@{account_id}", account_id, Role(args.role), ttl))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
