-- kubeproof's own resty.roundrobin (lua-resty-balancer is not packaged by Debian): smooth weighted
-- round-robin over {["ip:port"] = weight}. The API ingress-nginx's balancer/round_robin.lua and
-- balancer/resty.lua use: :new(nodes), :find(), :reinit(nodes), .nodes. Not upstream's algorithm.
local _M = {}
local mt = { __index = _M }

local function build(nodes)
  local ids, current = {}, {}
  for id, _ in pairs(nodes) do ids[#ids + 1] = id; current[id] = 0 end
  table.sort(ids)
  return ids, current
end

function _M.new(_, nodes)
  local ids, current = build(nodes)
  return setmetatable({ nodes = nodes, ids = ids, current = current }, mt)
end

function _M.reinit(self, nodes)
  self.nodes = nodes
  self.ids, self.current = build(nodes)
end

function _M.find(self)
  local best, total = nil, 0
  for _, id in ipairs(self.ids) do
    local w = tonumber(self.nodes[id]) or 0
    self.current[id] = self.current[id] + w
    total = total + w
    if w > 0 and (best == nil or self.current[id] > self.current[best]) then best = id end
  end
  if best then self.current[best] = self.current[best] - total end
  return best
end

return _M
