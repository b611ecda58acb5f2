package ui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// scrollList is the cursor of a list and the rows of it on screen: the
// campaigns, the contacts, the suppression list and a send's failures all
// move, page and scroll through one, so their keys behave alike.
type scrollList struct {
	cursor int // the selected row
	offset int // the first row on screen
	n      int // rows in the list; a lower bound while more is set
	more   bool
	height int // rows on screen
}

// setLen gives the list n rows and keeps the cursor on one of them. more
// says that rows past n may follow (contacts whose count is not made yet):
// the cursor may then go past n, and the list scrolls on.
func (l *scrollList) setLen(n int, more bool) {
	l.n, l.more = n, more
	l.clamp()
}

// setHeight gives the list its rows on screen and keeps the cursor in view.
func (l *scrollList) setHeight(h int) {
	l.height = h
	l.clamp()
}

// resize is setLen without more, and setHeight, at once.
func (l *scrollList) resize(n, h int) {
	l.n, l.more, l.height = n, false, h
	l.clamp()
}

// rows is the height, at least one row.
func (l *scrollList) rows() int { return max(l.height, 1) }

func (l *scrollList) clamp() {
	if !l.more {
		l.cursor = min(l.cursor, l.n-1)
	}
	l.cursor = max(l.cursor, 0)
	rows := l.rows()
	if l.cursor < l.offset {
		l.offset = l.cursor
	}
	if l.cursor >= l.offset+rows {
		l.offset = l.cursor - rows + 1
	}
	if !l.more {
		l.offset = min(l.offset, max(l.n-rows, 0))
	}
	l.offset = max(l.offset, 0)
}

// move moves the cursor by delta rows.
func (l *scrollList) move(delta int) {
	l.cursor += delta
	l.clamp()
}

// page scrolls a whole screen and keeps the cursor on the same screen row,
// as pagers do; dir is 1 or -1.
func (l *scrollList) page(dir int) {
	rows := l.rows()
	l.offset += dir * rows
	l.cursor += dir * rows
	if !l.more {
		l.offset = min(l.offset, max(l.n-rows, 0))
	}
	l.offset = max(l.offset, 0)
	l.clamp()
}

// top selects the first row.
func (l *scrollList) top() {
	l.cursor = 0
	l.clamp()
}

// bottom selects the last row.
func (l *scrollList) bottom() {
	l.cursor = l.n - 1
	l.clamp()
}

// selectRow puts the cursor on row i.
func (l *scrollList) selectRow(i int) {
	l.cursor = i
	l.clamp()
}

// reset puts the cursor and the view back on the first row.
func (l *scrollList) reset() {
	l.cursor, l.offset = 0, 0
	l.clamp()
}

// window is the rows a screen of height h shows: from start up to, not
// including, end. While more is set, end may pass n.
func (l *scrollList) window(h int) (start, end int) {
	end = l.offset + h
	if !l.more {
		end = min(end, l.n)
	}
	return l.offset, max(end, l.offset)
}

// handleKey moves the list when k is one of the navigation keys; ok is
// false for any other key.
func (l *scrollList) handleKey(k tea.KeyPressMsg, km NavKeyMap) (ok bool) {
	switch {
	case key.Matches(k, km.Up):
		l.move(-1)
	case key.Matches(k, km.Down):
		l.move(1)
	case key.Matches(k, km.PageUp):
		l.page(-1)
	case key.Matches(k, km.PageDown):
		l.page(1)
	case key.Matches(k, km.Top):
		l.top()
	case key.Matches(k, km.Bottom):
		l.bottom()
	default:
		return false
	}
	return true
}
