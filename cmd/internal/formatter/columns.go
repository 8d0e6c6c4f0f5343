package formatter

import (
	"io"
	"strings"
	"text/tabwriter"
)

// WriteColumns prints a header and rows of already-formatted cells, aligned (for `top`, whose columns
// come from the daemon rather than from a row type).
func WriteColumns(out io.Writer, minWidth int, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(out, minWidth, 1, 3, ' ', 0)
	if _, err := io.WriteString(tw, strings.Join(header, "\t")+"\n"); err != nil {
		return err
	}
	for _, r := range rows {
		if _, err := io.WriteString(tw, strings.Join(r, "\t")+"\n"); err != nil {
			return err
		}
	}
	return tw.Flush()
}
