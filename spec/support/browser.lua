--- support.browser: webphone pages (examples/webphone/, JsSIP) in headless Debian chromium, driven
-- by spec/browser/run.js (playwright-core) through a list of steps; loopback only.
--
--   local browser = require "support.browser"
--   local b = browser.phones { a = { server = ws, uri = "sip:alice@example.com", password = "..." } }
--   b.a:call("sip:bob@example.com"); b.a:wait { type = "confirmed" }; b:say "in-call"
--   local r = b:run { on = { ["in-call"] = function() ... end } }
--   (or browser.script():page "a":fill("server", ws):click "register" ..., the form's way)
--   assert(r.ok, r.out)   -- r.lines: every line run.js printed
--
-- Each step is one line of run.js's output ("ok ...", or "FAIL ..." and the run stops); a say
-- step prints "say TEXT", and run calls on[TEXT]() when that line arrives, while the pages wait.
-- The npm packages come from spec/browser/package-lock.json (`make browser-deps`, part of make
-- test); without them browser.missing() says what to run.
local peers = require "support.peers"

local browser = {}

local DIR = "spec/browser"

--- nil when chromium, node and the npm packages are there; else what is missing, as a sentence.
function browser.missing()
  for _, f in ipairs { "/usr/bin/chromium", "/usr/bin/node" } do
    if not io.open(f) then return f .. " is not installed (make deps)" end
  end
  if not io.open(DIR .. "/node_modules/playwright-core/package.json") then
    return DIR .. "/node_modules is not installed (make browser-deps)"
  end
end

-- JSON for the steps: strings, numbers, booleans, arrays (a table with [1]) and objects.
local function json(v)
  local t = type(v)
  if t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c)
      return ({ ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" })[c]
        or ("\\u%04x"):format(c:byte())
    end) .. '"'
  elseif t == "number" or t == "boolean" then
    return tostring(v)
  elseif t == "table" then
    local out = {}
    if v[1] ~= nil or next(v) == nil then
      for _, x in ipairs(v) do out[#out + 1] = json(x) end
      return "[" .. table.concat(out, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do out[#out + 1] = json(tostring(k)) .. ":" .. json(v[k]) end
    return "{" .. table.concat(out, ",") .. "}"
  end
  error("support.browser: cannot encode a " .. t, 3)
end
browser.json = json

local Script = {}
Script.__index = Script
Script.__name = "support.browser.script"

local Page = {}
Page.__index = Page
Page.__name = "support.browser.page"

local function step(page, what, ...)
  local s = page.script.steps
  s[#s + 1] = { page = page.name, ["do"] = what, args = { ... } }
  return page
end

function Page:start(cfg) return step(self, "start", cfg) end
function Page:call(uri) return step(self, "call", uri) end
function Page:answer() return step(self, "answer") end
function Page:hangup() return step(self, "hangup") end
function Page:message(uri, text) return step(self, "message", uri, text) end
function Page:stop() return step(self, "stop") end

--- Wait until the page records an event with these fields (webphone.js names them).
function Page:wait(fields)
  if type(fields) ~= "table" or type(fields.type) ~= "string" then
    error("bad argument #1 to 'wait' (table with a type expected)", 2)
  end
  local s = self.script.steps
  s[#s + 1] = { page = self.name, wait = fields }
  return self
end

--- Type value into the page's input #id, as a person would.
function Page:fill(id, value)
  local s = self.script.steps
  s[#s + 1] = { page = self.name, fill = { id = id, value = value } }
  return self
end

--- Click the page's button #id.
function Page:click(id)
  local s = self.script.steps
  s[#s + 1] = { page = self.name, click = id }
  return self
end

--- An empty script; script:page(name) adds a page (opened at its first step).
function browser.script()
  return setmetatable({ steps = {} }, Script)
end

function Script:page(name)
  if not self[name] then self[name] = setmetatable({ name = name, script = self }, Page) end
  return self[name]
end

--- A script of pages named by the keys of accounts; each page starts (registers) at once and
-- waits for its 200 to the REGISTER, in the order of the names.
function browser.phones(accounts)
  local script = browser.script()
  local names = {}
  for name in pairs(accounts) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do script:page(name):start(accounts[name]) end
  for _, name in ipairs(names) do script[name]:wait { type = "registered" } end
  return script
end

--- The steps of a call between two registered pages: caller calls uri, callee sees it come from
-- from and answers, both confirm, both peer connections reach "connected", caller hangs up and
-- both end (RFC 3261 §13, §15; the media over WebRTC).
function Script:call_and_hang_up(caller, callee, uri, from)
  local a, b = self[caller], self[callee]
  a:call(uri)
  b:wait { type = "incoming", from = from }
  b:answer()
  a:wait { type = "confirmed" }
  b:wait { type = "confirmed" }
  a:wait { type = "pc", state = "connected" }
  b:wait { type = "pc", state = "connected" }
  a:hangup()
  a:wait { type = "ended", originator = "local" }
  b:wait { type = "ended", originator = "remote" }
  return self
end

--- A cue: run's on[text] is called when the pages have come this far.
function Script:say(text)
  self.steps[#self.steps + 1] = { say = text }
  return self
end

--- Run the steps. o: timeout (seconds for the whole run, default 90), wait (seconds per wait
-- step, default 30: only a failing run waits that long), spki (base64 SHA-256 of a certificate's public key the browser trusts), on
-- (cues). Returns { ok, code, out, lines }.
function Script:run(o)
  o = o or {}
  local arg = json { steps = self.steps, spki = o.spki, timeout = o.wait or 30 }
  -- a process group of its own (pgid = the pid echoed), removed whole at the end
  local script = ("echo $$; cd %s && exec timeout -k 3 %d node run.js %s"):format(DIR, o.timeout or 90, peers.quote(arg))
  local pipe = assert(io.popen("exec setsid sh -c " .. peers.quote(script) .. " 2>&1", "r"))
  local pgid = math.tointeger(tonumber(pipe:read("l")))
  local lines = {}
  for line in pipe:lines() do
    lines[#lines + 1] = line
    local cue = line:match("^say (.*)$")
    if cue and o.on and o.on[cue] then o.on[cue]() end
  end
  local _, how, code = pipe:close()
  if how == "signal" then code = 128 + code end
  if pgid then os.execute(("kill -KILL -%d 2>/dev/null"):format(pgid)) end
  return { ok = code == 0, code = code, lines = lines, out = table.concat(lines, "\n") }
end

--- The media paths the pages reported in a run's result: a list of { page, ["local"], remote }
-- ("ADDRESS:PORT" each, from the selected ICE candidate pair).
function browser.paths(r)
  local out = {}
  for _, line in ipairs(r.lines) do
    local page, ev = line:match('^(%w+) event ({"type":"path".*)$')
    if page then
      out[#out + 1] = { page = page, ["local"] = ev:match('"local":"([^"]*)"'), remote = ev:match('"remote":"([^"]*)"') }
    end
  end
  return out
end

--- true when n media paths were reported, each from 127.0.0.1 to 127.0.0.1; else nil, why.
function browser.on_loopback(r, n)
  local paths = browser.paths(r)
  if #paths ~= n then return nil, ("%d media paths reported, %d expected\n%s"):format(#paths, n, r.out) end
  for _, p in ipairs(paths) do
    if not (p["local"] or ""):find("^127%.0%.0%.1:%d+$") or not (p.remote or ""):find("^127%.0%.0%.1:%d+$") then
      return nil, ("page %s: media from %s to %s, not on loopback\n%s"):format(p.page, tostring(p["local"]),
        tostring(p.remote), r.out)
    end
  end
  return true
end

return browser
