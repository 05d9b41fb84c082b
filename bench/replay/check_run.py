#!/usr/bin/python3
"""Compares the run summary of `tokentap replay --json` with what gen_capture.py put in.

usage: check_run.py EXPECTED.json RECORDS.jsonl
Prints OK or MISMATCH (with each differing figure); exits 1 on a mismatch.
"""
import json
import sys


def main():
    expected = json.load(open(sys.argv[1]))
    run = None
    for line in open(sys.argv[2]):
        rec = json.loads(line)
        if rec.get("type") == "run":
            run = rec
    if run is None:
        print("MISMATCH: no run record in", sys.argv[2])
        return 1
    # Proto3 JSON leaves zero fields out.
    got = {k: run.get(k, 0) for k in ("api_requests", "estimated_requests", "request_bytes", "response_bytes")}
    got["totals"] = {k: run.get("totals", {}).get(k, 0) for k in expected["totals"]}
    want = {k: expected[k] for k in got}
    bad = [k for k in got if got[k] != want[k]]
    if bad:
        for k in bad:
            print("MISMATCH %s: replay %s, generated %s" % (k, got[k], want[k]))
        return 1
    t = got["totals"]
    print("OK: %d requests, input %d, cache read %d, cache write %d, output %d tokens" % (
        got["api_requests"], t["input_tokens"], t["cache_read_tokens"], t["cache_write_tokens"],
        t["output_tokens"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
