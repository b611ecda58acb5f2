package ui

import "charm.land/bubbles/v2/key"

// ContactsKeyMap holds the keys of the contacts list. Nothing here uses
// digits, tab, q, ? or !: the App owns those while no input has the focus.
type ContactsKeyMap struct {
	NavKeyMap
	Filter    key.Binding
	TagFilter key.Binding
	Mark      key.Binding
	MarkPage  key.Binding
	AddTag    key.Binding
	RemoveTag key.Binding
	Open      key.Binding
	Add       key.Binding
	Edit      key.Binding
	Suppress  key.Binding
	Delete    key.Binding
	Import    key.Binding
	Reload    key.Binding
	Back      key.Binding
}

// DefaultContactsKeyMap returns the contacts list keys.
func DefaultContactsKeyMap() ContactsKeyMap {
	return ContactsKeyMap{
		NavKeyMap: DefaultNavKeyMap(),
		Filter:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		TagFilter: key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "filter by tag")),
		Mark:      key.NewBinding(key.WithKeys("space"), key.WithHelp("space", "mark")),
		MarkPage:  key.NewBinding(key.WithKeys("ctrl+a", "A"), key.WithHelp("A", "mark page")),
		AddTag:    key.NewBinding(key.WithKeys("+"), key.WithHelp("+", "add tag")),
		RemoveTag: key.NewBinding(key.WithKeys("-"), key.WithHelp("-", "remove tag")),
		Open:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "details")),
		Add:       key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add")),
		Edit:      key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "edit")),
		Suppress:  key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "suppress")),
		Delete:    key.NewBinding(key.WithKeys("d", "delete"), key.WithHelp("d", "delete")),
		Import:    key.NewBinding(key.WithKeys("i"), key.WithHelp("i", "import CSV")),
		Reload:    key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "reload")),
		Back:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter/marks")),
	}
}

// ContactDetailKeyMap holds the keys of one contact's details.
type ContactDetailKeyMap struct {
	Up, Down, Close key.Binding
}

// DefaultContactDetailKeyMap returns the detail view keys.
func DefaultContactDetailKeyMap() ContactDetailKeyMap {
	return ContactDetailKeyMap{
		Up:    key.NewBinding(key.WithKeys("k", "up"), key.WithHelp("↑/k", "scroll up")),
		Down:  key.NewBinding(key.WithKeys("j", "down"), key.WithHelp("↓/j", "scroll down")),
		Close: key.NewBinding(key.WithKeys("esc", "enter"), key.WithHelp("esc", "back")),
	}
}

// PickerKeyMap holds the keys of the tag picker and the one-line prompts.
type PickerKeyMap struct {
	Up, Down, Complete, Choose, Cancel key.Binding
}

// DefaultPickerKeyMap returns the picker keys. Letters go to the input, so
// moving is on arrows and ctrl+p/ctrl+n only.
func DefaultPickerKeyMap() PickerKeyMap {
	return PickerKeyMap{
		Up:       key.NewBinding(key.WithKeys("up", "ctrl+p"), key.WithHelp("↑", "previous")),
		Down:     key.NewBinding(key.WithKeys("down", "ctrl+n"), key.WithHelp("↓", "next")),
		Complete: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "complete")),
		Choose:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply")),
		Cancel:   key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
	}
}

// ImportKeyMap holds the keys of a running import and of its report.
type ImportKeyMap struct {
	NavKeyMap
	Cancel key.Binding
	Close  key.Binding
}

// DefaultImportKeyMap returns the import keys.
func DefaultImportKeyMap() ImportKeyMap {
	nav := DefaultNavKeyMap()
	nav.Up.SetHelp("↑/k", "scroll")
	nav.Down.SetHelp("↓/j", "scroll")
	nav.Top.SetHelp("g", "first problem")
	nav.Bottom.SetHelp("G", "last problem")
	return ImportKeyMap{
		NavKeyMap: nav,
		Cancel:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel import")),
		Close:     key.NewBinding(key.WithKeys("esc", "enter"), key.WithHelp("esc", "back to contacts")),
	}
}

// SuppressionKeyMap holds the keys of the suppression list.
type SuppressionKeyMap struct {
	NavKeyMap
	Filter key.Binding
	Add    key.Binding
	Remove key.Binding
	Reload key.Binding
	Back   key.Binding
}

// DefaultSuppressionKeyMap returns the suppression list keys.
func DefaultSuppressionKeyMap() SuppressionKeyMap {
	return SuppressionKeyMap{
		NavKeyMap: DefaultNavKeyMap(),
		Filter:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Add:       key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add address")),
		Remove:    key.NewBinding(key.WithKeys("d", "delete"), key.WithHelp("d", "remove")),
		Reload:    key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "reload")),
		Back:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
	}
}
