package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth/berth/client"
	"golang.org/x/sys/unix"
)

// proxySignals forwards every signal the CLI receives to the container (--sig-proxy) until the returned
// stop function is called. SIGCHLD, SIGPIPE, SIGURG (Go's preemption) and SIGWINCH are not forwarded.
func proxySignals(ctx context.Context, apiClient *client.Client, id string) (stop func()) {
	ch := make(chan os.Signal, 128)
	signal.Notify(ch)
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-ch:
				sig, ok := s.(syscall.Signal)
				if !ok {
					continue
				}
				switch sig {
				case syscall.SIGCHLD, syscall.SIGPIPE, syscall.SIGURG, syscall.SIGWINCH:
					continue
				}
				name := unix.SignalName(sig)
				if name == "" {
					continue
				}
				if err := apiClient.ContainerKill(ctx, id, name); err != nil {
					slog.Debug("error sending signal", "container", id, "signal", name, "error", err)
				}
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		cancel()
	}
}
