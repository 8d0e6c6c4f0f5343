package compose

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress reports what happens to each resource, like compose v2: plain lines as events happen when the
// output is not a terminal (" Container demo-web-1  Started"), and a "[+] Running N/N" summary with ✔ marks
// on a terminal.
type Progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	start map[string]time.Time
	order []string
	last  map[string]string
	done  map[string]bool
	title string
}

// NewProgress writes to w; tty selects the terminal layout. title is the summary's verb ("Running").
func NewProgress(w io.Writer, tty bool, title string) *Progress {
	return &Progress{w: w, tty: tty, title: title, start: map[string]time.Time{}, last: map[string]string{}, done: map[string]bool{}}
}

// Event records a status of a resource ("Container demo-web-1"); final marks it finished.
func (p *Progress) Event(resource, status string, final bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.start[resource]; !ok {
		p.start[resource] = time.Now()
		p.order = append(p.order, resource)
	}
	p.last[resource] = status
	p.done[resource] = final
	if !p.tty {
		fmt.Fprintf(p.w, " %s  %s\n", resource, status)
	}
}

// Warn prints a warning line as compose does.
func (p *Progress) Warn(format string, a ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "WARN[0000] "+format+"\n", a...)
}

// Close prints the terminal summary.
func (p *Progress) Close() {
	if p == nil || !p.tty || len(p.order) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.order {
		if p.done[r] {
			n++
		}
	}
	fmt.Fprintf(p.w, "[+] %s %d/%d\n", p.title, n, len(p.order))
	for _, r := range p.order {
		mark := "✘"
		if p.done[r] {
			mark = "✔"
		}
		fmt.Fprintf(p.w, " %s %s  %s  %.1fs\n", mark, r, p.last[r], time.Since(p.start[r]).Seconds())
	}
}
