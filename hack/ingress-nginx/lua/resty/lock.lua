-- kubeproof's own resty.lock (lua-resty-lock is not packaged by Debian): a non-blocking lock on a
-- shared dict, enough for ingress-nginx's EWMA balancer (:new(dict, {timeout = 0, exptime}),
-- :lock(key), :unlock()). It never waits: a held lock answers nil, "timeout".
local _M = {}
local mt = { __index = _M }

function _M.new(_, dict_name, opts)
  local dict = ngx.shared[dict_name]
  if not dict then return nil, "dictionary not found" end
  opts = opts or {}
  return setmetatable({ dict = dict, exptime = opts.exptime or 30 }, mt)
end

function _M.lock(self, key)
  if self.key then return nil, "locked" end
  local ok, err = self.dict:add(key, true, self.exptime)
  if not ok then return nil, err == "exists" and "timeout" or err end
  self.key = key
  return 0
end

function _M.unlock(self)
  if not self.key then return nil, "unlocked" end
  local ok, err = self.dict:delete(self.key)
  self.key = nil
  if not ok then return nil, err end
  return 1
end

return _M
