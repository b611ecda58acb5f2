package ui

import (
	"errors"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"tui/internal/english"
	"tui/store"
)

// The campaign screen's sending side: s starts a send, w opens the live
// pane, the strip above the list shows every send in progress, and the
// rows' badges and last-send summaries follow the hub's updates.

// maxStripSends is how many sends get a line of their own above the list.
const maxStripSends = 3

// updateSending handles the messages of sends; ok is false for the rest.
func (s *CampaignsScreen) updateSending(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case sendUpdatesMsg:
		// The board first: the pane reads it.
		return tea.Batch(s.applyUpdates(msg), s.toLayers(msg)), true
	case preflightDoneMsg, queueProgressMsg, sendStartMsg, spinner.TickMsg:
		// The send flow's, on screen or behind it; each spinner ignores
		// the ticks of the others.
		return s.toLayers(msg), true
	case paneLoadedMsg, failuresLoadedMsg, retryAskMsg, retryStartMsg, retryProgressMsg, retryDoneMsg:
		if !s.paneOpen() {
			return nil, true
		}
		return tea.Batch(s.toLayers(msg), s.ensureClock()), true
	case sendControlMsg:
		cmd := s.toLayers(msg)
		if msg.err == nil {
			if msg.c.ID != 0 {
				s.sends.setCampaign(msg.c)
				s.updateRow(msg.c)
			}
			if msg.send != nil && msg.c.ID != 0 {
				s.sends.seed(msg.c, nil, nil)
				if l := s.sends.get(msg.c.ID); l != nil {
					l.send, l.hasSend = *msg.send, true
				}
			}
		}
		if msg.err != nil {
			return tea.Batch(cmd, controlNews(msg), s.ensureClock()), true
		}
		// Other sessions (over SSH) reload too: a paused send has no events
		// to bring them its new state or rate.
		return tea.Batch(cmd, controlNews(msg), s.ensureClock(), DataChanged(CampaignData)), true
	case clockMsg:
		if msg.seq != s.clockSeq {
			return nil, true
		}
		s.clockOn = false
		return s.ensureClock(), true
	}
	return nil, false
}

// applyUpdates folds the hub's news into the board and the rows, and
// flashes the end of a send the session watched, and a pause this session
// did not make (another person's, or the pause of a send that fails
// everyone).
func (s *CampaignsScreen) applyUpdates(msg sendUpdatesMsg) tea.Cmd {
	var cmds []tea.Cmd
	for _, u := range msg.updates {
		if s.sends.apply(u) {
			l := s.sends.get(u.Campaign.ID)
			news := endNews(l)
			cmds = append(cmds, func() tea.Msg { return news })
		}
		if news, ok := s.sends.pauseNews(u.Campaign.ID, s.c.Actor); ok {
			cmds = append(cmds, func() tea.Msg { return news })
		}
		s.updateRow(u.Campaign)
	}
	cmds = append(cmds, s.ensureClock())
	return tea.Batch(cmds...)
}

// updateRow shows a campaign's newer state in its row, without reloading.
func (s *CampaignsScreen) updateRow(c store.Campaign) {
	i := s.indexOf(c.ID)
	if i < 0 || c.Version < s.all[i].c.Version {
		return
	}
	before := s.all[i].c.Status
	s.all[i] = newCampaignRow(c)
	if before != c.Status && s.filterQuery != "" {
		keep := s.selectedID()
		s.applyFilter()
		s.selectID(keep)
	}
}

// noteActiveSends puts the campaigns the list shows as sending or paused on
// the board, so the strip lists them even before (or without) the hub.
//
// A send the list shows ended while the board still held it under way
// ended without the hub's word (cancelled in the ledger alone, or by
// another process while Redis is away): its numbers are read again from
// the ledger, in the command returned.
func (s *CampaignsScreen) noteActiveSends() tea.Cmd {
	var ended []uint64
	for i := range s.all {
		c := s.all[i].c
		if c.Status == store.StatusSending || c.Status == store.StatusPaused {
			s.sends.seed(c, nil, nil)
		} else if l := s.sends.get(c.ID); l != nil {
			if l.c.Status == store.StatusSending || l.c.Status == store.StatusPaused {
				ended = append(ended, c.ID)
			}
			s.sends.setCampaign(c)
		}
	}
	if len(ended) == 0 {
		return nil
	}
	st := s.c.Store
	return func() tea.Msg {
		msg := endedSendsMsg{}
		for _, id := range ended {
			c, err := st.Campaign(id)
			if err != nil {
				continue
			}
			if ss, err := st.SendState(id); err == nil {
				msg.ended = append(msg.ended, endedSend{c: safeCampaign(c), send: ss})
			}
		}
		return msg
	}
}

// endedSendsMsg carries the ledger's numbers of sends that ended without
// the hub's word.
type endedSendsMsg struct{ ended []endedSend }

type endedSend struct {
	c    store.Campaign
	send store.SendState
}

// ensureClock keeps one clock tick going while a send is on screen, so
// elapsed times, rates and lost workers move on between updates.
func (s *CampaignsScreen) ensureClock() tea.Cmd {
	if s.clockOn || (!s.paneOpen() && len(s.sends.strip(s.c.Now())) == 0 && !s.anyScheduled()) {
		return nil
	}
	s.clockOn = true
	s.clockSeq++
	return tickClock(s.clockSeq)
}

// anyScheduled reports a scheduled campaign in the list: its time left
// counts down, so the clock ticks.
func (s *CampaignsScreen) anyScheduled() bool {
	for i := range s.all {
		if s.all[i].c.Status == store.StatusScheduled {
			return true
		}
	}
	return false
}

// send starts the send flow for the selected campaign.
func (s *CampaignsScreen) send() tea.Cmd {
	r := s.selected()
	if r == nil {
		return nil
	}
	c := r.c
	switch {
	case c.Status == store.StatusSending || c.Status == store.StatusPaused:
		return s.openPane(c)
	case !c.Status.Editable():
		hint := "c duplicates it to send it again"
		if c.LastSend != nil && c.LastSend.Failed > 0 && c.Status != store.StatusCancelled {
			hint = "w then R retries its failures; " + hint
		}
		return ReportError(fmt.Errorf("'%s' is %s: %s", c.Name, c.Status, hint))
	case s.c.Sends == nil:
		return ReportError(errors.New("this session cannot send: it was started without the send service"))
	case s.sendFlow() != nil:
		return ReportError(s.sendFlow().stillQueueing())
	}
	s.flowRuns++
	f := newSendFlow(s.c, s.flowRuns, c)
	s.push(&flowLayer{f})
	return f.start()
}

// sendFlow is the send being started, on screen or queueing behind it, or
// nil.
func (s *CampaignsScreen) sendFlow() *sendFlow {
	for _, l := range s.layers() {
		if f, ok := l.(*flowLayer); ok {
			return f.f
		}
	}
	return nil
}

// paneOpen reports whether the live pane of a send is open.
func (s *CampaignsScreen) paneOpen() bool {
	for _, l := range s.stack {
		if _, ok := l.(*paneLayer); ok {
			return true
		}
	}
	return false
}

// watch opens the live pane of the selected campaign's send, or of the
// newest send in progress when the selected campaign has none.
func (s *CampaignsScreen) watch() tea.Cmd {
	if r := s.selected(); r != nil && (r.c.LastSend != nil || s.sends.get(r.c.ID) != nil && s.sends.get(r.c.ID).hasSend) {
		return s.openPane(r.c)
	}
	if strip := s.sends.strip(s.c.Now()); len(strip) > 0 {
		return s.openPane(strip[0].c)
	}
	if r := s.selected(); r != nil {
		return Flash(fmt.Sprintf("'%s' has not been sent yet — s sends it", r.c.Name))
	}
	return nil
}

func (s *CampaignsScreen) openPane(c store.Campaign) tea.Cmd {
	s.paneReqs++
	p := newProgressPane(s.c, s.sends, c, s.paneReqs)
	s.push(s.paneLayer(p))
	s.sends.seed(c, nil, nil)
	return tea.Batch(p.load(), s.ensureClock())
}

// paneLayer puts a pane on the stack's terms: E over it exports the ledger.
func (s *CampaignsScreen) paneLayer(p *progressPane) *paneLayer {
	return &paneLayer{p: p, export: s.keys.Export}
}

// sendKeys are the list's sending keys that apply to the selection.
func (s *CampaignsScreen) sendKeys() []key.Binding {
	r := s.selected()
	if r == nil {
		return nil
	}
	var h []key.Binding
	if r.c.Status.Editable() {
		h = append(h, s.keys.Send)
	}
	if r.c.LastSend != nil || len(s.sends.strip(s.c.Now())) > 0 {
		h = append(h, s.keys.Watch)
	}
	return h
}

// stripHeight is how many lines stripLines takes, without drawing them.
func (s *CampaignsScreen) stripHeight() int {
	if s.height < 12 {
		return 0
	}
	return min(len(s.sends.strip(s.c.Now())), maxStripSends+1)
}

// stripLines is the strip of sends above the list: a line per send in
// progress or just finished, or nothing.
func (s *CampaignsScreen) stripLines(w int) []string {
	if s.height < 12 || w <= 0 {
		return nil
	}
	now := s.c.Now()
	sends := s.sends.strip(now)
	if len(sends) == 0 {
		return nil
	}
	st := s.c.Styles
	lines := make([]string, 0, min(len(sends), maxStripSends)+1)
	for i, l := range sends {
		if i == maxStripSends {
			lines = append(lines, st.Dim.Render(fmt.Sprintf("  … and %d more sends; w on a campaign watches its send", len(sends)-maxStripSends)))
			break
		}
		lines = append(lines, ansi.Truncate(s.stripLine(l, w), w, "…"))
	}
	return lines
}

func (s *CampaignsScreen) stripLine(l *sendLive, w int) string {
	st := s.c.Styles
	total, sent, failed := 0, 0, 0
	done := 0
	counts := map[store.RecipientState]int{}
	switch {
	case l.hasSend:
		total, counts, done = l.send.Total, l.send.Counts, l.final()
		sent, failed = counts[store.RecipientSent], counts[store.RecipientFailed]
	case l.c.LastSend != nil:
		total, sent, failed = l.c.LastSend.Total, l.c.LastSend.Sent, l.c.LastSend.Failed
		done = sent + failed
		counts = map[store.RecipientState]int{store.RecipientSent: sent, store.RecipientFailed: failed}
	}
	mark := lipgloss.NewStyle().Foreground(st.Accent).Render("▶")
	switch l.c.Status {
	case store.StatusPaused:
		mark = lipgloss.NewStyle().Foreground(st.Warn).Render("‖")
	case store.StatusCompleted:
		mark = st.Success.Render("✓")
		if failed > 0 {
			mark = st.Error.Render("✗")
		}
	case store.StatusCancelled, store.StatusFailed:
		mark = st.Error.Render("✗")
	}
	nameW := min(max(w/4, 10), 24)
	head := " " + mark + " " + pad(l.c.Name, nameW, false) + "  " + st.StatusBadge(l.c.Status) +
		strings.Repeat(" ", max(9-len(l.c.Status), 0))
	pct := 0
	if total > 0 {
		pct = done * 100 / total
	}
	tail := fmt.Sprintf(" %3d%%  %s/%s", pct, english.Thousands(done), english.Thousands(total))
	now := s.c.Now()
	switch {
	case l.active() && redisLost(s.c.Redis):
		tail += " · waiting for Redis"
	case l.c.Status == store.StatusSending && l.live:
		r := l.rate(now)
		tail += " · " + formatRate(r)
		if e := eta(total-done, r); e != "" {
			tail += " · ETA " + e
		}
	case !l.active():
		tail += fmt.Sprintf(" · %s sent", english.Thousands(sent))
		if failed > 0 {
			tail += fmt.Sprintf(" · %s failed", english.Thousands(failed))
		}
	}
	barW := min(w-ansi.StringWidth(head)-ansi.StringWidth(tail)-2, 30)
	if barW < 6 {
		return head + tail
	}
	return head + " " + bar(st, barW, counts, total) + tail
}
