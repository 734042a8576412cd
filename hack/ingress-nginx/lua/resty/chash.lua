-- kubeproof's own resty.chash (lua-resty-balancer's C library is not packaged by Debian): a CRC32
-- ring with 160 points per unit of weight over {[id] = weight}. The API ingress-nginx's chash,
-- chashsubset and sticky_balanced balancers use: :new(nodes), :find(key) -> id, index,
-- :next(index) -> id, index, :reinit(nodes), .nodes. Key -> node mapping differs from upstream's.
local crc32 = ngx.crc32_long
local _M = {}
local mt = { __index = _M }
local POINTS = 160

local function ring(nodes)
  local points = {}
  for id, weight in pairs(nodes) do
    for i = 1, POINTS * math.max(1, tonumber(weight) or 1) do
      points[#points + 1] = { hash = crc32(tostring(id) .. "#" .. i), id = id }
    end
  end
  table.sort(points, function(a, b) return a.hash < b.hash or (a.hash == b.hash and a.id < b.id) end)
  return points
end

function _M.new(_, nodes)
  return setmetatable({ nodes = nodes, points = ring(nodes) }, mt)
end

function _M.reinit(self, nodes)
  self.nodes, self.points = nodes, ring(nodes)
end

function _M.find(self, key)
  local n = #self.points
  if n == 0 then return nil end
  local h = crc32(tostring(key))
  local lo, hi = 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if self.points[mid].hash < h then lo = mid + 1 else hi = mid end
  end
  if self.points[lo].hash < h then lo = 1 end
  return self.points[lo].id, lo
end

function _M.next(self, index)
  local n = #self.points
  if n == 0 then return nil end
  local i = index % n + 1
  return self.points[i].id, i
end

return _M
