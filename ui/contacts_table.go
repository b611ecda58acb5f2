package ui

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// The contacts and suppression screens draw plain tables rather than
// bubbles/table: the rows come from a paged window over a million records
// and the columns must drop, not wrap, when the terminal is narrow.

// tableColumn describes one column; lower priority values survive longer.
type tableColumn struct {
	title    string
	min      int // narrowest useful width
	want     int // the width the content asks for (at least min)
	priority int
}

// columnGap is the space between two columns.
const columnGap = 2

// fitColumns gives each column a width for a table width wide, 0 meaning
// the column is dropped. Columns are admitted at their minimum width in
// priority order until the next one does not fit, then grow toward what
// their content wants. The column with the best priority is always shown,
// cut to the width if need be.
func fitColumns(cols []tableColumn, width int) []int {
	widths := make([]int, len(cols))
	if len(cols) == 0 || width <= 0 {
		return widths
	}
	order := make([]int, len(cols))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return cols[order[a]].priority < cols[order[b]].priority })
	used := 0
	for n, i := range order {
		need := cols[i].min
		if n > 0 {
			need += columnGap
		}
		if used+need > width {
			if n == 0 {
				widths[i] = width
				return widths
			}
			break
		}
		widths[i] = cols[i].min
		used += need
	}
	// Grow one cell at a time in turn, so that one long address cannot
	// take all the room a name needs.
	for grew := true; grew && used < width; {
		grew = false
		for _, i := range order {
			if widths[i] > 0 && widths[i] < cols[i].want && used < width {
				widths[i]++
				used++
				grew = true
			}
		}
	}
	return widths
}

// renderCells lays cells out at the given widths, skipping dropped columns.
func renderCells(cells []string, widths []int) string {
	var b strings.Builder
	first := true
	for i, w := range widths {
		if w <= 0 {
			continue
		}
		if !first {
			b.WriteString(strings.Repeat(" ", columnGap))
		}
		first = false
		b.WriteString(fitCell(cells[i], w))
	}
	return b.String()
}

// fitCell cuts s to w cells with an ellipsis, or pads it to w.
func fitCell(s string, w int) string {
	if w <= 0 {
		return ""
	}
	s = strings.ReplaceAll(s, "\n", " ")
	if ansi.StringWidth(s) > w {
		return ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-ansi.StringWidth(s))
}

// cutLine cuts a rendered line to w cells so that nothing ever wraps.
func cutLine(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		return ansi.Truncate(s, w, "…")
	}
	return s
}

// padLine pads a rendered line with spaces to w cells (and cuts it when
// longer), so a reverse-video cursor row spans the whole table.
func padLine(s string, w int) string {
	s = cutLine(s, w)
	if n := w - ansi.StringWidth(s); n > 0 {
		s += strings.Repeat(" ", n)
	}
	return s
}

// agoText says how long ago t was, briefly; older dates become a date.
func agoText(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m ago"
	case d < 24*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h ago"
	case d < 7*24*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d ago"
	case now.Year() == t.Year():
		return t.Local().Format("Jan 2")
	}
	return t.Local().Format("2006-01-02")
}

// wrapText word-wraps s (which may hold styles) to w cells.
func wrapText(s string, w int) []string {
	if w <= 0 {
		return nil
	}
	// Wrap breaks words longer than a line too (long paths), so nothing
	// is cut off.
	return strings.Split(ansi.Wrap(s, w, ""), "\n")
}
