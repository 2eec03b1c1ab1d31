-- weighted-fastest: the original ricochet ranking (the default policy).
--
-- Healthy backends are ranked by the latency of the last performance test.
-- With n of them, the fastest gets weight n, the next n-1, ... the slowest 1,
-- and each client is redirected to a backend drawn at random by weight.
-- Ties in latency are broken by name so the ranking is stable.

function weigh(backends)
  local ranked = {}
  for _, b in ipairs(backends) do
    if b.healthy and b.latency then
      ranked[#ranked + 1] = b
    end
  end
  table.sort(ranked, function(a, b)
    if a.latency ~= b.latency then
      return a.latency < b.latency
    end
    return a.name < b.name
  end)
  local weights = {}
  local n = #ranked
  for i, b in ipairs(ranked) do
    weights[b.name] = n - i + 1
  end
  return weights
end
