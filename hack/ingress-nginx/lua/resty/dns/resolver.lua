return require("nginx.dns.resolver")  -- Debian packages lua-resty-dns as nginx.dns.resolver (lua-nginx-dns)
