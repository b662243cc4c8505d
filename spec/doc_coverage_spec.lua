-- The reference cannot fall behind: `make docs` (LDoc over config.ld) builds without a warning,
-- and every exported name of the modules in the reference (each function of a module's table,
-- each method of its classes but those starting with "_") has a doc entry there. A name that is
-- public but not for scripts goes in INTERNAL with the reason; nothing else may be left out.
local sip = require "sip"

-- module name -> { the module's table or nil, { class name -> class table } }
local function public()
  local ua, proxy, registrar = require "sip.ua", require "sip.proxy", require "sip.registrar"
  local test = require "sip.test"
  return {
    ["sip"] = { sip },
    ["sip.endpoint"] = { require "sip.endpoint", { Endpoint = require("sip.endpoint").Endpoint } },
    ["sip.ua"] = { ua, { UA = ua.UA, Registration = require("sip.ua_register").Registration } },
    ["sip.call"] = { nil, { Call = require("sip.call").Call } },
    ["sip.proxy"] = { proxy, { Proxy = proxy.Proxy } },
    ["sip.registrar"] = { registrar, { Registrar = registrar.Registrar } },
    ["sip.location"] = { (require "sip.location") },
    ["sip.options"] = { require "sip.options", { Schema = getmetatable(require("sip.options").schema("x", {})) } },
    ["sip.dialog"] = { require "sip.dialog", { Dialog = require("sip.dialog").Dialog } },
    ["sip.cli"] = { (require "sip.cli") },
    ["sip.test"] = { test, { Harness = test.Harness, Phone = test.Phone, Raw = test.Raw } },
    ["sip.sdp"] = { require "sip.sdp", { Session = require("sip.sdp")._internal.Session } },
    ["sip.route"] = { require "sip.route" },
    ["sip.resolver"] = { require "sip.resolver" },
    ["sip.loop"] = { require "sip.loop", { Waiter = require("sip.loop")._internal.Waiter } },
    ["sip.egress"] = { require "sip.egress" },
    ["sip.ua_flow"] = { require "sip.ua_flow" },
    ["sip.location_sqlite"] = { require "sip.location_sqlite", { SQLite = require("sip.location_sqlite")._internal.SQLite } },
    ["sip.auth"] = { require "sip.auth", { Server = getmetatable(sip.auth.server { realm = "x", users = {} }),
      Client = getmetatable(sip.auth.client { user = "u", password = "p" }) } },
  }
end

-- Public by name, yet for the layers rather than for scripts.
local STEP = "a step of the proxy's own handling (Proxy:handle), not for route functions"
local INTERNAL = {
  ["sip.endpoint"] = { ["Endpoint:dispatch"] = "the stack's request callback" },
  ["sip.registrar"] = { ["Registrar:aor_of"] = "the registrar's cache of To URIs" },
  ["sip.proxy"] = {},
}
for _, name in ipairs { "branch", "check_proxy_require", "dialog_token", "expect_ack", "facts", "fork",
  "forward_ack", "gate_challenges", "handle", "learn_addresses", "new_branch", "on_cancel", "our_route",
  "preprocess", "refusal", "refused", "remember", "send_final", "serve", "stray", "stray_up", "validate" } do
  INTERNAL["sip.proxy"]["Proxy:" .. name] = STEP
end

local peers = require "support.peers"
local function run(cmd) return (peers.capture(cmd .. " 2>&1")) end

describe("the API reference", function()
  it("make docs builds doc/api without a warning", function()
    local out = run("make -s docs")
    assert.is_nil(out:find("warning", 1, true), out)
    assert.is_nil(out:find("%.lua:%d+:"), out)
    local f = io.open("doc/api/index.html")
    assert.truthy(f, out)
    f:close()
  end)

  it("has an entry for every exported name of its modules", function()
    local out = run("LUA_PATH='spec/support/?.lua;;' ldoc -q --filter ldoc_items.print .")
    local entries, modules = {}, {}
    for m, item in out:gmatch("([%w%._]+)\t([^\n]*)\n") do
      modules[m] = true
      entries[m .. " " .. item] = true
    end
    local missing = {}
    for name, spec in pairs(public()) do
      assert.truthy(modules[name], "module " .. name .. " is not in the reference:\n" .. out)
      local internal = INTERNAL[name] or {}
      local function need(item)
        if not entries[name .. " " .. item] and not internal[item] then missing[#missing + 1] = name .. " " .. item end
      end
      if spec[1] then
        for k, v in pairs(spec[1]) do
          if type(v) == "function" and type(k) == "string" and k:sub(1, 1) ~= "_" then need(k) end
        end
      end
      for cname, class in pairs(spec[2] or {}) do
        for k, v in pairs(class) do
          if type(v) == "function" and k:sub(1, 1) ~= "_" then need(cname .. ":" .. k) end
        end
      end
    end
    table.sort(missing)
    assert.same({}, missing)
  end)

  it("names every option of the constructors on their module's page", function()
    local missing = {}
    for page, schema in pairs {
      ["sip.endpoint"] = require("sip.endpoint").OPTIONS, ["sip.ua"] = require("sip.ua").OPTIONS,
      ["sip.proxy"] = require("sip.proxy").OPTIONS, ["sip.registrar"] = require("sip.registrar").OPTIONS,
    } do
      local f = assert(io.open("doc/api/modules/" .. page .. ".html"))
      local html = f:read("a")
      f:close()
      local transport = require("sip.endpoint").TRANSPORT_OPTIONS.fields
      for name in pairs(schema.fields) do
        -- sip.ua and sip.proxy take in the transport options, documented on sip.endpoint's page
        local elsewhere = page ~= "sip.endpoint" and transport[name] and html:find("sip.endpoint", 1, true)
        if not elsewhere and not html:find(name, 1, true) then missing[#missing + 1] = page .. " " .. name end
      end
    end
    table.sort(missing)
    assert.same({}, missing)
  end)
end)
