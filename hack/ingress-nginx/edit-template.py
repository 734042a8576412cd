#!/usr/bin/env python3
"""The three edits that let ingress-nginx's own nginx.tmpl run on Debian bookworm's nginx 1.22 (applied at
build time to the template from the Go module cache; nothing of upstream's is committed):

1. load Debian's dynamic modules (NDK before lua and set-misc): the official nginx has them built in;
2. the `stream {}` block needs stream-lua (not packaged by Debian): it goes, and an http server on the
   stream port drains what the controller writes there on every sync (TCP/UDP services are unsupported);
3. `http2 on;` is nginx >= 1.25.1 syntax: dropped (HTTP/2 is off in this build).

Usage: edit-template.py IN OUT. Fails naming the edit whose anchor is missing (a template that changed).
"""
import sys

MODULES = ("ndk_http_module", "ngx_http_lua_module", "ngx_http_headers_more_filter_module", "ngx_http_set_misc_module")
DRAIN = """
    # kubeproof offline build: the controller's stream-configuration socket, drained (no stream-lua)
    server {
        listen 127.0.0.1:10247;
        access_log off;
        lingering_close always;
        return 204;
    }
"""


def edit(text: str) -> str:
    lines = text.split("\n")
    try:
        start = lines.index("stream {")
    except ValueError:
        sys.exit("edit-template: no top-level 'stream {' line in nginx.tmpl")
    end = next((i for i in range(start + 1, len(lines)) if lines[i] == "}"), None)
    http_end = next((i for i in range(start - 1, -1, -1) if lines[i] == "}"), None)
    if end is None or http_end is None:
        sys.exit("edit-template: cannot find the end of the stream block or of the http block")
    lines = lines[:http_end] + DRAIN.split("\n") + lines[http_end:start] + lines[end + 1:]
    out = "\n".join(lines)
    http2 = "        {{ if $cfg.UseHTTP2 }}\n            http2 on;\n        {{ end }}\n"
    if http2 not in out:
        sys.exit("edit-template: the 'http2 on;' block was not found")
    out = out.replace(http2, "")
    anchor = "# setup custom paths that do not require root access\n"
    if anchor not in out:
        sys.exit("edit-template: the anchor for load_module lines was not found")
    loads = "".join(f"load_module /usr/lib/nginx/modules/{m}.so;\n" for m in MODULES)
    return out.replace(anchor, "# kubeproof offline build: Debian's dynamic modules\n" + loads + "\n" + anchor, 1)


if __name__ == "__main__":
    src, dst = sys.argv[1:3]
    with open(src) as f:
        text = f.read()
    with open(dst, "w") as f:
        f.write(edit(text))
