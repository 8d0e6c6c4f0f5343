package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// SignalContext returns a context cancelled by the first SIGINT or SIGTERM. Like docker, two more of them
// force the process out: restore (the terminal's state) runs, then the process exits with status 1; for when
// a container ignores the proxied signal. The returned function stops listening.
func SignalContext(parent context.Context, stderr io.Writer, restore func()) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 3)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for n := 0; ; n++ {
			select {
			case s := <-sigs:
				if n == 0 {
					cancel(signalCause{s.(syscall.Signal)})
					continue
				}
				if n == 2 {
					fmt.Fprint(stderr, "\ngot 3 SIGTERM/SIGINTs, forcefully exiting\n")
					if restore != nil {
						restore()
					}
					os.Exit(1)
				}
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}

// signalCause is the cancellation cause of the root context when a signal arrived.
type signalCause struct{ syscall.Signal }

func (s signalCause) Error() string { return "received " + s.Signal.String() }
