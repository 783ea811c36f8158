"""loadgen refuses to send a Kubernetes ServiceAccount token as the API key, whatever Secret it came from."""

import base64
import json
from pathlib import Path

import pytest

from loadgen.config import RunConfig
from loadgen.credentials import is_service_account_token


def jwt(claims: dict[str, object]) -> str:
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


LEGACY = jwt({"iss": "kubernetes/serviceaccount", "kubernetes.io/serviceaccount/namespace": "team-a"})
BOUND = jwt({"iss": "https://kubernetes.default.svc", "kubernetes.io": {"namespace": "team-a"}, "sub": "x"})


@pytest.mark.parametrize(
    ("value", "token"),
    [
        (LEGACY, True),
        (BOUND, True),
        (jwt({"iss": "https://auth.example", "sub": "svc"}), False),  # someone else's JWT is a fine key
        ("sk-plain-api-key", False),
        ("a.b.c", False),
        ("a.!!!.c", False),
    ],
)
def test_service_account_tokens_are_recognised(value: str, token: bool) -> None:
    assert is_service_account_token(value) is token


def test_a_run_config_never_resolves_a_service_account_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = {"target_url": "http://127.0.0.1:1", "levels": [1], "requests_per_level": 1}
    monkeypatch.setenv("LLMLOAD_API_KEY", BOUND)
    with pytest.raises(ValueError, match="ServiceAccount token"):
        RunConfig.model_validate({**base, "api_key_env": "LLMLOAD_API_KEY"}).resolve_api_key()
    key = tmp_path / "key"
    key.write_text("sk-real\n")
    assert RunConfig.model_validate({**base, "api_key_file": str(key)}).resolve_api_key() == "sk-real"
