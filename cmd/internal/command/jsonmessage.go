package command

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/moby/moby/api/types/jsonstream"
)

// progressMessage is one line of a daemon's JSON progress stream (pull, push, import, load).
type progressMessage struct {
	Stream   string               `json:"stream,omitempty"`
	Status   string               `json:"status,omitempty"`
	Detail   *jsonstream.Progress `json:"progressDetail,omitempty"`
	Progress string               `json:"progress,omitempty"`
	ID       string               `json:"id,omitempty"`
	Error    *jsonstream.Error    `json:"errorDetail,omitempty"`
	ErrorMsg string               `json:"error,omitempty"`
	Aux      json.RawMessage      `json:"aux,omitempty"`
}

// renderProgress prints a progress stream as the docker CLI does: on a terminal, one line per layer ID updated
// in place; otherwise plain lines, without the byte-count updates. aux, if set, receives aux messages. The
// error the stream ends with, if any, is returned.
func renderProgress(r io.Reader, out io.Writer, isTerm bool, aux func(json.RawMessage)) error {
	dec := json.NewDecoder(bufio.NewReader(r))
	ids := map[string]int{} // layer ID -> line, counted from the first layer line
	for {
		var m progressMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if m.Error != nil && m.Error.Message != "" {
			return errors.New(m.Error.Message)
		}
		if m.ErrorMsg != "" {
			return errors.New(m.ErrorMsg)
		}
		if m.Aux != nil {
			if aux != nil {
				aux(m.Aux)
			}
			continue
		}
		moving := m.Detail != nil && (m.Detail.Current > 0 || m.Detail.Total > 0)
		if !isTerm && moving {
			continue
		}
		line := m.Status
		if m.Stream != "" {
			fmt.Fprint(out, m.Stream)
			continue
		}
		if m.ID != "" {
			line = m.ID + ": " + line
		}
		if moving && m.Progress != "" {
			line += " " + m.Progress
		}
		if !isTerm {
			fmt.Fprintln(out, line)
			continue
		}
		if m.ID == "" || m.Detail == nil {
			// Not a layer line: later updates must not move back over it.
			ids = map[string]int{}
			fmt.Fprintf(out, "\x1b[2K\r%s\n", line)
			continue
		}
		n, ok := ids[m.ID]
		if !ok {
			n = len(ids)
			ids[m.ID] = n
			fmt.Fprint(out, "\n")
		}
		up := len(ids) - n
		fmt.Fprintf(out, "\x1b[%dA\x1b[2K\r%s\x1b[%dB\r", up, line, up)
	}
}
