package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// printf writes a command's result to w and returns the write error: a
// result that never reached the operator (a full disk, a closed pipe) is a
// failed command, which matters most for a secret that is shown only once.
func printf(w io.Writer, format string, args ...any) error {
	_, err := fmt.Fprintf(w, format, args...)
	return err
}

// warnf writes a diagnostic to w (stderr). If stderr itself cannot be
// written there is nowhere left to report that, so the error is dropped.
func warnf(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}

// printer writes several lines of a result and keeps the first write error,
// so a table is reported as failed once instead of after every row. Not safe
// for concurrent use.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

// flush flushes a buffering writer (a tabwriter) after the rows, reporting
// the first error of either step.
func (p *printer) flush(f interface{ Flush() error }) error {
	if p.err != nil {
		return p.err
	}
	return f.Flush()
}

// closeInstance closes in when a command ends and reports a failed close
// through *errp unless the command already failed: a store that cannot close
// cleanly may not have persisted what the command just changed.
func closeInstance(in io.Closer, errp *error) {
	if err := in.Close(); err != nil && *errp == nil {
		*errp = fmt.Errorf("closing the data directory: %w", err)
	}
}

// printJSONList writes rows as one JSON array; no rows is [] rather than
// null, so a script can iterate the result without a special case.
func printJSONList[T any](w io.Writer, rows []T) error {
	if rows == nil {
		rows = []T{}
	}
	return json.NewEncoder(w).Encode(rows)
}

// printTable writes a header of columns and one line of cells per row,
// aligned in columns two spaces apart.
func printTable[T any](w io.Writer, columns []string, rows []T, cells func(*T) []string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := &printer{w: tw}
	p.printf("%s\n", strings.Join(columns, "\t"))
	for i := range rows {
		p.printf("%s\n", strings.Join(cells(&rows[i]), "\t"))
	}
	return p.flush(tw)
}
