package compose

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress reports what happens to each resource, like compose v2: plain lines as events happen when the
// output is not a terminal (" Container demo-web-1  Started"), and on a terminal a block redrawn in place,
// "[+] Running N/M" over one line per resource (" ✔ Container demo-web-1  Started  0.3s").
type Progress struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	title    string
	order    []string
	state    map[string]*resourceState
	rendered int // lines of the last terminal frame, to move back over
}

type resourceState struct {
	status     string
	done       bool
	start, end time.Time
}

// NewProgress writes to w; tty selects the terminal layout. title is the summary's verb ("Running").
func NewProgress(w io.Writer, tty bool, title string) *Progress {
	return &Progress{w: w, tty: tty, title: title, state: map[string]*resourceState{}}
}

// Event records a status of a resource ("Container demo-web-1"); final marks it finished.
func (p *Progress) Event(resource, status string, final bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.state[resource]
	if !ok {
		st = &resourceState{start: time.Now()}
		p.state[resource] = st
		p.order = append(p.order, resource)
	}
	st.status, st.done = status, final
	if final {
		st.end = time.Now()
	}
	if !p.tty {
		fmt.Fprintf(p.w, " %s  %s\n", resource, status)
		return
	}
	p.render(false)
}

// Warn prints a warning line as compose does.
func (p *Progress) Warn(format string, a ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "WARN[0000] "+format+"\n", a...)
	p.rendered = 0 // the warning scrolled the frame; draw the next one below it
}

// Close draws the final terminal frame; resources still in progress are marked failed.
func (p *Progress) Close() {
	if p == nil || !p.tty || len(p.order) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.render(true)
}

// render draws the frame over the previous one; the caller holds p.mu.
func (p *Progress) render(final bool) {
	if p.rendered > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.rendered)
	}
	n := 0
	for _, r := range p.order {
		if p.state[r].done {
			n++
		}
	}
	fmt.Fprintf(p.w, "\x1b[2K[+] %s %d/%d\n", p.title, n, len(p.order))
	for _, r := range p.order {
		st := p.state[r]
		mark, end := "⠿", time.Now()
		switch {
		case st.done:
			mark, end = "✔", st.end
		case final:
			mark = "✘"
		}
		fmt.Fprintf(p.w, "\x1b[2K %s %s  %s  %.1fs\n", mark, r, st.status, end.Sub(st.start).Seconds())
	}
	p.rendered = 1 + len(p.order)
}
