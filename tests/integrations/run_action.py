"""Runs the composite action in action.yml the way a runner would, on this
machine: each step's `run` script with bash, its `env` and `if` evaluated
from a context of inputs, the event and earlier steps' outputs.  Only the
expressions action.yml uses are understood; any other is an error, so the
runner cannot silently skip a step.

Usage: run_action.py ACTION_YML EVENT_NAME BASE_SHA [INPUT=VALUE...]
Prints the job summary; exits with the status of the first failing step.
"""

import os
import re
import subprocess
import sys
import tempfile

import yaml

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def lookup(context, path):
    value = context
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise SystemExit(f"run_action: unknown expression {path!r}")
        value = value[part]
    return value


def substitute(text, context):
    return EXPR.sub(lambda m: str(lookup(context, m.group(1))), str(text))


def condition(expr, context):
    """`a == 'x' && b == 'y'`, the only form action.yml uses."""
    for clause in expr.split("&&"):
        m = re.fullmatch(r"\s*([\w.-]+)\s*==\s*'([^']*)'\s*", clause)
        if not m:
            raise SystemExit(f"run_action: unsupported condition {expr!r}")
        if str(lookup(context, m.group(1))) != m.group(2):
            return False
    return True


def read_outputs(path):
    outputs = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            if key:
                outputs[key] = value
    return outputs


def main(action_yml, event_name, base_sha, assignments):
    with open(action_yml, encoding="utf-8") as f:
        action = yaml.safe_load(f)
    inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    for a in assignments:
        key, _, value = a.partition("=")
        if key not in inputs:
            raise SystemExit(f"run_action: no input {key}")
        inputs[key] = value
    temp = tempfile.mkdtemp()
    summary = os.path.join(temp, "summary.md")
    open(summary, "w").close()
    context = {
        "inputs": inputs,
        "steps": {},
        "github": {
            "action_path": os.path.dirname(os.path.abspath(action_yml)),
            "event_name": event_name,
            "event": {"pull_request": {"base": {"sha": base_sha}}},
        },
    }
    status = 0
    for i, step in enumerate(action["runs"]["steps"]):
        if "if" in step and not condition(step["if"], context):
            continue
        output = os.path.join(temp, f"output-{i}")
        open(output, "w").close()
        env = dict(os.environ)
        env.update({k: substitute(v, context) for k, v in step.get("env", {}).items()})
        env.update(
            GITHUB_OUTPUT=output, GITHUB_STEP_SUMMARY=summary, RUNNER_TEMP=temp
        )
        run = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", step["run"]], env=env, timeout=900
        )
        if "id" in step:
            context["steps"][step["id"]] = {"outputs": read_outputs(output)}
        if run.returncode != 0:
            status = run.returncode
            break
    with open(summary, encoding="utf-8") as f:
        sys.stdout.write("--- job summary ---\n" + f.read())
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]))
