-- kubeproof's stub of resty.global_throttle (not packaged by Debian): ingress-nginx calls it only for
-- the global-rate-limit annotations, which the offline build does not support.
local _M = {}
function _M.new() return nil, "resty.global_throttle is not available in kubeproof's offline ingress-nginx build" end
return _M
