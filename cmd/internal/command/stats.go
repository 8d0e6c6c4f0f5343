package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/spf13/cobra"
)

type statsOptions struct {
	all      bool
	noStream bool
	noTrunc  bool
	format   string
}

func newStatsCommand(c *CLI) *cobra.Command {
	var opts statsOptions
	cmd := &cobra.Command{
		Use:         "stats [OPTIONS] [CONTAINER...]",
		Short:       "Display a live stream of container(s) resource usage statistics",
		Args:        cobra.ArbitraryArgs,
		Annotations: map[string]string{"aliases": joinAliases("container stats", "stats")},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStats(cmd.Context(), c, &opts, args)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.all, "all", "a", false, "Show all containers (default shows just running)")
	flags.BoolVar(&opts.noStream, "no-stream", false, "Disable streaming stats and only pull the first result")
	flags.BoolVar(&opts.noTrunc, "no-trunc", false, "Do not truncate output")
	flags.StringVar(&opts.format, "format", "", formatHelp)
	return cmd
}

// containerStats is the latest sample of one container, updated by its collector.
type containerStats struct {
	mu    sync.Mutex
	entry formatter.StatsEntry
	err   error
}

func (s *containerStats) set(e formatter.StatsEntry, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = err
		s.entry = formatter.StatsEntry{Container: s.entry.Container, Name: s.entry.Name, ID: s.entry.ID, IsInvalid: true}
		return
	}
	s.entry, s.err = e, nil
}

func (s *containerStats) get() (formatter.StatsEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entry, s.err
}

// statsSet is the ordered set of containers being watched.
type statsSet struct {
	mu   sync.Mutex
	list []*containerStats
}

func (s *statsSet) add(id string) (*containerStats, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cs := range s.list {
		if e, _ := cs.get(); e.Container == id {
			return nil, false
		}
	}
	cs := &containerStats{entry: formatter.StatsEntry{Container: id}}
	s.list = append(s.list, cs)
	return cs, true
}

func (s *statsSet) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, cs := range s.list {
		e, _ := cs.get()
		if e.Container == id || e.ID == id {
			s.list = append(s.list[:i], s.list[i+1:]...)
			return
		}
	}
}

func (s *statsSet) snapshot() []*containerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*containerStats(nil), s.list...)
}

// collect reads samples for one container until ctx ends (or after one sample with noStream);
// first is signalled once, after the first sample or failure (or 2s without one).
func collect(ctx context.Context, apiClient *client.Client, id string, cs *containerStats, stream bool, first func()) {
	var once sync.Once
	signal := func() { once.Do(first) }
	defer signal()
	timer := time.AfterFunc(2*time.Second, func() {
		cs.set(formatter.StatsEntry{}, errors.New("timeout waiting for stats"))
		signal()
	})
	defer timer.Stop()

	resp, err := apiClient.ContainerStats(ctx, id, stream, false)
	if err != nil {
		cs.set(formatter.StatsEntry{}, err)
		return
	}
	defer resp.Body.Close()
	stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
	defer stop()
	dec := json.NewDecoder(resp.Body)
	for {
		var s container.StatsResponse
		if err := dec.Decode(&s); err != nil {
			if ctx.Err() == nil && !errors.Is(err, io.EOF) {
				cs.set(formatter.StatsEntry{}, err)
			}
			return
		}
		timer.Stop()
		cs.set(formatter.NewStatsEntry(id, s), nil)
		signal()
		if !stream {
			return
		}
	}
}

func runStats(ctx context.Context, c *CLI, opts *statsOptions, names []string) error {
	apiClient, err := c.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		set       statsSet
		firstWait sync.WaitGroup
	)
	watch := func(id string) {
		if cs, added := set.add(id); added {
			firstWait.Add(1)
			go collect(ctx, apiClient, id, cs, !opts.noStream, firstWait.Done)
		}
	}

	showAll := len(names) == 0
	eventErrs := make(chan error, 1)
	if showAll {
		if !opts.noStream {
			// Follow containers starting and stopping while streaming.
			msgs, errs := apiClient.Events(ctx, client.EventsOptions{Filters: client.Filters{"type": {string(events.ContainerEventType)}}})
			go func() {
				for m := range msgs {
					switch m.Action {
					case events.ActionStart:
						watch(m.Actor.ID)
					case events.ActionCreate:
						if opts.all {
							watch(m.Actor.ID)
						}
					case events.ActionDie:
						if !opts.all {
							set.remove(m.Actor.ID)
						}
					case events.ActionDestroy:
						set.remove(m.Actor.ID)
					}
				}
				if err := <-errs; err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil {
					eventErrs <- err
				}
			}()
		}
		list, err := apiClient.ContainerList(ctx, client.ContainerListOptions{All: opts.all})
		if err != nil {
			return err
		}
		for _, ctr := range list {
			watch(ctr.ID)
		}
	} else {
		for _, n := range names {
			watch(n)
		}
	}
	firstWait.Wait()

	if !showAll {
		var errs []error
		for _, cs := range set.snapshot() {
			if _, err := cs.get(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}

	fctx := formatter.Context{Format: formatter.NewStatsFormat(opts.format), Trunc: !opts.noTrunc}
	render := func() ([]byte, error) {
		var buf bytes.Buffer
		fctx.Output = &buf
		var entries []formatter.StatsEntry
		for _, cs := range set.snapshot() {
			e, _ := cs.get()
			entries = append(entries, e)
		}
		err := fctx.Write(formatter.StatsHeader, formatter.StatsRows(entries, !opts.noTrunc))
		return buf.Bytes(), err
	}

	if opts.noStream {
		out, err := render()
		if err != nil {
			return err
		}
		_, err = c.out.Write(out)
		return err
	}

	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			if len(set.snapshot()) == 0 && !showAll {
				_, _ = io.WriteString(c.out, "\033[H\033[J")
				return nil
			}
			out, err := render()
			if err != nil {
				return err
			}
			// Redraw in place: cursor home, each line followed by erase-to-end-of-line, then erase below.
			var frame bytes.Buffer
			frame.WriteString("\033[H")
			for _, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
				frame.Write(line)
				frame.WriteString("\033[K\n")
			}
			frame.WriteString("\033[J")
			if _, err := c.out.Write(frame.Bytes()); err != nil {
				return err
			}
		case err := <-eventErrs:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
