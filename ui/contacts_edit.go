package ui

import (
	"fmt"
	"sort"
	"strings"

	tea "charm.land/bubbletea/v2"

	"tui/store"
)

// Editing a contact: its address, name, tags and template fields, with an
// input for each field the other contacts have, so a contact added by hand
// can get the fields a campaign's template needs.

// maxOfferedFields bounds the field inputs the form offers beyond the
// contact's own: the form must fit the screen.
const maxOfferedFields = 12

type (
	contactEditOpenMsg struct {
		contact store.Contact
		names   []string
		err     error
	}
	contactEditedMsg struct {
		contact store.Contact
		err     error
	}
)

// contactEdit is the form's state beside the miniForm: which contact, and
// which input is which field.
type contactEdit struct {
	id     uint64
	fields []string          // the names of inputs 3…, in order; the last input is "New field"
	had    map[string]string // the contact's fields when the form opened
}

// openEditForm reads the contact and the field names in use, then opens
// the form.
func (s *ContactsScreen) openEditForm(id uint64) tea.Cmd {
	st := s.c.Store
	return func() tea.Msg {
		c, err := st.Contact(id)
		if err != nil {
			return contactEditOpenMsg{err: fmt.Errorf("edit contact: %w", err)}
		}
		names, err := st.FieldNames(500)
		return contactEditOpenMsg{contact: c, names: names, err: err}
	}
}

func (s *ContactsScreen) onEditOpen(m contactEditOpenMsg) tea.Cmd {
	if m.err != nil {
		return ReportError(m.err)
	}
	c := safeContact(m.contact)
	own := make([]string, 0, len(c.Fields))
	for k := range c.Fields {
		if k != "name" {
			own = append(own, k)
		}
	}
	sort.Strings(own)
	offered := []string{}
	for _, n := range m.names {
		if _, ok := c.Fields[n]; !ok && n != "name" && len(offered) < maxOfferedFields {
			offered = append(offered, n)
		}
	}
	fields := []*formField{
		newFormField("Address", "ann@example.com", "changing it keeps the contact's ID and its sends").withCheck(checkAddress),
		newFormField("Name", "Ann Lee", "templates see it as {{.name}}"),
		newFormField("Tags", "vip, spring", "separate tags with commas · tab completes").withTags(s.tagNames()),
	}
	fields[0].input.SetValue(c.Address)
	fields[1].input.SetValue(c.Name)
	fields[2].input.SetValue(strings.Join(c.Tags, ", "))
	edit := &contactEdit{id: c.ID, had: c.Fields}
	for _, n := range own {
		f := newFormField(n, "", fmt.Sprintf("{{.%s}} in templates", n))
		f.input.SetValue(c.Fields[n])
		fields = append(fields, f)
		edit.fields = append(edit.fields, n)
	}
	for _, n := range offered {
		fields = append(fields, newFormField(n, "not set", fmt.Sprintf("other contacts have it; a template with {{.%s}} cannot render without it", n)))
		edit.fields = append(edit.fields, n)
	}
	fields = append(fields, newFormField("New field", "key=value", "another field, e.g. country=FR"))
	for _, f := range fields {
		f.input.CursorEnd()
	}
	s.form = newMiniForm(s.c, "Edit contact "+c.Address, "ctrl+s saves · fields left empty that the contact did not have stay unset", fields...).
		askDiscard("Discard your changes to " + c.Address + "?")
	s.editing = edit
	return s.form.focusField(0)
}

// submitEdit saves the form in a command.
func (s *ContactsScreen) submitEdit() tea.Cmd {
	f, edit := s.form, s.editing
	addr, err := store.NormalizeAddress(f.value(0))
	if err != nil {
		return f.fail(0, err.Error()+"; nothing was saved")
	}
	c := store.Contact{Address: addr, Name: f.value(1), Tags: store.NormalizeTags([]string{f.value(2)}), Fields: map[string]string{}}
	for i, name := range edit.fields {
		v := f.value(3 + i)
		// A field the contact had stays, empty if emptied: a template
		// then renders it as nothing rather than failing.
		if _, ok := edit.had[name]; ok || v != "" {
			c.Fields[name] = v
		}
	}
	if extra := f.value(len(f.fields) - 1); extra != "" {
		k, v, ok := strings.Cut(extra, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return f.fail(len(f.fields)-1, "write the new field as key=value, e.g. country=FR")
		}
		c.Fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	f.busy = "Saving " + addr + "…"
	st, actor, id := s.c.Store, s.c.Actor, edit.id
	return func() tea.Msg {
		saved, err := st.EditContact(actor, id, c)
		return contactEditedMsg{contact: saved, err: err}
	}
}

func (s *ContactsScreen) onEdited(m contactEditedMsg) tea.Cmd {
	if s.form == nil || s.editing == nil {
		return nil
	}
	if m.err != nil {
		s.form.busy = ""
		s.form.err = m.err.Error()
		return nil
	}
	s.form, s.editing = nil, nil
	if s.detail != nil && s.detail.contact.ID == m.contact.ID {
		s.detail.contact = safeContact(m.contact)
	}
	return tea.Batch(Flash("Saved "+m.contact.Address), DataChanged(ContactData))
}
