-- kubeproof's stub of resty.ipmatcher (not packaged by Debian): used by ingress-nginx only for the
-- global-rate-limit ignored CIDRs, which the offline build does not support.
local _M = {}
function _M.new() return nil, "resty.ipmatcher is not available in kubeproof's offline ingress-nginx build" end
return _M
