"""Checks `ipsecmgr lint --format sarif` output against the SARIF 2.1.0
schema (OASIS, errata 01, vendored in tests/schemas) and against what the
findings must say: rule ids are lint codes with help text, and each result
has its rule, level, file and line.

Usage: validate_sarif.py SCHEMA SARIF[:EXPECTED-CODE]...
"""

import json
import sys

import jsonschema


def main(schema_path, sarif_path, expected_codes):
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    with open(sarif_path, encoding="utf-8") as f:
        log = json.load(f)
    validator = jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    for e in errors:
        print(f"{sarif_path}: {'/'.join(map(str, e.path))}: {e.message}")
    if errors:
        return 1
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    failures = []
    for rule in rules:
        if not rule.get("help", {}).get("text"):
            failures.append(f"rule {rule['id']} has no help text")
    found = []
    for result in run["results"]:
        rule = rules[result["ruleIndex"]]
        if rule["id"] != result["ruleId"]:
            failures.append(f"result {result['ruleId']} points at rule {rule['id']}")
        place = result["locations"][0]["physicalLocation"]
        if not place["artifactLocation"]["uri"] or place["region"]["startLine"] < 1:
            failures.append(f"result {result['ruleId']} has no place: {place}")
        found.append(result["ruleId"])
    for code in expected_codes:
        if code not in found:
            failures.append(f"{code} expected among the results {found}")
    for f in failures:
        print(f"{sarif_path}: {f}")
    return 1 if failures else 0


def check_all(schema_path, pairs):
    failed = 0
    for pair in pairs:
        path, _, code = pair.partition(":")
        failed |= main(schema_path, path, [code] if code else [])
    return failed


if __name__ == "__main__":
    sys.exit(check_all(sys.argv[1], sys.argv[2:]))
