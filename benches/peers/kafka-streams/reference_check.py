#!/usr/bin/env python3
"""Independent check of the Kafka Streams peer's output.

Recomputes the queue job's windows (offered / answered / abandoned / queue-wait
sum per queue x channel, hopping 5 min windows every 30 s) by brute force from
a JSON-lines copy of the input (`generate --copy-to FILE`), and compares them
with the job's merged output (`dump --merge`). Assumes no record is late (true
for `generate` data read per partition), so every contribution lands in all
ten of its windows.

    python3 reference_check.py EVENTS.jsonl MERGED_DUMP.tsv
"""
import datetime
import json
import sys
from collections import defaultdict

SLICE, LENGTH = 30_000, 300_000


def millis(s):
    return int(datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)


def reference(path):
    state = {}  # interaction id -> [queue, channel, queued_at, waiting]
    agg = defaultdict(lambda: [0, 0, 0, 0])

    def add(queue, channel, t, field, wait=0):
        start = (t // SLICE) * SLICE
        while start > t - LENGTH:
            a = agg[(queue, channel, start)]
            a[field] += 1
            a[3] += wait
            start -= SLICE

    for line in open(path, encoding="utf-8"):
        if not line.strip() or line.startswith("#"):
            continue
        e = json.loads(line)
        it = e.get("interaction")
        if not it:
            continue
        t, iid = millis(e["occurredAt"]), it["interactionId"]
        s = state.get(iid)
        if "queued" in it:
            state[iid] = [it["queued"]["queue"], it["queued"]["channel"], t, True]
            add(it["queued"]["queue"], it["queued"]["channel"], t, 0)
        elif "transferred" in it and s is not None:
            if it["transferred"].get("toQueue"):
                s[0], s[2], s[3] = it["transferred"]["toQueue"], t, True
                add(s[0], s[1], t, 0)
            else:
                s[3] = False
        elif "answered" in it and s is not None and s[3]:
            s[3] = False
            add(s[0], s[1], t, 1, max(0, t - s[2]))
        elif "abandoned" in it and s is not None and s[3]:
            del state[iid]
            add(s[0], s[1], t, 2)
    return agg


def main():
    agg = reference(sys.argv[1])
    got = {}
    for line in open(sys.argv[2], encoding="utf-8"):
        key, value = line.rstrip("\n").split("\t")
        got[key] = json.loads(value)
    bad = 0
    for (queue, channel, start), a in sorted(agg.items()):
        when = datetime.datetime.fromtimestamp(start / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        key = f"{queue}|{channel}|{when}"
        g = got.get(key)
        if g is None or [g["offered"], g["answered"], g["abandoned"], g["queueWaitSumMs"]] != a:
            bad += 1
            if bad <= 5:
                print("mismatch", key, "expected", a, "got", g)
    print(f"reference windows {len(agg)}, output windows {len(got)}, mismatches {bad}")
    sys.exit(1 if bad or len(got) != len(agg) else 0)


if __name__ == "__main__":
    main()
