-- p2c: power of two random choices. Each request draws two different healthy
-- backends at random and takes the one with the lower moving-average latency
-- (ewma). The slowest backend only wins against nobody, so it gets no
-- traffic unless it is alone; the others share in proportion to rank.

function weigh(backends)
  local weights = {}
  for _, b in ipairs(backends) do
    if b.healthy then weights[b.name] = 1 end
  end
  return weights
end

local function latency(b)
  return b.ewma or b.latency or math.huge
end

function pick(req)
  local healthy = {}
  for _, b in ipairs(backends) do
    if b.healthy then healthy[#healthy + 1] = b end
  end
  local n = #healthy
  if n == 0 then return nil end
  if n == 1 then return healthy[1].name end
  local i = math.random(n)
  local j = math.random(n - 1)
  if j >= i then j = j + 1 end
  local a, b = healthy[i], healthy[j]
  if latency(b) < latency(a) or (latency(b) == latency(a) and b.name < a.name) then
    a = b
  end
  return a.name
end
