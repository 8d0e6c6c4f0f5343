package agent

import (
	"errors"
	"testing"
)

func TestExitErrorWords(t *testing.T) {
	for _, c := range []struct {
		err  exitError
		want string
	}{
		{exitError{code: 4}, "task: non-zero exit (4)"},
		{exitError{code: 137, cause: ErrContainerUnhealthy}, "task: non-zero exit (137): dockerexec: unhealthy container"},
		// A container stopped as unhealthy that exits 0 on its stop signal: failed all the same, never "non-zero".
		{exitError{code: 0, cause: ErrContainerUnhealthy}, "task: exit (0): dockerexec: unhealthy container"},
		{exitError{code: 1, cause: errors.New("oom")}, "task: non-zero exit (1): oom"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("exitError{%d, %v} = %q, want %q", c.err.code, c.err.cause, got, c.want)
		}
	}
}
