#!/usr/bin/env python3
"""readme_examples.py - run the examples of README.md, in document order, in
one psql session (a stage of `make test`).

    readme_examples.py [--log FILE] README.md PSQL [psql connection options...]

Every ```sql block runs as written with ON_ERROR_STOP, so an example that
fails fails the stage.  A ```text block that holds lines starting with
"ERROR:" is a list of error examples, written as psql prints them with
\\set VERBOSITY verbose:

    SELECT '[1,2]'::tvec;
    ERROR:  22P02: invalid input syntax for type tvec: "[1,2]"

The SQL lines before each ERROR line run, and the SQLSTATE and message they
raise must be the ones written (DETAIL and HINT lines are not checked).
Other ```text blocks and other languages are not run.
"""
import os
import re
import subprocess
import sys
import tempfile

ERROR_LINE = re.compile(r"^ERROR:  ([0-9A-Z]{5}): (.*)$")


def blocks(path):
    """(language, first line number, lines) of each fenced block"""
    lang, start, body = None, 0, []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            if lang is None:
                m = re.match(r"^```(\w*)\s*$", line)
                if m:
                    lang, start, body = m.group(1), n + 1, []
            elif line.startswith("```"):
                yield lang, start, body
                lang = None
            else:
                body.append((n, line))
    if lang is not None:
        sys.exit(f"{path}:{start}: unclosed ``` block")


def error_items(body, where):
    """(line, sql, sqlstate, message) of each error example of a block"""
    sql, items = [], []
    for n, line in body:
        m = ERROR_LINE.match(line)
        if m:
            if not sql:
                sys.exit(f"{where}:{n}: ERROR line without SQL before it")
            items.append((n, "\n".join(sql), m.group(1), m.group(2)))
            sql = []
        elif line.startswith(("ERROR:", "DETAIL:", "HINT:")):
            if line.startswith("ERROR:"):
                sys.exit(f"{where}:{n}: write errors as 'ERROR:  SQLSTATE: message'")
        elif line.strip():
            sql.append(line)
    if sql:
        sys.exit(f"{where}: SQL after the last ERROR line of the block")
    return items


def main():
    args, log = sys.argv[1:], None
    if args[:1] == ["--log"]:
        log, args = args[1], args[2:]
    readme, psql, conn = args[0], args[1], args[2:]
    script, expected, nsql = [], {}, 0
    for lang, start, body in blocks(readme):
        if lang == "sql":
            nsql += 1
            script.append(f"\\echo '@@block {readme}:{start}'")
            script.extend(line for _, line in body)
            script.append("")
        elif lang == "text" and any(ERROR_LINE.match(l) or l.startswith("ERROR:") for _, l in body):
            for n, sql, state, msg in error_items(body, readme):
                expected[n] = (sql, state, msg)
                script.append("\\set ON_ERROR_STOP 0")
                script.append(sql)
                script.append("\\set ON_ERROR_STOP 1")
                script.append(f"\\echo @@err {n} :ERROR :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write("\\set ON_ERROR_STOP 1\n\\set VERBOSITY verbose\n" + "\n".join(script) + "\n")
        path = f.name
    res = subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", *conn, "-f", path],
                         capture_output=True, text=True)
    os.unlink(path)
    out = res.stdout.splitlines()
    if log:
        with open(log, "w", encoding="utf-8") as f:
            f.write(res.stdout + res.stderr)
    block = next((l for l in reversed(out) if l.startswith("@@block ")), "@@block (none)")
    if res.returncode != 0:
        print(res.stderr[-4000:])
        print(f"FAILED: the example block at {block[8:]} (psql exit {res.returncode})")
        return 1
    seen, bad = set(), 0
    for line in out:
        m = re.match(r"^@@err (\d+) (\w+) (\S*) ?(.*)$", line)
        if not m:
            continue
        n = int(m.group(1))
        seen.add(n)
        sql, state, msg = expected[n]
        if m.group(2) != "true":
            print(f"{readme}:{n}: {sql!r} raised no error; README says {state}: {msg}")
            bad += 1
        elif (m.group(3), m.group(4)) != (state, msg):
            print(f"{readme}:{n}: {sql!r}\n  README: {state}: {msg}\n  got:    {m.group(3)}: {m.group(4)}")
            bad += 1
    for n in sorted(set(expected) - seen):
        print(f"{readme}:{n}: error example did not run")
        bad += 1
    print(f"{readme}: {nsql} sql blocks ran, {len(expected) - bad} of {len(expected)} error examples as written")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
