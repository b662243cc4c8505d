-- An LDoc filter (ldoc --filter ldoc_items.print): one line "module<TAB>item" per doc entry,
-- for spec/doc_coverage_spec.lua. LDoc runs it under its own Lua (5.1 or 5.2 on Debian).
return {
  print = function(modules)
    for _, m in ipairs(modules) do
      io.write(m.name, "\t\n")
      for _, item in ipairs(m.items) do io.write(m.name, "\t", item.name, "\n") end
    end
  end,
}
