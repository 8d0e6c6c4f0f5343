package command

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// resizeTty sets the container's (or exec's) tty to the local terminal's size.
func (c *CLI) resizeTty(ctx context.Context, id string, isExec bool) error {
	h, w := c.out.TtySize()
	if h == 0 && w == 0 {
		return nil
	}
	return c.resizeTtyTo(ctx, id, h, w, isExec)
}

func (c *CLI) resizeTtyTo(ctx context.Context, id string, h, w uint, isExec bool) error {
	apiClient, err := c.Client()
	if err != nil {
		return err
	}
	if isExec {
		err = apiClient.ExecResize(ctx, id, h, w)
	} else {
		err = apiClient.ContainerResize(ctx, id, h, w)
	}
	if err != nil {
		slog.Debug("resize failed", "id", id, "error", err)
	}
	return err
}

// monitorTtySize resizes now (retrying briefly while the process starts) and on every SIGWINCH until ctx ends.
func (c *CLI) monitorTtySize(ctx context.Context, id string, isExec bool) {
	if err := c.resizeTty(ctx, id, isExec); err != nil {
		go func() {
			var err error
			for retry := range 10 {
				time.Sleep(time.Duration(retry+1) * 10 * time.Millisecond)
				if err = c.resizeTty(ctx, id, isExec); err == nil {
					return
				}
			}
			fmt.Fprintln(c.err, "failed to resize tty, using default size")
		}()
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(winch)
		for {
			select {
			case <-winch:
				_ = c.resizeTty(ctx, id, isExec)
			case <-ctx.Done():
				return
			}
		}
	}()
}
