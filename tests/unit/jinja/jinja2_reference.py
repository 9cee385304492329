#!/usr/bin/python3
"""Renders templates with Jinja2 the way Hugging Face transformers renders chat templates.

Input (stdin): a JSON list of {"template": str, "context": object}.
Output (stdout): a JSON list of {"text": str} or {"error": "ExceptionType: message"}, in order.
Used by the C++ tests to compare Osprey's Jinja interpreter with the real thing, byte for byte.
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

FIXED_NOW = datetime(2026, 11, 26, 9, 30, 0)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers' override: no HTML escaping, no ASCII escaping by default.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return FIXED_NOW.strftime(format)


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    cases = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    env = make_env()
    results = []
    for case in cases:
        try:
            text = env.from_string(case["template"]).render(**case["context"])
            results.append({"text": text})
        except Exception as e:  # every failure is a result to compare, not a crash
            results.append({"error": f"{type(e).__name__}: {e}"})
    sys.stdout.buffer.write(json.dumps(results, ensure_ascii=False).encode("utf-8"))


if __name__ == "__main__":
    main()
