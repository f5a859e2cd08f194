package h1_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/h1"
)

func TestEarlyCloseDropsTheConnection(t *testing.T) {
	var cc connCounter
	gone := make(chan struct{}, 1)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/short" {
			_, _ = io.WriteString(w, "ok")
			return
		}
		for {
			_, _ = io.WriteString(w, "data: more\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				gone <- struct{}{}
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}))
	cc.track(up)
	up.Start()
	defer up.Close()
	tr, _ := newTransport(h1.Options{})
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(post(t, up.URL+"/endless", "{}"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if _, err := resp.Body.Read(buf); err == nil {
		t.Error("a read after Close succeeded")
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream never saw the caller leave")
	}
	resp, err = tr.RoundTrip(post(t, up.URL+"/short", "{}"))
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if n := cc.opened.Load(); n != 2 {
		t.Errorf("%d connections, want 2: a half-read connection must not be reused", n)
	}
}

func TestCancelWhileAwaitingHeaders(t *testing.T) {
	gone := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // net/http watches for a close once the body is read
		<-r.Context().Done()
		gone <- struct{}{}
	}))
	defer up.Close()
	tr, _ := newTransport(h1.Options{})
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := tr.RoundTrip(post(t, up.URL, "{}").WithContext(ctx))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("returned after %v", d)
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream never saw the caller leave")
	}
}

// A body read blocked on the upstream returns when the caller cancels,
// with the cancellation's cause when it has one, as net/http returns it.
func TestCancelMidBody(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer up.Close()
	tr, _ := newTransport(h1.Options{})
	defer tr.CloseIdleConnections()
	for _, cause := range []error{nil, errors.New("idle gap")} {
		ctx, cancel := context.WithCancelCause(context.Background())
		resp, err := tr.RoundTrip(post(t, up.URL, "{}").WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		if _, err := resp.Body.Read(buf); err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(20*time.Millisecond, func() { cancel(cause) })
		want := cause
		if want == nil {
			want = context.Canceled
		}
		if _, err := resp.Body.Read(buf); !errors.Is(err, want) {
			t.Errorf("read after cancel: %v, want %v", err, want)
		}
		_ = resp.Body.Close()
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	defer close(release)
	tr, _ := newTransport(h1.Options{ResponseHeaderTimeout: 100 * time.Millisecond})
	defer tr.CloseIdleConnections()
	_, err := tr.RoundTrip(post(t, up.URL, "{}"))
	if !errors.Is(err, h1.ErrHeaderTimeout) {
		t.Fatalf("err %v, want ErrHeaderTimeout", err)
	}
	// A timeout, as net/http's is: the router fails over on it.
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Errorf("%v is not a net.Error timeout", err)
	}
}
