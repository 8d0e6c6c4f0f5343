// Command httpserve is the small static HTTP server the networking bench runs in a container: it answers every
// request on :80 with 16 KiB (1 MiB on /1m, for bulk throughput), keeping connections alive, so wrk measures
// the network path rather than forks.
// On SIGTERM it stops as a service behind a load balancer should: for a second it answers with "Connection:
// close", so that clients on kept-alive connections move to another backend between requests, then it closes
// what is left and exits.
package main

import (
	"bytes"
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	body := bytes.Repeat([]byte("x"), 16*1024)
	big := bytes.Repeat([]byte("x"), 1024*1024)
	var stopping atomic.Bool
	srv := &http.Server{Addr: ":80", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stopping.Load() {
			w.Header().Set("Connection", "close")
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		if r.URL.Path == "/1m" {
			w.Write(big)
			return
		}
		w.Write(body)
	})}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-term
		stopping.Store(true)
		time.Sleep(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	// ListenAndServe returns as soon as Shutdown begins; exiting then would cut the answers still being
	// written (Go's documented pattern: wait for Shutdown to return).
	<-done
}
