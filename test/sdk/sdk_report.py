"""Per-call report for the SDK lifecycle scripts: every SDK call runs through `Report.call`, which records whether
it succeeded (returned without raising, and the check passed) and the error otherwise; the report is printed as one
JSON object on stdout at the end. A call whose inputs come from a failed call is recorded as failed too."""

import json
import os
import sys
import time
import traceback

URL = os.environ["QUARRY_URL"].rstrip("/")
API_KEY = os.environ["QUARRY_API_KEY"]
PREFIX = os.environ.get("SDK_PREFIX", "sdk")
URI = "quarry://text_extractor@v1/all_minilm_l6_v2"
TEXT_FX = {"feature_extractor_name": "text_extractor", "version": "v1", "params": {"embedding_model": "all_minilm_l6_v2"}}
NOTES = [
    ("The espresso machine needs descaling every month to keep the coffee tasting right.", "kitchen"),
    ("A flat bicycle tyre is fixed by patching the inner tube after finding the puncture.", "bike"),
    ("Tomato seedlings want warm soil and plenty of sunlight before planting out.", "garden"),
]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def describe(e):
    body = getattr(e, "body", None)
    status = getattr(e, "status", None)
    detail = getattr(e, "detail", None)
    if status is not None:
        return f"{type(e).__name__} {status}: {str(body if body is not None else detail)[:600]}"
    return f"{type(e).__name__}: {str(e)[:600]}"


class Report:
    def __init__(self, layer):
        self.layer = layer
        self.calls = []

    def call(self, name, fn, *, needs=(), check=None):
        """Runs fn(); records ok unless it raises, returns None where a value is expected, or check(result) fails."""
        if any(n is None for n in needs):
            self.calls.append({"call": name, "ok": False, "error": "not attempted: an earlier call it depends on failed"})
            log(f"[{self.layer}] {name}: SKIPPED")
            return None
        started = time.time()
        try:
            result = fn()
            if check is not None:
                problem = check(result)
                if problem:
                    raise AssertionError(problem if isinstance(problem, str) else f"unexpected result: {str(result)[:400]}")
            self.calls.append({"call": name, "ok": True, "ms": round((time.time() - started) * 1000)})
            log(f"[{self.layer}] {name}: ok")
            return result if result is not None else True
        except Exception as e:  # noqa: BLE001 - every failure is the finding
            err = describe(e)
            self.calls.append({"call": name, "ok": False, "error": err})
            log(f"[{self.layer}] {name}: FAILED {err}")
            if os.environ.get("SDK_TRACE"):
                traceback.print_exc()
            return None

    def poll(self, name, fn, done, *, needs=(), timeout=180.0, interval=0.5):
        """One recorded call that repeats fn() until done(result) is true (a status poll)."""
        def run():
            deadline = time.time() + timeout
            last = None
            while time.time() < deadline:
                last = fn()
                if done(last):
                    return last
                time.sleep(interval)
            raise TimeoutError(f"timed out after {timeout}s; last: {str(last)[:400]}")
        return self.call(name, run, needs=needs)

    def emit(self):
        ok = sum(1 for c in self.calls if c["ok"])
        print(json.dumps({"layer": self.layer, "passed": ok, "total": len(self.calls), "calls": self.calls}))
