package command

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth/berth/client"
	"golang.org/x/sys/unix"
)

// signalProxy forwards every signal the CLI receives to a container (--sig-proxy). SIGCHLD, SIGPIPE, SIGURG
// (Go's preemption) and SIGWINCH are not forwarded.
//
// Registering for every signal, and unregistering, each take 1-3 ms (the Go runtime updates one signal at a
// time through its signal thread), so both happen in the proxy's goroutine: `run` starts the proxy before it
// creates the container and waits for the registration only before the start, and stop returns at once, so that
// a CLI about to exit does not wait for the unregistration. Signals that arrive before the container is known
// are forwarded once it is.
type signalProxy struct {
	registered chan struct{}
	id         chan string
	cancel     context.CancelFunc
}

func startSignalProxy(ctx context.Context, apiClient *client.Client) *signalProxy {
	p := &signalProxy{registered: make(chan struct{}), id: make(chan string, 1)}
	ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	ch := make(chan os.Signal, 128)
	go func() {
		signal.Notify(ch)
		defer signal.Stop(ch)
		close(p.registered)
		var id string
		select {
		case <-ctx.Done():
			return
		case id = <-p.id:
		}
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
	return p
}

// forwardTo starts forwarding to container id (once).
func (p *signalProxy) forwardTo(id string) { p.id <- id }

// wait returns once the CLI receives every signal for the proxy.
func (p *signalProxy) wait() { <-p.registered }

// stop ends the forwarding; the unregistration finishes in the background.
func (p *signalProxy) stop() { p.cancel() }

// proxySignals forwards signals to container id until the returned function is called.
func proxySignals(ctx context.Context, apiClient *client.Client, id string) (stop func()) {
	p := startSignalProxy(ctx, apiClient)
	p.forwardTo(id)
	p.wait()
	return p.stop
}
