// Command loadgen is the benchmark's closed-loop HTTP load generator: C
// connections each send the same POST back to back for a fixed duration,
// and it prints one JSON line with requests, errors, RPS and p50/p99 of
// latency and time to first byte (the figure that matters for streams).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ",") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

type result struct {
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	RPS       float64 `json:"rps"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	P999ms    float64 `json:"p999_ms"`
	TTFBP50ms float64 `json:"ttfb_p50_ms"`
	TTFBP99ms float64 `json:"ttfb_p99_ms"`
}

func main() {
	url := flag.String("url", "", "target URL")
	bodyFile := flag.String("body", "", "request body file")
	conc := flag.Int("c", 32, "concurrent connections")
	dur := flag.Duration("d", 10*time.Second, "duration")
	unique := flag.Bool("unique", false, "replace "+placeholder+" in the body with a different 8-letter word per request (defeats caches keyed on content, as fresh prompts do)")
	rate := flag.Float64("rate", 0, "open loop: start this many requests per second in all (0: closed loop, each connection sends back to back)")
	var hdr headers
	flag.Var(&hdr, "H", "header 'Name: value' (repeatable)")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		log.Fatal(err)
	}
	var seq atomic.Uint64
	next := func() []byte { return body }
	if *unique {
		if !bytes.Contains(body, []byte(placeholder)) {
			log.Fatalf("-unique: the body has no %s", placeholder)
		}
		next = func() []byte { return bytes.ReplaceAll(body, []byte(placeholder), word(seq.Add(1))) }
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc, DisableCompression: true}}
	var mu sync.Mutex
	var lat, ttfb []time.Duration
	errs := 0
	begin := time.Now()
	stop := begin.Add(*dur)
	var wg sync.WaitGroup
	buf := make([]byte, 32<<10)
	for i := range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := slices.Clone(buf)
			var l, f []time.Duration
			e := 0
			pace := pacer(begin, *rate, *conc, i)
			for time.Now().Before(stop) {
				pace()
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, *url, bytes.NewReader(next()))
				for _, h := range hdr {
					k, v, _ := strings.Cut(h, ":")
					req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
				}
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					e++
					continue
				}
				_, err = io.ReadAtLeast(resp.Body, b[:1], 1)
				first := time.Since(start)
				_, _ = io.CopyBuffer(io.Discard, resp.Body, b)
				_ = resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					e++
					continue
				}
				l, f = append(l, time.Since(start)), append(f, first)
			}
			mu.Lock()
			lat, ttfb, errs = append(lat, l...), append(ttfb, f...), errs+e
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	slices.Sort(ttfb)
	r := result{Requests: len(lat), Errors: errs, RPS: float64(len(lat)) / dur.Seconds(),
		P50ms: pct(lat, 500), P99ms: pct(lat, 990), P999ms: pct(lat, 999), TTFBP50ms: pct(ttfb, 500), TTFBP99ms: pct(ttfb, 990)}
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

// pct is the per-mille quantile of sorted s, in milliseconds.
func pct(s []time.Duration, perMille int) float64 {
	if len(s) == 0 {
		return 0
	}
	return float64(s[(len(s)-1)*perMille/1000].Microseconds()) / 1000
}

// placeholder marks where -unique puts its per-request word.
const placeholder = "{{n}}"

// word spells n as eight lowercase letters: the same length for every
// request, and neither digits (which PII detectors may read as a phone
// number) nor a high-entropy token.
func word(n uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte('a' + n%26)
		n /= 26
	}
	return b
}

// pacer returns what connection i of conc calls before each request: at a
// total rate > 0 the connections take turns on one schedule (connection i
// sends at begin + (i + k·conc)/rate), so every target sees the same
// offered load and CPU per request compares work, not how well a faster
// server batches its wake-ups. A connection that falls behind sends at
// once, without skipping. At rate 0 it returns at once (closed loop).
func pacer(begin time.Time, rate float64, conc, i int) func() {
	if rate <= 0 {
		return func() {}
	}
	every := time.Duration(float64(time.Second) * float64(conc) / rate)
	next := begin.Add(time.Duration(float64(time.Second) * float64(i) / rate))
	return func() {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(every)
	}
}
