package oci

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// sigRTMin and sigRTMax are the real-time signal range as Docker names it (glibc reserves 32 and 33).
const (
	sigRTMin = 34
	sigRTMax = 64
)

// signalMap holds Docker's Linux signal names, without the SIG prefix.
var signalMap = func() map[string]syscall.Signal {
	m := map[string]syscall.Signal{
		"ABRT":   unix.SIGABRT,
		"ALRM":   unix.SIGALRM,
		"BUS":    unix.SIGBUS,
		"CHLD":   unix.SIGCHLD,
		"CLD":    unix.SIGCLD,
		"CONT":   unix.SIGCONT,
		"FPE":    unix.SIGFPE,
		"HUP":    unix.SIGHUP,
		"ILL":    unix.SIGILL,
		"INT":    unix.SIGINT,
		"IO":     unix.SIGIO,
		"IOT":    unix.SIGIOT,
		"KILL":   unix.SIGKILL,
		"PIPE":   unix.SIGPIPE,
		"POLL":   unix.SIGPOLL,
		"PROF":   unix.SIGPROF,
		"PWR":    unix.SIGPWR,
		"QUIT":   unix.SIGQUIT,
		"SEGV":   unix.SIGSEGV,
		"STKFLT": unix.SIGSTKFLT,
		"STOP":   unix.SIGSTOP,
		"SYS":    unix.SIGSYS,
		"TERM":   unix.SIGTERM,
		"TRAP":   unix.SIGTRAP,
		"TSTP":   unix.SIGTSTP,
		"TTIN":   unix.SIGTTIN,
		"TTOU":   unix.SIGTTOU,
		"URG":    unix.SIGURG,
		"USR1":   unix.SIGUSR1,
		"USR2":   unix.SIGUSR2,
		"VTALRM": unix.SIGVTALRM,
		"WINCH":  unix.SIGWINCH,
		"XCPU":   unix.SIGXCPU,
		"XFSZ":   unix.SIGXFSZ,
		"RTMIN":  sigRTMin,
		"RTMAX":  sigRTMax,
	}
	for i := 1; i <= 15; i++ {
		m["RTMIN+"+strconv.Itoa(i)] = syscall.Signal(sigRTMin + i)
		m["RTMAX-"+strconv.Itoa(i)] = syscall.Signal(sigRTMax - i)
	}
	return m
}()

// ParseSignal parses a signal the way the docker CLI and daemon accept it: a number ("15"), or a name with or
// without the SIG prefix in any case ("SIGTERM", "term", "SIGRTMIN+3"). Anything else is ErrInvalidArgument.
func ParseSignal(s string) (syscall.Signal, error) {
	invalid := errdefs.ErrInvalidArgument.WithMessage("Invalid signal: " + s)
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > sigRTMax {
			return -1, invalid
		}
		return syscall.Signal(n), nil
	}
	sig, ok := signalMap[strings.TrimPrefix(strings.ToUpper(s), "SIG")]
	if !ok {
		return -1, invalid
	}
	return sig, nil
}

// SignalName returns Docker's name for sig ("SIGTERM", "SIGRTMIN+3"), or its number when it has none.
func SignalName(sig syscall.Signal) string {
	best := ""
	for name, s := range signalMap {
		// Prefer the canonical name over aliases (IOT, CLD, POLL) and RTMIN+n over RTMAX-m.
		if s == sig && (best == "" || rank(name) < rank(best) || rank(name) == rank(best) && name < best) {
			best = name
		}
	}
	if best == "" {
		return fmt.Sprint(int(sig))
	}
	return "SIG" + best
}

func rank(name string) int {
	switch {
	case name == "IOT" || name == "CLD" || name == "POLL":
		return 2
	case strings.HasPrefix(name, "RTMAX-"):
		return 1
	}
	return 0
}
