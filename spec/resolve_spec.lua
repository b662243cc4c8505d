-- sip.resolve and sip.resolver: RFC 3263 §4 over a real DNS server (dnsmasq on 127.0.0.1, a
-- throwaway test zone), failover (§4.3), a name server that never answers, lookups bounded per
-- source, and malformed answers from a raw responder written here (bad input, not a stand-in
-- for a DNS server). Every lookup runs inside the libev loop: nothing blocks it.
local sip = require "sip"
local loop = require "sip.loop"
local route = require "sip.route"
local resolver = require "sip.resolver"
local peers = require "support.peers"

-- The raw responder: "bad" answers each test name in its own broken way (over UDP, and over
-- TCP for the retry a truncated answer asks for); "silent" reads every query and drops it.
local RAW_PY = [==[
import socket, struct, sys, select
port, mode = int(sys.argv[1]), sys.argv[2]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', port))
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(('127.0.0.1', port)); t.listen(8)
def name(n): return b''.join(bytes([len(l)]) + l.encode() for l in n.split('.') if l) + b'\0'
def cs(s): return bytes([len(s)]) + s.encode()
def rr(owner, typ, rdata, ttl=60): return owner + struct.pack('>HHIH', typ, 1, ttl, len(rdata)) + rdata
def answer(q, tcp):
    i = 12
    labels = []
    while q[i]:
        labels.append(q[i+1:i+1+q[i]].decode().lower()); i += 1 + q[i]
    qn, qt = '.'.join(labels), struct.unpack('>H', q[i+1:i+3])[0]
    question = q[12:i+5]
    flags, an, cut = 0x8180, [], 0
    here = b'\xc0\x0c'
    if qn == 'ok.bad.test' and qt == 1: an = [rr(here, 1, bytes([127, 0, 0, 1]))]
    elif qn == 'self.bad.test': an = [rr(here, 5, here)]                       # CNAME to itself
    elif qn == 'loop.bad.test':                                                 # NAPTR to itself
        if qt == 35: an = [rr(here, 35, struct.pack('>HH', 10, 10) + cs('S') + cs('SIP+D2U') + cs('') + name(qn))]
        elif qt == 33: an = [rr(here, 33, struct.pack('>HHH', 0, 0, 5060) + name(qn))]
        else: an = [rr(here, 5, here)]
    elif qn == 'huge.bad.test':                                                 # 200 records
        if not tcp: flags |= 0x0200
        else: an = [rr(here, 1, bytes([127, 0, 1, k % 250])) for k in range(200)]
    elif qn == 'trunc.bad.test': an, cut = [rr(here, 1, bytes([127, 0, 0, 9]))], 3  # cut short
    elif qn == 'ptr.bad.test':                                                  # pointer loop
        off = 12 + len(question)
        an = [rr(struct.pack('>H', 0xc000 | off), 1, bytes([127, 0, 0, 8]))]
    elif not qn.endswith('.bad.test') or qt != 1: flags |= 3
    m = q[:2] + struct.pack('>HHHHH', flags, 1, len(an), 0, 0) + question + b''.join(an)
    return m[:len(m) - cut]
conns = []
while True:
    r, _, _ = select.select([u, t] + conns, [], [])
    for s in r:
        if s is u:
            q, a = u.recvfrom(4096)
            if mode == 'bad': u.sendto(answer(q, False), a)
        elif s is t:
            c, _ = t.accept(); conns.append(c)
        else:
            d = s.recv(4096)
            if len(d) < 2:
                conns.remove(s); s.close(); continue
            if mode == 'bad':
                m = answer(d[2:], True); s.sendall(struct.pack('>H', len(m)) + m)
]==]

local function raw_server(mode)
  local port = peers.free_port()
  return peers.process { name = "raw-dns", port = port, wait = "udp", lifetime = 120,
    files = { ["raw.py"] = RAW_PY }, argv = { "python3", "{dir}/raw.py", port, mode } }
end

local function in_loop(fn)
  local ok, err = sip.run(fn)
  assert(ok, err)
end

local function dests(list)
  local out = {}
  for i, d in ipairs(list) do out[i] = ("%s:%s:%d"):format(d.proto, d.host, d.port) end
  return out
end

describe("sip.resolve", function()
  local dns
  local LIVE, DEAD = peers.free_port(), peers.free_port() -- the live SIP server; nothing on DEAD
  setup(function()
    dns = peers.dnsmasq { lines = {
      "local=/test/",
      "host-record=a.zone.test,127.0.0.1",
      "host-record=b.zone.test,127.0.0.2",
      "host-record=v6.zone.test,::1",
      "host-record=c.zone.test,127.0.0.3",
      "host-record=dual.zone.test,127.0.0.1,::1",
      "naptr-record=udp.zone.test,10,10,S,SIP+D2U,,_sip._udp.udp.zone.test",
      "srv-host=_sip._udp.udp.zone.test,a.zone.test,5071,0,0",
      "naptr-record=tcp.zone.test,10,10,S,SIP+D2T,,_sip._tcp.tcp.zone.test",
      "srv-host=_sip._tcp.tcp.zone.test,a.zone.test,5072,0,0",
      "naptr-record=tls.zone.test,10,10,S,SIPS+D2T,,_sips._tcp.tls.zone.test",
      "srv-host=_sips._tcp.tls.zone.test,b.zone.test,5073,0,0",
      "naptr-record=both.zone.test,20,10,S,SIP+D2U,,_sip._udp.udp.zone.test",
      "naptr-record=both.zone.test,10,10,S,SIP+D2T,,_sip._tcp.tcp.zone.test",
      "naptr-record=both.zone.test,5,10,S,SIP+D2X,,_sip._x.tcp.zone.test",
      "srv-host=_sip._udp.srv.zone.test,b.zone.test,5074,10,0",
      "srv-host=_sip._udp.srv.zone.test,a.zone.test,5075,20,0",
      "srv-host=_sip._tcp.srv.zone.test,a.zone.test,5076,0,0",
      "srv-host=_sip._udp.fo.zone.test,a.zone.test," .. DEAD .. ",10,0",
      "srv-host=_sip._udp.fo.zone.test,a.zone.test," .. LIVE .. ",20,0",
      "srv-host=_sip._tcp.fo.zone.test,a.zone.test," .. DEAD .. ",10,0",
      "srv-host=_sip._tcp.fo.zone.test,a.zone.test," .. LIVE .. ",20,0",
      "srv-host=_sip._udp.fp.zone.test,a.zone.test," .. DEAD .. ",10,0",
      "srv-host=_sip._udp.fp.zone.test,a.zone.test," .. LIVE .. ",20,0",
      "srv-host=_sip._udp.ex.zone.test,a.zone.test," .. LIVE .. ",0,0",
      "srv-host=_sip._tcp.fu.zone.test,a.zone.test," .. DEAD .. ",10,0",
      "srv-host=_sip._tcp.fu.zone.test,a.zone.test," .. LIVE .. ",20,0",
      "host-record=victim.zone.test,127.0.0.1",
    } }
    resolver.configure { servers = { dns.addr }, timeout = 1 }
  end)
  teardown(peers.cleanup)
  after_each(function() assert.equal(0, loop.active()) end)

  describe("RFC 3263 §4.1 transport and §4.2 port, from dnsmasq's zone", function()
    local cases = {
      { "NAPTR SIP+D2U -> SRV -> A", "sip:udp.zone.test", { "udp:127.0.0.1:5071" } },
      { "NAPTR SIP+D2T -> SRV -> A", "sip:tcp.zone.test", { "tcp:127.0.0.1:5072" } },
      { "NAPTR SIPS+D2T -> SRV -> A", "sips:tls.zone.test", { "tls:127.0.0.2:5073" } },
      { "NAPTR in order, services we lack skipped", "sip:both.zone.test",
        { "tcp:127.0.0.1:5072", "udp:127.0.0.1:5071" } },
      { "sips: only SIPS+ services", "sips:both.zone.test", nil, "no NAPTR, SRV or A record for both.zone.test" },
      { "SRV only, by priority (RFC 2782), every transport", "sip:srv.zone.test",
        { "udp:127.0.0.2:5074", "udp:127.0.0.1:5075", "tcp:127.0.0.1:5076" } },
      { "transport= asks SRV of that transport", "sip:srv.zone.test;transport=tcp", { "tcp:127.0.0.1:5076" } },
      { "A only: the default port", "sip:alice@a.zone.test", { "udp:127.0.0.1:5060" } },
      { "A only, sips: TLS on 5061", "sips:a.zone.test", { "tls:127.0.0.1:5061" } },
      { "AAAA", "sip:v6.zone.test", { "udp:::1:5060" } },
      { "an explicit port: A and AAAA, no SRV", "sip:dual.zone.test:5099;transport=tcp",
        { "tcp:127.0.0.1:5099", "tcp:::1:5099" } },
      { "an explicit port skips SRV", "sip:srv.zone.test:5080", nil, "no A or AAAA record for srv.zone.test" },
      { "NXDOMAIN: a clear error", "sip:bob@nowhere.zone.test", nil,
        "no NAPTR, SRV or A record for nowhere.zone.test: no such domain" },
    }
    for _, c in ipairs(cases) do
      it(c[1] .. ": " .. c[2], function()
        in_loop(function()
          local list, err = sip.resolve(c[2])
          if c[3] then
            assert.same(c[3], list and dests(list), err)
            local u = sip.uri(c[2])
            assert.equal(u.host, list[1].domain)
          else
            assert.is_nil(list)
            assert.equal(c[4], err:sub(1, #c[4]))
          end
        end)
      end)
    end

    it("an IP literal or maddr asks nothing; a name asks once, then the cache answers", function()
      in_loop(function()
        local q0 = resolver.stats().queries
        assert.same({ "udp:192.0.2.9:5060" }, dests(sip.resolve("sip:x@a.zone.test;maddr=192.0.2.9")))
        assert.same({ "tcp:::1:5062" }, dests(sip.resolve("sip:[::1]:5062;transport=tcp")))
        assert.equal(q0, resolver.stats().queries)
        sip.resolve("sip:c.zone.test:5090")
        local q1 = resolver.stats().queries
        assert.is_true(q1 > q0)
        for _ = 1, 10 do assert.same({ "udp:127.0.0.3:5090" }, dests(sip.resolve("sip:c.zone.test:5090"))) end
        assert.equal(q1, resolver.stats().queries)
      end)
    end)

    it("a negative answer is cached too (RFC 2308)", function()
      in_loop(function()
        assert.is_nil(resolver.query("neg.zone.test", "A"))
        local q = resolver.stats().queries
        local r, err, kind = resolver.query("neg.zone.test", "A")
        assert.is_nil(r)
        assert.equal("no such domain", err)
        assert.equal("noname", kind)
        assert.equal(q, resolver.stats().queries)
      end)
    end)

    it("works before the loop runs (a script's setup)", function()
      assert.same({ "udp:127.0.0.2:5091" }, dests(sip.resolve("sip:b.zone.test:5091")))
    end)
  end)

  describe("RFC 3263 §4.3 failover: two SRV targets, the first down", function()
    for _, proto in ipairs { "udp", "tcp" } do
      it((proto == "udp" and "silence on UDP (Timer F)" or "connection refused on TCP")
          .. ": the request arrives, later requests skip the dead target", function()
        in_loop(function()
          local got = 0
          local server <close> = assert(sip.endpoint { listen = { proto .. ":127.0.0.1:" .. LIVE },
            handler = function(req) got = got + 1; req:reply(200) end })
          assert.equal(LIVE, server.listeners[1].port)
          local client <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0", "tcp:127.0.0.1:0" },
            t1 = 0.02 })
          local uri = "sip:bob@fo.zone.test" .. (proto == "tcp" and ";transport=tcp" or "")
          local list = assert(sip.resolve(uri))
          if proto == "udp" then list = { list[1], list[2] } end
          assert.same({ proto .. ":127.0.0.1:" .. DEAD, proto .. ":127.0.0.1:" .. LIVE }, dests(list))
          local function send()
            return client:request(sip.request { method = "MESSAGE", uri = uri, from = "<sip:alice@zone.test>",
              to = "<sip:bob@zone.test>", body = "hi", content_type = "text/plain" })
          end
          local rsp, err = send()
          assert.equal(200, rsp and rsp.status, err)
          assert.equal(1, got)
          -- the dead one is remembered: now last in the list, and the next request goes straight on
          local after = dests(assert(sip.resolve(uri)))
          assert.equal(proto .. ":127.0.0.1:" .. LIVE, after[1])
          assert.equal(proto .. ":127.0.0.1:" .. DEAD, after[#after])
          local t0 = loop.now()
          rsp, err = send()
          assert.equal(200, rsp and rsp.status, err)
          assert.equal(2, got)
          print(("# %s: second request %.1f ms, dead target skipped"):format(proto, (loop.now() - t0) * 1000))
          route.mark_dead({ proto = proto, host = "127.0.0.1", port = DEAD }, 0) -- forget it for the next test
        end)
      end)
    end
  end)

  it("§4.3 in sip.ua: a MESSAGE to a name whose first SRV target refuses TCP", function()
    in_loop(function()
      local got = 0
      local server <close> = assert(sip.endpoint { listen = { "tcp:127.0.0.1:" .. LIVE },
        handler = function(req) got = got + 1; req:reply(200) end })
      local alice <close> = assert(sip.ua { listen = { "udp:127.0.0.1:0", "tcp:127.0.0.1:0" }, user = "alice",
        domain = "zone.test", t1 = 0.02 })
      local rsp, err = alice:message("sip:bob@fu.zone.test;transport=tcp", "hi", "text/plain")
      assert.equal(200, rsp and rsp.status, err)
      assert.equal(1, got)
      assert.equal(LIVE, server.listeners[1].port)
      route.mark_dead({ proto = "tcp", host = "127.0.0.1", port = DEAD }, 0)
    end)
  end)

  it("§4.3 in a dialog: the route set's first hop is a name, and its next hop the failover", function()
    in_loop(function()
      local function msg(first, extra)
        return sip.parse(first .. "\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKd1\r\n" .. (extra or "") ..
          "From: <sip:a@zone.test>;tag=a\r\nTo: <sip:b@zone.test>" .. (extra and ";tag=b" or "") ..
          "\r\nCall-ID: d1\r\nCSeq: 1 INVITE\r\nContact: <sip:b@192.0.2.4>\r\nContent-Length: 0\r\n\r\n")
      end
      local d = require("sip.dialog").uac(msg("INVITE sip:b@zone.test SIP/2.0"),
        msg("SIP/2.0 200 OK", "Record-Route: <sip:fo.zone.test;lr>\r\n"))
      local _, dest = d:request("BYE")
      assert.same({ "udp:127.0.0.1:" .. DEAD, "udp:127.0.0.1:" .. LIVE }, { dests({ dest })[1], dests({ dest.next })[1] })
    end)
  end)

  it("--dns HOST:PORT: an example reaches a name through the given name server", function()
    in_loop(function()
      local got
      local server <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:" .. LIVE },
        handler = function(req) got = req.body; req:reply(200) end })
      assert.equal(LIVE, server.listeners[1].port)
      local uac = peers.example("uac.lua", { "--dns", dns.addr, "--message", "sip:bob@ex.zone.test", "over DNS" })
      for _ = 1, 200 do -- our loop answers while it runs
        if not peers.alive(uac.pid) then break end
        sip.sleep(0.05)
      end
      local code, out = uac.wait()
      assert.equal(0, code, out)
      assert.equal("over DNS", got)
    end)
  end)

  describe("through sip.proxy", function()
    local function with_proxy(route_fn, fn)
      in_loop(function()
        local heard = {}
        local sink <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:" .. LIVE },
          handler = function(req) heard[#heard + 1] = req; req:reply(200) end })
        local px <close> = assert(require("sip.proxy").new { listen = { "udp:127.0.0.1:0" },
          realm = "example.com", users = { alice = "secret" }, t1 = 0.02, route = route_fn })
        -- the stranger's own Timer F (6.4 s) outlives the proxy's (1.28 s)
        local evil <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" }, t1 = 0.1 })
        fn(px, evil, heard, sink)
      end)
    end
    local function forge(px, method, uri, extra)
      local t = { method = method, uri = uri, from = "<sip:evil@attacker.test>;tag=e1", to = "<" .. uri .. ">" }
      for k, v in pairs(extra or {}) do t[k] = v end
      return sip.request(t), { dest = { proto = "udp", host = "127.0.0.1", port = px.ep.by_proto.udp.port }, timeout = 5 }
    end

    it("#25 a stranger's request that will be refused causes no lookup", function()
      with_proxy(nil, function(px, evil, heard)
        local q0, log0 = resolver.stats().queries, #dns:log()
        local rsp = evil:request(forge(px, "MESSAGE", "sip:x@victim.zone.test", { body = "hi", content_type = "text/plain" }))
        assert.equal(403, rsp and rsp.status)
        local port = px.ep.by_proto.udp.port
        rsp = evil:request(forge(px, "MESSAGE", "sip:x@example.com", { body = "hi", content_type = "text/plain",
          route = { ("<sip:127.0.0.1:%d;lr>"):format(port), "<sip:victim.zone.test;lr>" } }))
        assert.equal(403, rsp and rsp.status)
        local ack = forge(px, "ACK", "sip:x@victim.zone.test", { to = "<sip:x@victim.zone.test>;tag=t1" })
        assert(evil:send(ack, { proto = "udp", host = "127.0.0.1", port = port }))
        sip.sleep(0.1)
        assert.equal(q0, resolver.stats().queries)
        assert.is_nil(dns:log():sub(log0 + 1):find("victim", 1, true))
        assert.equal(0, #heard)
      end)
    end)

    it("§5 a response to a sent-by name without received goes where SRV says", function()
      with_proxy(nil, function(px, _, _, sink)
        local got
        sink.on_stray = function(rsp) got = rsp end
        px:stray_up(assert(sip.parse("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP ex.zone.test;branch=z9hG4bKs5\r\n" ..
          "From: <sip:a@zone.test>;tag=a\r\nTo: <sip:b@zone.test>;tag=b\r\nCall-ID: s5\r\nCSeq: 1 INVITE\r\n" ..
          "Content-Length: 0\r\n\r\n")))
        for _ = 1, 100 do
          if got then break end
          sip.sleep(0.01)
        end
        assert.equal("s5", got and got.call_id)
      end)
    end)

    it("§4.3 a branch fails over to the next SRV target (UDP silence, Timer F) and the next one skips it", function()
      local route_fn = function(req, px) px:relay(req, "sip:bob@fp.zone.test", { trust = true }) end
      with_proxy(route_fn, function(px, evil, heard)
        for i = 1, 2 do
          local rsp = evil:request(forge(px, "MESSAGE", "sip:bob@example.com", { body = "hi", content_type = "text/plain" }))
          assert.equal(200, rsp and rsp.status)
          assert.equal(i, #heard)
        end
        assert.equal("udp:127.0.0.1:" .. LIVE, dests(assert(sip.resolve("sip:bob@fp.zone.test")))[1])
        route.mark_dead({ proto = "udp", host = "127.0.0.1", port = DEAD }, 0)
      end)
    end)
  end)
end)

describe("sip.resolver against bad name servers", function()
  teardown(peers.cleanup)
  after_each(function() assert.equal(0, loop.active()) end)

  it("a name server that never answers times out; other transactions keep their latency", function()
    local silent = raw_server("silent")
    resolver.configure { servers = { silent.addr }, timeout = 0.3, tries = 1, per_source = 2 }
    in_loop(function()
      local server <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" },
        handler = function(req) req:reply(200) end })
      local client <close> = assert(sip.endpoint { listen = { "udp:127.0.0.1:0" } })
      local uri = "sip:bob@127.0.0.1:" .. server.listeners[1].port
      local lookup_done, lat, during = false, {}, 0
      loop.spawn(function()
        local list, err = sip.resolve("sip:bob@never.silent.test:5060", { source = "192.0.2.1" })
        assert.is_nil(list)
        assert.matches("never.silent.test: timeout", err)
        lookup_done = true
      end)
      -- the same source may have per_source (2) lookups in flight; the third is refused at once
      loop.spawn(function() sip.resolve("sip:two.silent.test:5060", { source = "192.0.2.1" }) end)
      local list, err = sip.resolve("sip:three.silent.test:5060", { source = "192.0.2.1" })
      assert.is_nil(list)
      assert.equal("too many DNS lookups in flight from 192.0.2.1", err)
      assert.equal(2, resolver.stats().inflight)
      while not lookup_done do
        local t0 = loop.now()
        local rsp = client:request(sip.request { method = "OPTIONS", uri = uri, from = "<sip:a@x.test>",
          to = "<sip:b@x.test>" })
        assert.equal(200, rsp and rsp.status)
        lat[#lat + 1] = loop.now() - t0
        if not lookup_done then during = during + 1 end
        sip.sleep(0.01)
      end
      assert.is_true(during >= 3, "transactions completed while the lookup hung: " .. during)
      table.sort(lat)
      print(("# %d OPTIONS while the lookup hung: median %.2f ms, max %.2f ms"):format(during,
        lat[(#lat + 1) // 2] * 1000, lat[#lat] * 1000))
      sip.sleep(0.4) -- the second lookup ends too
    end)
    silent:stop()
  end)

  describe("malformed answers: an error for that request only", function()
    local bad
    setup(function()
      bad = raw_server("bad")
      resolver.configure { servers = { bad.addr }, timeout = 0.5, tries = 1 }
    end)
    local cases = {
      { "a CNAME pointing at itself", "sip:self.bad.test:5060", "CNAME loop" },
      { "a NAPTR pointing at itself", "sip:loop.bad.test", "CNAME loop" },
      { "a huge answer (truncated over UDP, 200 records over TCP)", "sip:huge.bad.test:5060", "too many records" },
      { "a record cut short", "sip:trunc.bad.test:5060", "runs past the message" },
      { "a compression pointer loop", "sip:ptr.bad.test:5060", "compression loop" },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        in_loop(function()
          local list, err = sip.resolve(c[2])
          assert.is_nil(list)
          assert.truthy(err:find(c[3], 1, true), err)
          assert.same({ "udp:127.0.0.1:5099" }, dests(assert(sip.resolve("sip:ok.bad.test:5099"))))
        end)
      end)
    end
  end)
end)
