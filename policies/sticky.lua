-- sticky: the same client IP always goes to the same backend, chosen by
-- weighted rendezvous hashing: every backend scores the client, the highest
-- score wins. When a backend leaves, only its own clients move; when it
-- comes back, they return. Weights are fixed per backend (meta.weight in
-- balancer.toml, default 1) rather than derived from latency, because
-- weights that change every probe round would move clients every round.

function weigh(backends)
  local weights = {}
  for _, b in ipairs(backends) do
    if b.healthy then
      weights[b.name] = tonumber(b.meta.weight) or 1
    end
  end
  return weights
end

-- unit maps a string to a number in (0, 1) with the balancer's hash().
local function unit(s)
  return (hash(s) + 1) / 4294967298
end

function pick(req)
  if req.client_ip == nil or req.client_ip == "" then
    return nil
  end
  local best, bestScore
  for _, b in ipairs(backends) do
    if b.healthy and b.weight > 0 then
      local score = -b.weight / math.log(unit(b.name .. "|" .. req.client_ip))
      if bestScore == nil or score > bestScore then
        best, bestScore = b.name, score
      end
    end
  end
  return best -- nil falls back to the weights
end
