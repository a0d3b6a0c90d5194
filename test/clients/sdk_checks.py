"""The official `openai` Python SDK against a TokenHub gateway: one scenario per argument,
its outcome printed as one JSON object on stdout for test/clients/python.test.ts to check.

Usage: python sdk_checks.py BASE_URL SCENARIO   (keys come from the environment: TH_KEY_*)
"""
import json
import os
import sys
import time

import openai
from openai import OpenAI

BASE_URL, SCENARIO = sys.argv[1], sys.argv[2]
HELLO = [{"role": "user", "content": "hello"}]


def client(key_env: str, **kw) -> OpenAI:
    return OpenAI(base_url=BASE_URL, api_key=os.environ[key_env], **kw)


def error_of(call):
    """Runs call; returns the SDK exception's class name, status, code and headers it carried."""
    try:
        call()
    except openai.APIStatusError as e:
        body = e.body if isinstance(e.body, dict) else {}
        return {
            "class": type(e).__name__,
            "is_api_status_error": isinstance(e, openai.APIStatusError),
            "status": e.status_code,
            "code": getattr(e, "code", None) or body.get("code"),
            "type": getattr(e, "type", None) or body.get("type"),
            "should_retry": e.response.headers.get("x-should-retry"),
        }
    return {"class": None}


def chat():
    r = client("TH_KEY_MAIN", max_retries=0).chat.completions.create(model="m", messages=HELLO, max_tokens=20)
    return {"model": r.model, "content": r.choices[0].message.content, "usage": r.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"})}


def stream():
    s = client("TH_KEY_MAIN", max_retries=0).chat.completions.create(
        model="m", messages=HELLO, max_tokens=20, stream=True, stream_options={"include_usage": True}
    )
    text, usage, chunks = "", None, 0
    for chunk in s:
        chunks += 1
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage is not None:
            usage = chunk.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"})
    return {"content": text, "usage": usage, "chunks": chunks}


def fallback():
    raw = client("TH_KEY_MAIN", max_retries=0).chat.completions.with_raw_response.create(
        model="down", messages=HELLO, max_tokens=20, extra_body={"fallback_models": ["m"]}
    )
    return {"model": raw.parse().model, "header": raw.headers.get("x-tokenhub-model")}


def retry_429():
    # Spend the key's whole burst (its rpm) without retries, then one call the SDK may retry.
    burst = client("TH_KEY_RPM", max_retries=0)
    for _ in range(int(os.environ["TH_RPM"])):
        burst.chat.completions.create(model="m", messages=HELLO, max_tokens=5)
    c = client("TH_KEY_RPM", max_retries=2)
    started = time.monotonic()
    raw = c.chat.completions.with_raw_response.create(model="m", messages=HELLO, max_tokens=5)
    return {"status": raw.http_response.status_code, "waited_ms": round((time.monotonic() - started) * 1000), "retries_taken": raw.retries_taken}


def quota():
    c = client("TH_KEY_BUDGET", max_retries=2)
    c.chat.completions.create(model="m", messages=HELLO, max_tokens=5)
    started = time.monotonic()
    err = error_of(lambda: c.chat.completions.create(model="m", messages=HELLO, max_tokens=5))
    err["elapsed_ms"] = round((time.monotonic() - started) * 1000)
    return err


def errors():
    main = client("TH_KEY_MAIN", max_retries=0)
    bad = OpenAI(base_url=BASE_URL, api_key="th-not-a-real-key", max_retries=0)
    return {
        "bad_key": error_of(lambda: bad.chat.completions.create(model="m", messages=HELLO)),
        "not_allowed": error_of(lambda: main.chat.completions.create(model="private", messages=HELLO)),
        "unknown_model": error_of(lambda: main.chat.completions.create(model="no-such-model", messages=HELLO)),
        "too_many_tokens": error_of(lambda: main.chat.completions.create(model="m", messages=HELLO, max_tokens=10**6)),
        "models": [m.id for m in main.models.list()],
    }


print(json.dumps({"chat": chat, "stream": stream, "fallback": fallback, "retry_429": retry_429, "quota": quota, "errors": errors}[SCENARIO]()))
