#!/usr/bin/env python3
"""soak.py: memory of examples/proxy.lua under a long mixed SIPp load (registrations, relayed
MESSAGEs and calls at once, at the fixed rates of ../shared/bench/compare.py), sampled every second.

usage: soak.py [--seconds 600] [--port 41760] [--reg-rate 100] [--msg-rate 300] [--call-rate 200]
               [--env K=V] [--proxy-args '...'] [--samples FILE]
Run from the repository root. The proxy runs under csrc/bench/soak_proxy.lua, which writes
"seconds rss_kib heap_kib cache_kib malloc_used_kib malloc_free_kib txn_kib loc_kib [live_kib]" each second
(--env SOAK_LIVE_EVERY=N: a full collection every N s gives the live heap, and the live total:
Lua's live heap plus what the C core holds, that is malloc's bytes in use less the allocator
cache). Prints a line per minute (RSS, Lua heap, RSS/heap, RSS/live), then one JSON line: the SIPp totals (ok, failed), the proxy's CPU per SIPp call, and
the memory at the end and at its peak. Ports: the proxy on PORT, the MESSAGE and call UASes on PORT+10 and PORT+11, the
registrations of their users from PORT+12, the load from PORT+20..22: away from the 5060 of the
other benchmarks. Not part of make test: it runs for minutes.
"""
import argparse, json, os, signal, subprocess, sys, tempfile, time

ROOT = os.getcwd()
SIPP = os.path.join(ROOT, "..", "shared", "bench", "sipp")

def sipp(args, log):
    return subprocess.Popen(["sipp", "-nostdin", "-i", "127.0.0.1"] + args, cwd=log,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def totals(d, name):
    """SuccessfulCall and FailedCall of the last row of a SIPp -trace_stat file."""
    try:
        rows = open(os.path.join(d, name)).read().splitlines()
        row = dict(zip(rows[0].split(";"), rows[-1].split(";")))
        return int(row.get("SuccessfulCall(C)", 0)), int(row.get("FailedCall(C)", 0))
    except (OSError, IndexError, ValueError):
        return 0, 0

def live_kib(row):
    """What the process holds live at a sample taken just after a full collection: every byte
    malloc has handed out (the Lua heap, now without garbage, and the C core's transactions,
    connections and tables) less the free blocks the Lua allocator's cache keeps."""
    return max(float(row[4]) - float(row[3]), 1)

def cpu_s(pid):
    """utime + stime of a process, in seconds."""
    f = open(f"/proc/{pid}/stat").read()
    f = f[f.rindex(")") + 2:].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--port", type=int, default=41760)
    ap.add_argument("--reg-rate", type=int, default=100)
    ap.add_argument("--msg-rate", type=int, default=300)
    ap.add_argument("--call-rate", type=int, default=200)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--proxy-args", default="")
    ap.add_argument("--samples")
    a = ap.parse_args()
    p = a.port
    d = tempfile.mkdtemp(prefix="soak.")
    samples = a.samples or os.path.join(d, "samples.txt")
    env = dict(os.environ, SOAK_SAMPLES=samples)
    for kv in a.env:
        k, v = kv.split("=", 1)
        env[k] = v
    cmd = f"exec lua5.4 csrc/bench/soak_proxy.lua --listen udp:127.0.0.1:{p} --realm example.com --quiet {a.proxy_args}"
    srv = subprocess.Popen(cmd, shell=True, env=env, stdout=subprocess.DEVNULL,
                           stderr=open(os.path.join(d, "proxy.log"), "w"))
    procs = []
    try:
        time.sleep(1.5)
        target = f"127.0.0.1:{p}"
        procs.append(sipp(["-p", str(p + 10), "-sf", os.path.join(SIPP, "uas_message.xml")], d))
        procs.append(sipp(["-p", str(p + 11), "-sf", os.path.join(SIPP, "uas_call.xml")], d))
        time.sleep(0.5)
        for user, port in (("bob", p + 10), ("carol", p + 11)):
            csv = os.path.join(d, user + ".csv")
            open(csv, "w").write(f"SEQUENTIAL\n{user};secret\n")
            r = subprocess.run(["sipp", "-nostdin", "-i", "127.0.0.1", "-p", str(p + 12), target, "-sf",
                                os.path.join(SIPP, "reg_contact.xml"), "-inf", csv, "-m", "1", "-key",
                                "contact_port", str(port), "-timeout", "10s", "-timeout_error"],
                               cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if r.returncode != 0:
                print(json.dumps({"error": f"could not register {user}"}))
                return 2
        common = ["-timeout", f"{a.seconds + 60}s", "-trace_stat", "-fd", "10", "-recv_timeout", "10000"]
        load = [("reg", ["-sf", os.path.join(SIPP, "reg.xml"), "-inf", os.path.join(SIPP, "users.csv")], a.reg_rate, 20),
                ("message", ["-sf", os.path.join(SIPP, "uac_message.xml"), "-s", "bob"], a.msg_rate, 21),
                ("call", ["-sf", os.path.join(SIPP, "uac_call.xml"), "-s", "carol"], a.call_rate, 22)]
        t0, c0 = time.time(), cpu_s(srv.pid)
        uacs = []  # also in procs: an interrupted soak stops them too
        for name, args, rate, off in load:
            if rate <= 0:
                continue
            uacs.append((name, sipp([target, "-p", str(p + off), "-r", str(rate), "-l", str(rate * 4),
                                     "-m", str(rate * a.seconds), "-stf", f"{name}.csv"] + args + common, d)))
            procs.append(uacs[-1][1])
        minute = 60
        while any(u.poll() is None for _, u in uacs) and time.time() - t0 < a.seconds + 90:
            time.sleep(1)
            if time.time() - t0 >= minute:
                minute += 60
                rows = [l.split() for l in open(samples).read().splitlines()]
                last = rows[-1]
                lr = [r for r in rows if len(r) > 8]
                lr = f"  live {live_kib(lr[-1]) / 1024:6.1f} rss/live {int(lr[-1][1]) / live_kib(lr[-1]):.2f}" if lr else ""
                print(f"{float(last[0]):6.0f} s  rss {int(last[1]) / 1024:7.1f} MiB  heap {float(last[2]) / 1024:7.1f} MiB"
                      f"  cache {float(last[3]) / 1024:5.1f}  malloc used {float(last[4]) / 1024:6.1f} free {float(last[5]) / 1024:6.1f}"
                      f"  txn {float(last[6]) / 1024:5.1f} loc {float(last[7]) / 1024:5.1f}"
                      f"  rss/heap {int(last[1]) / max(float(last[2]), 1):.2f}{lr}", flush=True)
        cpu = cpu_s(srv.pid) - c0
        res = {"seconds": a.seconds, "dir": d}
        done = 0
        for name, u in uacs:
            if u.poll() is None:
                u.terminate()
            ok, failed = totals(d, f"{name}.csv")
            res[name] = {"ok": ok, "failed": failed}
            done += ok
        # the proxy's CPU per SIPp call (a REGISTER, a MESSAGE or a whole call), sampler included
        res["cpu_s"] = round(cpu, 2)
        res["cpu_us_per_call"] = round(cpu / max(done, 1) * 1e6, 1)
        rows = [l.split() for l in open(samples).read().splitlines() if l.strip()]
        end = rows[-1]
        res["end"] = {"rss_mib": round(int(end[1]) / 1024, 1), "heap_mib": round(float(end[2]) / 1024, 1),
                      "cache_mib": round(float(end[3]) / 1024, 1), "txn_mib": round(float(end[6]) / 1024, 1),
                      "location_mib": round(float(end[7]) / 1024, 1)}
        res["peak_rss_mib"] = round(max(int(r[1]) for r in rows) / 1024, 1)
        res["peak_heap_mib"] = round(max(float(r[2]) for r in rows) / 1024, 1)
        lives = [r for r in rows if len(r) > 8]
        if lives:
            res["live_heap_mib"] = [round(float(r[8]) / 1024, 1) for r in lives]
            res["live_mib"] = [round(live_kib(r) / 1024, 1) for r in lives]
            # from 20 s on: before, the process's code and libraries (some 9 MiB of RSS) weigh
            # against a heap that is still filling
            settled = [r for r in lives if float(r[0]) >= 20] or lives
            res["max_rss_over_live"] = round(max(int(r[1]) / live_kib(r) for r in settled), 2)
            # the same for what the load added, over the first sample (before any load): the
            # ratio of a short soak, whose heap is small beside the process's code
            r0 = rows[0]
            res["max_rss_growth_over_live_growth"] = round(max(
                (int(r[1]) - int(r0[1])) / max(live_kib(r) - live_kib(r0), 1) for r in settled), 2)
        res["max_malloc_free_mib"] = round(max(float(r[5]) for r in rows) / 1024, 1)
        res["max_rss_over_heap"] = round(max(int(r[1]) / max(float(r[2]), 1) for r in rows[10:] or rows), 2)
        print(json.dumps(res))
        return 0
    finally:
        for pr in procs:
            pr.terminate()
        srv.send_signal(signal.SIGTERM)
        try:
            srv.wait(10)
        except subprocess.TimeoutExpired:
            srv.kill()

if __name__ == "__main__":
    sys.exit(main())
