// Command httpserve is the small static HTTP server the networking bench runs in a container: it answers every
// request on :80 with 16 KiB, keeping connections alive, so wrk measures the network path rather than forks.
package main

import (
	"bytes"
	"log"
	"net/http"
)

func main() {
	body := bytes.Repeat([]byte("x"), 16*1024)
	log.Fatal(http.ListenAndServe(":80", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	})))
}
