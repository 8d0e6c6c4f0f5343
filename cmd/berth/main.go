// Command berth is the Berth CLI: docker's command tree over the client package, plus `berth daemon`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		signal.Stop(sigs) // a second signal terminates the process the usual way
		cancel(signalCause{s.(syscall.Signal)})
	}()
	os.Exit(execute(ctx, newCLI(os.Stdin, os.Stdout, os.Stderr), os.Args[1:]))
}
