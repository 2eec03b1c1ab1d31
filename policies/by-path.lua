-- by-path: requests whose path starts with a prefix in the table below go to
-- the backends listed for it (the healthy ones, in turn); the longest prefix
-- wins. Other paths, or a prefix whose backends are all down, fall back to
-- the weights of the latency ranking.

local routes = {
  ["/video/"] = { "alpha" },
  ["/static/"] = { "beta", "gamma" },
}

function weigh(backends)
  local ranked = {}
  for _, b in ipairs(backends) do
    if b.healthy and b.latency then ranked[#ranked + 1] = b end
  end
  table.sort(ranked, function(a, b)
    if a.latency ~= b.latency then return a.latency < b.latency end
    return a.name < b.name
  end)
  local weights = {}
  for i, b in ipairs(ranked) do weights[b.name] = #ranked - i + 1 end
  return weights
end

local turn = 0

function pick(req)
  local match, length = nil, 0
  for prefix, names in pairs(routes) do
    if #prefix > length and req.path:sub(1, #prefix) == prefix then
      match, length = names, #prefix
    end
  end
  if match == nil then
    return nil
  end
  local healthy = {}
  for _, b in ipairs(backends) do
    if b.healthy then healthy[b.name] = true end
  end
  for _ = 1, #match do
    turn = turn % #match + 1
    if healthy[match[turn]] then
      return match[turn]
    end
  end
  return nil
end
