-- The code blocks of the documentation, for the specs that run them (doc_examples_spec,
-- rock_spec): documentation that cannot rot.
local peers = require "support.peers"

local docs = {}

--- {file=, line=, text=} for each ```lang block of the file at path (none when it is missing).
function docs.blocks(path, lang)
  local out, text = {}, peers.slurp(path)
  local line, inside, start, buf = 0, false, 0, {}
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do
    line = line + 1
    if not inside and l == "```" .. lang then
      inside, start, buf = true, line + 1, {}
    elseif inside and l == "```" then
      inside = false
      out[#out + 1] = { file = path, line = start, text = table.concat(buf, "\n") .. "\n" }
    elseif inside then
      buf[#buf + 1] = l
    end
  end
  return out
end

--- The files of the documentation: README.md and doc/*.md.
function docs.files()
  local list = { "README.md" }
  local p = io.popen("ls doc/*.md 2>/dev/null")
  for path in p:lines() do list[#list + 1] = path end
  p:close()
  return list
end

--- The first ```lang block of path that contains marker (plain text), or nil.
function docs.block_with(path, lang, marker)
  for _, b in ipairs(docs.blocks(path, lang)) do
    if b.text:find(marker, 1, true) then return b end
  end
end

return docs
