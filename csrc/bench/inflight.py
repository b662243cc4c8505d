#!/usr/bin/env python3
"""inflight.py: memory per 1,000 INVITE transactions in flight through examples/proxy.lua.

usage: inflight.py [--calls 2000] [--rate 400] [--hold-ms 15000] [--port 41860]
Run from the repository root. A SIPp UAS (csrc/bench/sipp/uas_hold.xml) answers 180 at once and
the final 486 only after --hold-ms; a SIPp UAC places --calls calls through the proxy. When they
are all ringing, every relayed INVITE holds a server and a client transaction in the C core and
the proxy's state in Lua. The proxy runs under soak_proxy.lua with a full collection before each
sample (SOAK_LIVE_EVERY=1), so the Lua figure is the live heap, not garbage. Prints one JSON line:
RSS and live Lua heap before and while the calls ring, and both per 1,000 calls in flight.
"""
import argparse, json, os, subprocess, sys, tempfile, time

ROOT = os.getcwd()
HERE = os.path.join(ROOT, "csrc", "bench")
SHARED = os.path.join(ROOT, "..", "shared", "bench", "sipp")

def last(samples):
    rows = [l.split() for l in open(samples).read().splitlines() if len(l.split()) > 8]
    r = rows[-1]
    return int(r[1]), float(r[8]) # rss KiB, live heap KiB

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rate", type=int, default=400)
    ap.add_argument("--hold-ms", type=int, default=15000)
    ap.add_argument("--port", type=int, default=41860)
    a = ap.parse_args()
    p, d = a.port, tempfile.mkdtemp(prefix="inflight.")
    samples = os.path.join(d, "samples.txt")
    env = dict(os.environ, SOAK_SAMPLES=samples, SOAK_LIVE_EVERY="1")
    srv = subprocess.Popen(["lua5.4", "csrc/bench/soak_proxy.lua", "--listen", f"udp:127.0.0.1:{p}",
                            "--realm", "example.com", "--quiet"], env=env,
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "proxy.log"), "w"))
    procs = []
    try:
        time.sleep(1.5)
        target = f"127.0.0.1:{p}"
        procs.append(subprocess.Popen(["sipp", "-nostdin", "-i", "127.0.0.1", "-p", str(p + 10), "-sf",
                                       os.path.join(HERE, "sipp", "uas_hold.xml"), "-d", str(a.hold_ms)],
                                      cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        csv = os.path.join(d, "bob.csv")
        open(csv, "w").write("SEQUENTIAL\nbob;secret\n")
        r = subprocess.run(["sipp", "-nostdin", "-i", "127.0.0.1", "-p", str(p + 12), target, "-sf",
                            os.path.join(SHARED, "reg_contact.xml"), "-inf", csv, "-m", "1", "-key",
                            "contact_port", str(p + 10), "-timeout", "10s", "-timeout_error"],
                           cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            print(json.dumps({"error": "could not register bob"}))
            return 2
        time.sleep(2.5)
        rss0, live0 = last(samples)
        procs.append(subprocess.Popen(["sipp", "-nostdin", "-i", "127.0.0.1", "-p", str(p + 20), target, "-sf",
                                       os.path.join(HERE, "sipp", "uac_hold.xml"), "-s", "bob", "-r", str(a.rate),
                                       "-l", str(a.calls), "-m", str(a.calls), "-timeout", f"{a.hold_ms // 1000 + 40}s"],
                                      cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # every call placed, none answered yet: sample then
        time.sleep(min(a.calls / a.rate + 3, a.hold_ms / 1000 - 2))
        rss1, live1 = last(samples)
        k = 1000 / a.calls
        print(json.dumps({"calls": a.calls, "rss_mib": [round(rss0 / 1024, 1), round(rss1 / 1024, 1)],
                          "live_heap_mib": [round(live0 / 1024, 1), round(live1 / 1024, 1)],
                          "rss_kib_per_1000": round((rss1 - rss0) * k), "lua_kib_per_1000": round((live1 - live0) * k)}))
        return 0
    finally:
        for pr in procs:
            pr.terminate()
        srv.terminate()
        try:
            srv.wait(10)
        except subprocess.TimeoutExpired:
            srv.kill()

if __name__ == "__main__":
    sys.exit(main())
