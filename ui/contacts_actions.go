package ui

import (
	"fmt"
	"sort"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"tui/internal/english"
	"tui/store"
)

// The contacts screen's actions: marks, tagging, suppressing, deleting and
// adding a contact by hand. Each store call runs in a command and comes
// back as a message; a change is broadcast with DataChanged.

// contactsPrompt is the one-line input under the list for +, - and s.
type contactsPrompt struct {
	kind  promptKind
	label string
	input textinput.Model
	err   string
	ids   []uint64
	addr  string
	tags  []string // completions
	busy  bool
}

type promptKind int

const (
	promptAddTag promptKind = iota
	promptRemoveTag
	promptSuppress
)

// targets are the contacts an action applies to: the marked ones, or else
// the current one; what names them for a prompt.
func (s *ContactsScreen) targets() (ids []uint64, what string, tags []string) {
	if s.detail == nil && len(s.marks) > 0 {
		seen := map[string]bool{}
		for id, m := range s.marks {
			ids = append(ids, id)
			for _, t := range m.tags {
				if !seen[t] {
					seen[t] = true
					tags = append(tags, t)
				}
			}
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		sort.Strings(tags)
		if len(ids) == 1 {
			return ids, s.marks[ids[0]].address, tags
		}
		return ids, english.Count(len(ids), "marked contact", "marked contacts"), tags
	}
	c, ok := s.current()
	if !ok {
		return nil, "", nil
	}
	return []uint64{c.ID}, c.Address, c.Tags
}

func (s *ContactsScreen) toggleMark(c store.Contact) {
	if _, ok := s.marks[c.ID]; ok {
		delete(s.marks, c.ID)
		return
	}
	s.marks[c.ID] = markedContact{address: c.Address, tags: c.Tags}
}

// markPage marks every loaded row on the screen, or unmarks them when they
// all are marked already.
func (s *ContactsScreen) markPage() {
	var page []store.Contact
	first, end := s.list.window(s.visibleRows())
	for i := first; i < end; i++ {
		if c, ok := s.row(i); ok {
			page = append(page, c)
		}
	}
	all := len(page) > 0
	for _, c := range page {
		if _, ok := s.marks[c.ID]; !ok {
			all = false
		}
	}
	for _, c := range page {
		if all {
			delete(s.marks, c.ID)
		} else {
			s.marks[c.ID] = markedContact{address: c.Address, tags: c.Tags}
		}
	}
}

func (s *ContactsScreen) tagNames() []string {
	out := make([]string, len(s.tags))
	for i, t := range s.tags {
		out[i] = t.Tag
	}
	return out
}

func (s *ContactsScreen) openPrompt(kind promptKind) tea.Cmd {
	ids, what, tags := s.targets()
	if len(ids) == 0 {
		return nil
	}
	p := &contactsPrompt{kind: kind, ids: ids}
	switch kind {
	case promptAddTag:
		p.label = "Add tag to " + what + ": "
		p.input = newFieldInput("tag (several: vip, spring)")
		p.tags = s.tagNames()
	case promptRemoveTag:
		if len(tags) == 0 {
			return Flash(strings.ToUpper(what[:1]) + what[1:] + " has no tags to remove")
		}
		p.label = "Remove tag from " + what + ": "
		p.input = newFieldInput(strings.Join(tags, ", "))
		p.tags = tags
	case promptSuppress:
		c, ok := s.current()
		if !ok {
			return nil
		}
		p.ids, p.addr = []uint64{c.ID}, c.Key()
		p.label = "Suppress " + c.Key() + " — reason: "
		p.input = newFieldInput("unsubscribed, bounced, complained…")
	}
	if p.tags != nil {
		p.input.ShowSuggestions = true
	}
	s.prompt = p
	s.sizeList()
	return p.input.Focus()
}

func (s *ContactsScreen) handlePromptKey(k tea.KeyPressMsg) tea.Cmd {
	p := s.prompt
	if p.busy {
		return nil
	}
	switch k.String() {
	case "esc":
		s.prompt = nil
		return nil
	case "enter":
		return s.submitPrompt()
	}
	before := p.input.Value()
	var cmd tea.Cmd
	p.input, cmd = p.input.Update(k)
	if p.input.Value() != before {
		p.err = ""
	}
	if p.tags != nil {
		p.input.SetSuggestions(tagCompletions(p.input.Value(), p.tags))
	}
	return cmd
}

func (s *ContactsScreen) submitPrompt() tea.Cmd {
	p := s.prompt
	st, actor, ids := s.c.Store, s.c.Actor, p.ids
	value := strings.TrimSpace(p.input.Value())
	switch p.kind {
	case promptAddTag, promptRemoveTag:
		tags := store.NormalizeTags([]string{value})
		if len(tags) == 0 {
			p.err = "type a tag"
			return nil
		}
		p.busy = true
		add := p.kind == promptAddTag
		return func() tea.Msg {
			var err error
			var flash string
			if add {
				err = st.TagContacts(actor, ids, tags, nil)
				flash = fmt.Sprintf("Tagged %s with %s", english.Count(len(ids), "contact", "contacts"), strings.Join(tags, ", "))
			} else {
				err = st.TagContacts(actor, ids, nil, tags)
				flash = fmt.Sprintf("Removed %s from %s", strings.Join(tags, ", "), english.Count(len(ids), "contact", "contacts"))
			}
			return contactsActionMsg{flash: flash, what: ContactData, clearMarks: true, err: err}
		}
	case promptSuppress:
		p.busy = true
		addr := p.addr
		return func() tea.Msg {
			_, err := st.Suppress(actor, addr, value)
			return contactsActionMsg{
				flash: "Suppressed " + addr,
				what:  SuppressionData, err: err,
			}
		}
	}
	return nil
}

func (s *ContactsScreen) confirmDelete() {
	c, ok := s.current()
	if !ok {
		return
	}
	name := c.Address
	if c.Name != "" {
		name += " (" + c.Name + ")"
	}
	st, actor, id := s.c.Store, s.c.Actor, c.ID
	s.dialog = NewConfirm(s.c, "Delete contact "+c.Address+"?",
		"Delete "+name+" with its fields and tags? Past sends stay in the ledger and the suppression list is not touched.",
		"Delete", func() tea.Msg {
			err := st.DeleteContact(actor, id)
			return contactsActionMsg{flash: "Deleted " + c.Address, what: ContactData, deleted: id, err: err}
		})
}

func (s *ContactsScreen) onAction(m contactsActionMsg) tea.Cmd {
	if s.prompt != nil {
		s.prompt.busy = false
	}
	if m.err != nil {
		return ReportError(m.err)
	}
	s.prompt = nil
	if m.clearMarks {
		s.marks = map[uint64]markedContact{}
	}
	if m.deleted != 0 {
		delete(s.marks, m.deleted)
		if s.detail != nil && s.detail.contact.ID == m.deleted {
			s.detail = nil
		}
	}
	return tea.Batch(Flash(m.flash), DataChanged(m.what))
}

// Adding a contact by hand.

type contactAddedMsg struct {
	contact store.Contact
	created bool
	err     error
}

func (s *ContactsScreen) openAddForm() tea.Cmd {
	s.form = newMiniForm(s.c, "Add a contact",
		"An existing address keeps its fields: the name is updated and the tags are merged.",
		newFormField("Address", "ann@example.com, +31 6 1234 5678 or psid:1254477777772919", "an email address, a phone number or psid: and a Messenger page-scoped ID").withCheck(checkAddress),
		newFormField("Name", "Ann Lee", "optional; templates see it as {{.name}}"),
		newFormField("Tags", "vip, spring", "optional; separate tags with commas · tab completes").withTags(s.tagNames()),
	).askDiscard("Discard this contact?")
	return s.form.focusField(0)
}

func (s *ContactsScreen) handleFormKey(k tea.KeyPressMsg) tea.Cmd {
	action, cmd := s.form.Update(k)
	switch action {
	case formCancel:
		s.form, s.editing = nil, nil
		return nil
	case formSubmit:
		if s.editing != nil {
			return s.submitEdit()
		}
		addr, err := store.NormalizeAddress(s.form.value(0))
		if err != nil {
			return s.form.fail(0, err.Error()+"; nothing was saved")
		}
		c := store.Contact{Address: addr, Name: s.form.value(1), Tags: store.NormalizeTags([]string{s.form.value(2)})}
		if c.Name != "" {
			c.Fields = map[string]string{"name": c.Name}
		}
		s.form.busy = "Saving " + addr + "…"
		st, actor := s.c.Store, s.c.Actor
		return func() tea.Msg {
			saved, created, err := st.AddContact(actor, c)
			return contactAddedMsg{contact: saved, created: created, err: err}
		}
	}
	return cmd
}

func (s *ContactsScreen) onAdded(m contactAddedMsg) tea.Cmd {
	if s.form == nil {
		return nil
	}
	if m.err != nil {
		s.form.busy = ""
		s.form.err = m.err.Error()
		return ReportError(m.err)
	}
	s.form = nil
	flash := "Added " + m.contact.Address
	if !m.created {
		flash = "Merged into existing " + m.contact.Address
	} else if s.filter == (store.ContactFilter{}) {
		s.endOnLoad = true
	}
	return tea.Batch(Flash(flash), DataChanged(ContactData))
}
