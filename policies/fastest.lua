-- fastest: all traffic to the healthy backend with the lowest latency of the
-- last performance test. Ties are broken by name, so the choice is stable.
-- When that backend fails, the next fastest takes over at the next round.

function weigh(backends)
  local best
  for _, b in ipairs(backends) do
    if b.healthy and b.latency then
      if best == nil or b.latency < best.latency
        or (b.latency == best.latency and b.name < best.name) then
        best = b
      end
    end
  end
  if best == nil then
    return {}
  end
  return { [best.name] = 1 }
end
