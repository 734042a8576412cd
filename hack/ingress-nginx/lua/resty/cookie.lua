return require("nginx.cookie")  -- Debian packages lua-resty-cookie as nginx.cookie (lua-nginx-cookie)
