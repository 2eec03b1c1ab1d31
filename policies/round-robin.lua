-- round-robin: equal weights over healthy backends, and a pick that walks
-- them in order. Each interpreter in the balancer's pool keeps its own
-- counter, so under concurrency the order interleaves, but every healthy
-- backend gets the same share.

function weigh(backends)
  local weights = {}
  for _, b in ipairs(backends) do
    if b.healthy then
      weights[b.name] = 1
    end
  end
  return weights
end

local counter = 0

function pick(req)
  local n = #backends
  for _ = 1, n do
    counter = counter % n + 1
    local b = backends[counter]
    if b.healthy then
      return b.name
    end
  end
  return nil -- none healthy: the balancer answers 503
end
