"""Put retained tables (left by a deleted stack) under a new stack: CloudFormation resource import.

    aws dynamodb list-tables --query "TableNames[?starts_with(@, 'OLDSTACK-')]" --output text
    python -m deploy.reattach OLDSTACK-AccountsTable-1A2B3C OLDSTACK-LedgerEntriesTable-4D5E6F ...

The protected tables (deploy/template.py PROTECTED_TABLES) are kept when their
stack is deleted, under the names CloudFormation gave them
(`<stack>-<LogicalId>-<suffix>`). From `make package`'s template and those names this
writes, in dist/reattach/:

- tables.json: a template of just those tables, each with its TableName: the IMPORT
  change set that creates the new stack holding them (an import may add nothing else);
- import.json: the `--resources-to-import` of that change set;
- sam.json: the whole packaged template with the same TableNames: what the new stack is
  deployed with from then on (a table whose name changed would be replaced).

The README (Deploying) has the commands.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from .package import OUT, ROOT
from .template import PROTECTED_TABLES, table_logical_id

DEST = ROOT / "dist" / "reattach"


def match_tables(names: list[str]) -> dict[str, str]:
    """Logical id -> table name, for each protected table found among `names`."""
    found: dict[str, str] = {}
    for logical in sorted(table_logical_id(base) for base in PROTECTED_TABLES):
        hits = [n for n in names if re.search(rf"-{logical}-[A-Za-z0-9]+$", n)]
        if len(hits) > 1:
            raise SystemExit(f"{logical}: several tables match ({', '.join(hits)}): name the old stack's only")
        if hits:
            found[logical] = hits[0]
    return found


def reattach(template: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """tables.json, import.json and sam.json for these retained tables."""
    full = json.loads(json.dumps(template))
    tables: dict[str, Any] = {}
    for logical, name in names.items():
        resource = full["Resources"][logical]
        resource["Properties"]["TableName"] = name
        tables[logical] = resource
    imports = [
        {"ResourceType": "AWS::DynamoDB::Table", "LogicalResourceId": logical, "ResourceIdentifier": {"TableName": n}}
        for logical, n in names.items()
    ]
    return {
        "tables.json": {"AWSTemplateFormatVersion": "2010-09-09", "Resources": tables},
        "import.json": imports,
        "sam.json": full,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tables", nargs="+", help="the retained tables' names (aws dynamodb list-tables)")
    parser.add_argument("--template", type=Path, default=OUT / "sam.json", help="make package's template")
    args = parser.parse_args(argv)
    names = match_tables(args.tables)
    missing = sorted(set(table_logical_id(b) for b in PROTECTED_TABLES) - set(names))
    if missing:
        print(f"not given (the new stack creates them empty): {', '.join(missing)}")
    files = reattach(json.loads(args.template.read_text()), names)
    DEST.mkdir(parents=True, exist_ok=True)
    for file, content in files.items():
        (DEST / file).write_text(json.dumps(content, indent=2) + "\n")
    for logical, name in names.items():
        print(f"  {logical:<28} {name}")
    print(f"wrote {', '.join(str((DEST / f).relative_to(ROOT)) for f in files)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
