-- inverse-latency: weight proportional to 1 / ewma, so a backend twice as
-- fast gets twice the share. The moving average (ewma) smooths one slow
-- probe; the last latency is used until there is an average.

function weigh(backends)
  local weights = {}
  for _, b in ipairs(backends) do
    local lat = b.ewma or b.latency
    if b.healthy and lat and lat > 0 then
      weights[b.name] = 1 / lat
    end
  end
  return weights
end
