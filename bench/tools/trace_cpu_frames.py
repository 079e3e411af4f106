#!/usr/bin/env python3
"""Frames of a `dotnet-trace collect --profile dotnet-sampled-thread-time --format Speedscope` trace, by their
inclusive share of the process's CPU samples (docs/performance.md, "Where a signed-in post's CPU goes").
usage: trace_cpu_frames.py TRACE.speedscope.json [FRAME-REGEX] [native]"""
import json, sys, re, collections
# CPU-only view of a dotnet-sampled-thread-time trace (speedscope): a stretch of a thread counts when its leaf is
# CPU_TIME (managed code running) or UNMANAGED_CODE_TIME under a crypto frame (OpenSSL's RSA verify runs natively);
# any other native leaf is a thread blocked (socket, wait, sleep) and is left out.
d = json.load(open(sys.argv[1]))
frames = [f['name'] for f in d['shared']['frames']]
CRYPTO = re.compile(r'Cryptography|Interop\+Crypto|AsymmetricAdapter|Verify')
incl = collections.Counter(); native_parent = collections.Counter(); cpu = 0.0
for p in d['profiles']:
    stack = []; last = None
    for e in p['events']:
        t = e['at']
        if last is not None and stack:
            dt = t - last
            names = [frames[i] for i in stack]
            leaf = names[-1]
            managed = [n for n in names if n not in ('CPU_TIME', 'UNMANAGED_CODE_TIME')]
            if leaf == 'UNMANAGED_CODE_TIME':
                native_parent[managed[-1] if managed else '?'] += dt
            if leaf == 'CPU_TIME' or (leaf == 'UNMANAGED_CODE_TIME' and managed and CRYPTO.search(managed[-1])):
                cpu += dt
                for n in set(managed): incl[n] += dt
        last = t
        if e['type'] == 'O': stack.append(e['frame'])
        else:
            while stack and stack.pop() != e['frame']:
                pass
pat = re.compile(sys.argv[2]) if len(sys.argv) > 2 else None
print(f"CPU {cpu:.0f} ms of samples")
for n, t in incl.most_common(600):
    if pat is None or pat.search(n):
        print(f"{100*t/cpu:5.1f}%  {n[:160]}")
if len(sys.argv) > 3:
    print("-- native leaves by parent")
    for n, t in native_parent.most_common(15): print(f"{t:8.0f} ms  {n[:150]}")
