package command

import (
	"bufio"
	"context"
	"fmt"
	"strings"
)

// confirm prints message and " [y/N] " and reads one answer; only "y" or "Y" confirms.
func (c *CLI) confirm(ctx context.Context, message string) (bool, error) {
	fmt.Fprint(c.out, message+" [y/N] ")
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(c.in).ReadString('\n')
		answer <- strings.TrimSpace(line)
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(c.out)
		return false, ctx.Err()
	case a := <-answer:
		return a == "y" || a == "Y", nil
	}
}
