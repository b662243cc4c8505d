-- Loaded first by every example, when it is there (the rock installs the examples as bin/
-- scripts without it). Run from a checkout, the checkout's lua/ and build/ come first; an
-- installed rock is found otherwise. Returns the checkout's root directory.
local root = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = root .. "/build/?.so;" .. package.cpath
return root
