-- luacheck lua examples spec: Lua 5.4 everywhere; the specs run under busted, whose globals
-- (describe, it, assert.are ...) they use. Lines stay at luacheck's default limit (120), but in
-- specs.
std = "lua54"
ignore = { "212/self" } -- a method keeps its self even when it does not read it
-- specs: their names and table rows read better whole than wrapped (test names cite sections)
files["spec"] = { std = "+busted", max_line_length = 160 }
