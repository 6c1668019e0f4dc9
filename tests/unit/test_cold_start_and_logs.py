"""What every function's cold start imports, and that each log line is written once, as JSON.

Both in a fresh interpreter: imports are per process, and Lambda's runtime (like
`chalice local`) puts a handler of its own on the root logger before the app loads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_loading_the_app_imports_no_service_storage_pdf_or_payment_library() -> None:
    loaded = set(json.loads(run("import app, json, sys; print(json.dumps(sorted(sys.modules)))")))
    # Each function imports those on its first use of them (chalicelib/services/__init__.py).
    for heavy in ("boto3", "botocore", "pynamodb", "jinja2", "fpdf", "stripe", "pydantic", "aws_lambda_powertools"):
        assert heavy not in loaded, f"import app loads {heavy}"
    assert not any(m.startswith("chalicelib.services.") and m != "chalicelib.services.errors" for m in loaded)


def test_a_service_module_loads_on_first_use() -> None:
    out = run(
        "import sys\n"
        "from chalicelib.services import balances\n"
        "print('chalicelib.services.balances' in sys.modules)\n"
        "balances.balance_view\n"
        "print('chalicelib.services.balances' in sys.modules)\n"
    )
    assert out.split() == ["False", "True"]


LAMBDA_LIKE = """
import json, logging, sys
# What Lambda's Python runtime (and `chalice local`) do before the handler module loads.
logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="PLAIN %(name)s %(message)s")
import app
event = {
    "resource": "/openapi.json", "path": "/openapi.json", "httpMethod": "GET",
    "headers": {"Accept": "application/json"}, "multiValueHeaders": {},
    "queryStringParameters": None, "multiValueQueryStringParameters": None,
    "pathParameters": None, "stageVariables": None, "body": None, "isBase64Encoded": False,
    "requestContext": {"resourcePath": "/openapi.json", "httpMethod": "GET", "requestId": "r-1", "stage": "v1",
                       "path": "/v1/openapi.json", "identity": {"sourceIp": "203.0.113.9"}},
}
class Context:
    aws_request_id = "lambda-1"
    function_name = "api"
    memory_limit_in_mb = 1024
    def get_remaining_time_in_millis(self): return 20000
response = app.app(event, Context())
assert response["statusCode"] == 200, response
app.app.log.error("an error Chalice itself would log")
"""


def test_every_line_is_written_once_as_json() -> None:
    lines = [line for line in run(LAMBDA_LIKE).splitlines() if line.strip()]
    assert not [line for line in lines if line.startswith("PLAIN")], lines  # nothing reached the root handler
    records = [json.loads(line) for line in lines]
    assert [r["message"] for r in records].count("request") == 1
    assert [r["message"] for r in records].count("an error Chalice itself would log") == 1
    request = next(r for r in records if r["message"] == "request")
    assert request["status"] == 200 and request["request_id"] == "r-1" and request["function_request_id"] == "lambda-1"
