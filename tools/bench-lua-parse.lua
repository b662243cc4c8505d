-- bench-lua-parse.lua ROUNDS FILE...: sip.parse from Lua plus reading method, Call-ID, top Via
-- branch and CSeq (the fields a stack reads per message). Prints "<ns> ns/msg".
local sip = require "sip"
local rounds = tonumber(arg[1]) or 20000
local msgs = {}
for i = 2, #arg do
  local f = assert(io.open(arg[i], "rb"))
  msgs[#msgs + 1] = f:read("a")
  f:close()
end
assert(#msgs > 0, "usage: bench-lua-parse.lua ROUNDS FILE...")
local parse = sip.parse
local sink = 0
local function pass()
  for _, s in ipairs(msgs) do
    local m = parse(s)
    local a, b, c, d = m.method, m.call_id, m.branch, m.cseq
    if a then sink = sink + 1 end
    if b and c and d then sink = sink + 1 end
  end
end
for _ = 1, math.max(1, rounds // 10) do pass() end -- warm up
collectgarbage()
local t0 = os.clock()
for _ = 1, rounds do pass() end
local t = os.clock() - t0
print(("%.0f ns/msg  (lua sip.parse + method, call_id, branch, cseq; %d messages x %d rounds)")
  :format(t * 1e9 / (rounds * #msgs), #msgs, rounds))
