package command

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/moby/moby/api/types/events"
	"github.com/spf13/cobra"
)

func newEventsCommand(c *CLI) *cobra.Command {
	var (
		since, until, format string
		filter               = newFilterOpt()
	)
	cmd := &cobra.Command{
		Use:         "events [OPTIONS]",
		Short:       "Get real time events from the server",
		Args:        cli.NoArgs,
		Annotations: map[string]string{"aliases": joinAliases("system events", "events")},
		RunE: func(cmd *cobra.Command, args []string) error {
			tmpl, err := eventsTemplate(format)
			if err != nil {
				return cli.StatusError{Status: "Error parsing format: " + err.Error(), Code: 64}
			}
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			msgs, errs := apiClient.Events(cmd.Context(), client.EventsOptions{Since: since, Until: until, Filters: filter.Value()})
			for m := range msgs {
				if err := printEvent(c.out, m, tmpl); err != nil {
					return err
				}
			}
			if err := <-errs; err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			return nil
		},
	}
	flags := cmd.Flags()
	flags.VarP(filter, "filter", "f", "Filter output based on conditions provided")
	flags.StringVar(&format, "format", "", inspectFormatHelp)
	flags.StringVar(&since, "since", "", "Show all events created since timestamp")
	flags.StringVar(&until, "until", "", "Stream events until this timestamp")
	return cmd
}

// eventsTemplate parses --format ("json" or a template) and tries it on an empty event, so a bad
// field fails before the stream starts.
func eventsTemplate(format string) (*template.Template, error) {
	switch format {
	case "":
		return nil, nil
	case formatter.JSONFormatKey:
		format = formatter.JSONFormat
	}
	tmpl, err := formatter.Parse(format)
	if err != nil {
		return nil, err
	}
	return tmpl, tmpl.Execute(io.Discard, &events.Message{})
}

// rfc3339NanoFixed pads nanoseconds so event lines align.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

func printEvent(out io.Writer, m events.Message, tmpl *template.Template) error {
	if tmpl != nil {
		if err := tmpl.Execute(out, m); err != nil {
			return err
		}
		_, err := fmt.Fprintln(out)
		return err
	}
	var b strings.Builder
	switch {
	case m.TimeNano != 0:
		b.WriteString(time.Unix(0, m.TimeNano).Format(rfc3339NanoFixed) + " ")
	case m.Time != 0:
		b.WriteString(time.Unix(m.Time, 0).Format(rfc3339NanoFixed) + " ")
	}
	fmt.Fprintf(&b, "%s %s %s", m.Type, m.Action, m.Actor.ID)
	if len(m.Actor.Attributes) > 0 {
		keys := make([]string, 0, len(m.Actor.Attributes))
		for k := range m.Actor.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		attrs := make([]string, len(keys))
		for i, k := range keys {
			attrs[i] = k + "=" + m.Actor.Attributes[k]
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(attrs, ", "))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(out, b.String())
	return err
}
