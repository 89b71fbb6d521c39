"""Generates the Python client from the committed spec with openapi-python-client and fails on any warning.

The generator does not stop on what it cannot read: it drops the endpoint, schema or response and goes on, so a
client can come out without `list_products` or with untyped errors. This reads its report, names every piece
it dropped and why, and exits 1 when anything was dropped.

Usage: python generate.py SPEC OUTPUT_DIR
"""

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# What the generator's reasons mean for this spec (read in openapi-python-client 0.29.1's parser).
CAUSES = {
    "Cannot take allOf a non-object": (
        "a schema with two or more `allOf` members is read as an object model built from its members, and one of "
        "them is a `$ref` to an enum. poem-openapi writes `allOf: [{$ref: Enum}, {description|example: ...}]` for "
        "an enum-typed field or parameter that carries a doc comment or example. `allOf: [{$ref: Enum}]` alone "
        "(siblings `description`/`example` beside it are fine) or a plain `$ref` is read as the enum"
    ),
    "Could not find reference in parsed models or enums": (
        "the response refers to a schema the generator dropped (see the dropped schemas)"
    ),
}


def main() -> int:
    spec, output = sys.argv[1], sys.argv[2]
    run = subprocess.run(
        [
            "openapi-python-client",
            "generate",
            "--path",
            spec,
            "--config",
            str(HERE / "generator.yaml"),
            "--meta",
            "none",
            "--output-path",
            output,
            "--overwrite",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    log = run.stdout + run.stderr
    if run.returncode != 0 and "Warning(s) encountered" not in log:
        print(log)
        print(f"FAIL python client: openapi-python-client exited {run.returncode}")
        return 1

    lines = [line.strip() for line in log.splitlines() if line.strip()]
    endpoints, schemas, responses = [], [], {}
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if line.startswith("WARNING parsing") and "Endpoint will not be generated" in line:
            operation = re.sub(r"^WARNING parsing (\S+ \S+) within .*", r"\1", line)
            endpoints.append(f"{operation}: {following}")
        elif line.startswith("Unable to process schema"):
            schemas.append(f"{line.split()[-1].rstrip(':')}: {following}")
        elif line.startswith("WARNING parsing") and "response will be omitted" in following:
            operation = re.sub(r"^WARNING parsing (\S+ \S+) within .*", r"\1", line)
            reference = lines[i + 3] if i + 3 < len(lines) else ""
            responses.setdefault(operation, set()).add(reference.replace('"$ref": ', "").strip('"'))
    other = [line for line in lines if line.startswith("WARNING") and "parsing" not in line]

    for what in endpoints:
        print(f"  dropped endpoint {what}")
    for what in schemas:
        print(f"  dropped schema {what}")
    for operation, references in sorted(responses.items()):
        print(f"  untyped responses of {operation} (they refer to {', '.join(sorted(references))})")
    for line in other:
        print(f"  {line}")
    reasons = {reason for reason in CAUSES if reason in log}
    for reason in sorted(reasons):
        print(f"  cause of '{reason}': {CAUSES[reason]}")

    if endpoints or schemas or responses or other or run.returncode != 0:
        print(
            f"FAIL python client: openapi-python-client dropped {len(endpoints)} endpoint(s), {len(schemas)} "
            f"schema(s) and the typed responses of {len(responses)} operation(s) of {spec}"
        )
        return 1
    print(f"PASS python client: generated from {spec} with no warnings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
