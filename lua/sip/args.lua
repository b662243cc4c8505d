--- sip.args: how the Lua layers report misuse, in the words of luaL_argerror.
--   args.error(i, fname, msg[, depth])  raises "bad argument #i to 'fname' (msg)"
--   args.raiser(fname[, i])             -> fn(msg[, depth]) raising the same for one function
-- Call either straight from the API function the user called: the error then names the user's
-- line (level 3: this function, the API function, its caller); depth adds levels for a helper
-- that sits between the API function and the check.
local format, error = string.format, error

local M = {}

function M.error(i, fname, msg, depth)
  error(format("bad argument #%d to '%s' (%s)", i, fname, msg), 3 + (depth or 0))
end

function M.raiser(fname, i)
  i = i or 1
  return function(msg, depth)
    error(format("bad argument #%d to '%s' (%s)", i, fname, msg), 3 + (depth or 0))
  end
end

return M
