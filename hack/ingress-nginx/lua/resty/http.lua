-- kubeproof's stub of resty.http (not packaged by Debian): ingress-nginx uses it only to fetch OCSP
-- responses (enable-ocsp, off by default), which the offline build does not support.
local _M = {}
function _M.new() return nil, "resty.http is not available in kubeproof's offline ingress-nginx build (no OCSP fetch)" end
return _M
