"""Ready-to-paste commands that call the API, shown on the test and deployment pages."""

import json
import shlex

TOKEN_PLACEHOLDER = "$MLSERVE_TOKEN"


def curl_json(url: str, body: dict, token: str = TOKEN_PLACEHOLDER) -> str:
    text = json.dumps(body, separators=(",", ":"))
    if len(text) > 4000:
        text = text[:4000] + "…"
    return (
        f"curl -X POST {shlex.quote(url)} \\\n"
        f'  -H "Authorization: Token {token}" \\\n'
        f'  -H "Content-Type: application/json" \\\n'
        f"  -d {shlex.quote(text)}"
    )


def curl_file(url: str, filename: str, token: str = TOKEN_PLACEHOLDER) -> str:
    return (
        f"curl -X POST {shlex.quote(url)} \\\n"
        f'  -H "Authorization: Token {token}" \\\n'
        f"  -F file=@{shlex.quote(filename)}"
    )


def python_json(url: str, body: dict, token: str = TOKEN_PLACEHOLDER) -> str:
    token_expr = 'os.environ["MLSERVE_TOKEN"]' if token == TOKEN_PLACEHOLDER else repr(token)
    return (
        "import os\nimport requests\n\n"
        f"response = requests.post(\n    {url!r},\n"
        f'    headers={{"Authorization": f"Token {{{token_expr}}}"}},\n'
        f"    json={json.dumps(body)},\n    timeout=30,\n)\n"
        "response.raise_for_status()\nprint(response.json())"
    )
