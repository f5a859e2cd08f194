// Command bareproxy is the benchmark baseline: a bare
// net/http/httputil.ReverseProxy that sets one upstream credential and
// forwards everything else. Bulwark's per-request CPU is compared to it.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	target := flag.String("target", "", "upstream root URL, e.g. http://127.0.0.1:9000")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		log.Fatal("bareproxy: -target must be an absolute URL")
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Header.Set("Authorization", "Bearer upstream-key")
		},
		FlushInterval: -1,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 256, ForceAttemptHTTP2: true},
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal((&http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}).Serve(ln))
}
