package ui

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textarea"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"tui/internal/english"
	"tui/sending"
	"tui/store"
)

// The campaign editor: a form for creating and editing one campaign, with a
// live preview rendered for the first contact of the audience.

type fieldID int

const (
	fName fieldID = iota
	fChannel
	fFrom
	fURL
	fMsgType
	fMsgTag
	fSubject
	fBody
	fTags
	fExclude
	fRate
	fAttempts
	fSchedule
	fFormat // last, so the fields before it keep their places in the tab order
	numFields
)

// fieldKeys are store.FieldError.Field values, in form order.
var fieldKeys = [numFields]string{"name", "channel", "from", "url", "messaging_type", "message_tag", "subject", "body", "tags", "exclude_tags", "rate", "max_attempts", "schedule", "format"}

var fieldLabels = [numFields]string{"Name", "Channel", "From", "URL", "Msg type", "Tag", "Subject", "Body", "Tags", "Exclude", "Rate", "Attempts", "Starts", "Format"}

// choices are the options of the fields picked from a list.
func choices(f fieldID) []string {
	switch f {
	case fChannel:
		out := make([]string, len(store.Channels))
		for i, ch := range store.Channels {
			out[i] = string(ch)
		}
		return out
	case fMsgType:
		out := make([]string, len(store.MessagingTypes))
		for i, t := range store.MessagingTypes {
			out[i] = string(t)
		}
		return out
	case fMsgTag:
		return store.MessageTags
	}
	return nil
}

func fieldByKey(k string) (fieldID, bool) {
	for i, fk := range fieldKeys {
		if fk == k {
			return fieldID(i), true
		}
	}
	return 0, false
}

const (
	labelWidth = 10
	// tagsSettle is how long tag typing must pause before the preview's
	// recipient is looked up again: each lookup is a read transaction.
	tagsSettle = 250 * time.Millisecond
	// wideEditor is the width from which the preview sits beside the form.
	wideEditor = 110
	// tallEditor is the height from which a narrow editor shows the preview
	// below the form instead of behind ctrl+p.
	tallEditor = 44
)

// Messages of one editor; id tells editors apart so a late answer for a
// closed editor is dropped.
type (
	editorSavedMsg struct {
		id  int
		req int
		c   store.Campaign
		err error
		// scheduleErr: the campaign was saved, its schedule was not.
		scheduleErr error
	}
	editorRecipientMsg struct {
		id  int
		req int
		ct  *store.Contact
		err error
		aud audienceInfo
	}
	editorTagsSettledMsg struct {
		id  int
		seq int
	}
	editorPreviewMsg struct {
		id  int
		req int
		msg sending.Rendered
		err error
	}
)

// editorValues is the form's content, compared to tell unsaved changes.
type editorValues struct {
	name, from, url, subject, body, tags, exclude, rate, attempts, schedule string
	channel                                                                 store.Channel
	msgType, msgTag                                                         int
	format                                                                  int
}

// Editor creates or edits one campaign.
type Editor struct {
	c        *Common
	id       int
	keys     EditorKeyMap
	orig     store.Campaign
	isNew    bool
	readOnly bool

	inputs  [numFields]textinput.Model // name, from, url, subject, tags, exclude, rate, attempts
	body    textarea.Model
	channel int
	choice  [numFields]int // the picked option of each choice field but the channel
	format  int            // index into store.BodyFormats
	focus   fieldID

	saved    editorValues // what is stored; the baseline for unsaved changes
	errs     map[fieldID]string
	live     map[fieldID]string // template errors found while typing
	note     string             // a save failure that is not tied to a field
	saving   bool
	saveReq  int
	conflict *store.Campaign

	recipient    *store.Contact
	recipientMsg string // why there is no recipient
	recipientReq int
	recipientFor string // the audience the recipient was looked up for
	audience     audienceInfo
	tagSeq       int
	preview      sending.Rendered
	previewOK    bool
	test         *testPrompt // the test send's address prompt, when open
	testing      bool        // a test send is under way
	testReq      int
	// The preview renders in a command, under the render budget, and a
	// newer keystroke, leaving the editor or the session's end cancels it.
	previewReq    int
	previewCmd    tea.Cmd // the rendering refreshPreview asked for, for Update to return
	previewCancel context.CancelFunc
	rendering     bool

	showPreview bool // a narrow editor shows the preview instead of the form
	confirm     *Confirm

	done   bool
	result *store.Campaign // set when done after a save

	width, height int
}

// NewEditor opens the editor on c; a zero ID creates a new campaign.
func NewEditor(c *Common, id int, camp store.Campaign) *Editor {
	e := &Editor{
		c:        c,
		id:       id,
		keys:     DefaultEditorKeyMap(),
		orig:     camp,
		isNew:    camp.ID == 0,
		readOnly: camp.ID != 0 && !camp.Status.Editable(),
		errs:     map[fieldID]string{},
		live:     map[fieldID]string{},
	}
	tiStyles := textinput.DefaultStyles(true)
	tiStyles.Cursor.Blink = false
	tiStyles.Focused.Placeholder = c.Styles.Dim
	tiStyles.Blurred.Placeholder = c.Styles.Dim
	for _, f := range []fieldID{fName, fFrom, fURL, fSubject, fTags, fExclude, fRate, fAttempts, fSchedule} {
		ti := textinput.New()
		ti.Prompt = ""
		ti.SetStyles(tiStyles)
		e.inputs[f] = ti
	}
	e.inputs[fName].CharLimit = 200
	e.inputs[fFrom].Placeholder = "e.g. news@example.com"
	e.inputs[fURL].Placeholder = "e.g. https://hooks.example.com/notify"
	e.inputs[fSubject].Placeholder = "e.g. Hello {{.name}}"
	e.inputs[fTags].Placeholder = "empty: every contact"
	e.inputs[fExclude].Placeholder = "none"
	e.inputs[fRate].Placeholder = "0"
	e.inputs[fRate].CharLimit = 8
	e.inputs[fAttempts].Placeholder = strconv.Itoa(store.DefaultMaxAttempts)
	e.inputs[fAttempts].CharLimit = 3
	// The field is 34 cells wide: the example fits it, and what empty
	// means follows the field.
	e.inputs[fSchedule].Placeholder = "e.g. 2026-12-24 09:00 Europe/Paris"
	e.inputs[fSchedule].CharLimit = 60

	ta := textarea.New()
	ta.Prompt = "│ "
	ta.ShowLineNumbers = true
	ta.MaxHeight = 0
	ta.CharLimit = 0
	ta.Placeholder = "e.g. Hi {{.name}}, …"
	taStyles := textarea.DefaultStyles(true)
	taStyles.Cursor.Blink = false
	taStyles.Focused.CursorLine = lipgloss.NewStyle()
	ta.SetStyles(taStyles)
	e.body = ta

	if e.isNew {
		camp.Channel = store.ChannelFile
	}
	e.setValues(camp)
	e.urlPlaceholder()
	e.saved = e.values()
	e.focusField(fName)
	return e
}

// setValues fills the form from a campaign.
func (e *Editor) setValues(camp store.Campaign) {
	e.inputs[fName].SetValue(camp.Name)
	e.inputs[fFrom].SetValue(camp.From)
	e.inputs[fURL].SetValue(camp.URL)
	e.inputs[fSubject].SetValue(camp.Subject)
	e.inputs[fTags].SetValue(strings.Join(camp.Tags, ", "))
	e.inputs[fExclude].SetValue(strings.Join(camp.ExcludeTags, ", "))
	rate := ""
	if camp.Rate != 0 || !e.isNew {
		rate = strconv.Itoa(camp.Rate)
	}
	e.inputs[fRate].SetValue(rate)
	attempts := ""
	if camp.MaxAttempts > 0 {
		attempts = strconv.Itoa(camp.MaxAttempts)
	}
	e.inputs[fAttempts].SetValue(attempts)
	schedule := ""
	if camp.Status == store.StatusScheduled {
		schedule = sending.FormatSchedule(camp.Schedule)
	}
	e.inputs[fSchedule].SetValue(schedule)
	e.body.SetValue(camp.Body)
	e.body.MoveToBegin()
	e.channel = 0
	for i, ch := range store.Channels {
		if ch == camp.Channel {
			e.channel = i
		}
	}
	e.choice[fMsgType], e.choice[fMsgTag] = 0, 0
	for i, t := range store.MessagingTypes {
		if t == camp.EffectiveMessagingType() {
			e.choice[fMsgType] = i
		}
	}
	for i, t := range store.MessageTags {
		if t == camp.MessageTag {
			e.choice[fMsgTag] = i
		}
	}
	e.format = 0
	for i, f := range store.BodyFormats {
		if f == camp.FormatName() {
			e.format = i
		}
	}
}

func (e *Editor) values() editorValues {
	return editorValues{
		name:     e.inputs[fName].Value(),
		from:     e.inputs[fFrom].Value(),
		url:      e.inputs[fURL].Value(),
		subject:  e.inputs[fSubject].Value(),
		body:     e.body.Value(),
		tags:     e.inputs[fTags].Value(),
		exclude:  e.inputs[fExclude].Value(),
		rate:     e.inputs[fRate].Value(),
		attempts: e.inputs[fAttempts].Value(),
		schedule: strings.TrimSpace(e.inputs[fSchedule].Value()),
		channel:  store.Channels[e.channel],
		msgType:  e.choice[fMsgType],
		msgTag:   e.choice[fMsgTag],
		format:   e.format,
	}
}

// Dirty reports whether the form differs from what is stored.
func (e *Editor) Dirty() bool { return !e.readOnly && e.values() != e.saved }

// Name is what the breadcrumb calls this campaign.
func (e *Editor) Name() string {
	if e.isNew {
		return "New campaign"
	}
	return e.orig.Name
}

// campaign builds the campaign the form describes. Fields the chosen channel
// does not use are left out so a webhook campaign never carries a stale
// from address.
func (e *Editor) campaign() (store.Campaign, *store.FieldError) {
	v := e.values()
	c := e.orig
	c.Name, c.Channel, c.Subject, c.Body = v.name, v.channel, v.subject, v.body
	c.Format = store.BodyFormats[v.format]
	if c.Format == "text" {
		c.Format = ""
	}
	c.From, c.URL, c.MessagingType, c.MessageTag = "", "", "", ""
	if e.visible(fFrom) {
		c.From = v.from
	}
	if e.visible(fURL) {
		c.URL = v.url
	}
	if e.visible(fMsgType) {
		c.MessagingType = store.MessagingTypes[v.msgType]
	}
	if e.visible(fMsgTag) {
		c.MessageTag = store.MessageTags[v.msgTag]
	}
	c.Tags = store.NormalizeTags([]string{v.tags})
	c.ExcludeTags = store.NormalizeTags([]string{v.exclude})
	rate := strings.TrimSpace(v.rate)
	c.Rate = 0
	if rate != "" {
		n, err := strconv.Atoi(rate)
		if err != nil {
			return c, &store.FieldError{Field: "rate", Msg: fmt.Sprintf("%q is not a whole number: enter messages per second, 0 for no limit", rate)}
		}
		c.Rate = n
	}
	attempts := strings.TrimSpace(v.attempts)
	c.MaxAttempts = 0
	if attempts != "" {
		n, err := strconv.Atoi(attempts)
		if err != nil {
			return c, &store.FieldError{Field: "max_attempts", Msg: fmt.Sprintf("%q is not a whole number: enter tries per recipient from 1 to %d, or leave it empty for %d",
				attempts, store.MaxAttemptsLimit, store.DefaultMaxAttempts)}
		}
		c.MaxAttempts = n
	}
	return c, nil
}

// visible reports whether a field belongs to the chosen channel's form.
func (e *Editor) visible(f fieldID) bool {
	ch := store.Channels[e.channel]
	switch f {
	case fFrom:
		return ch == store.ChannelSMTP
	case fURL:
		return ch == store.ChannelWebhook || ch == store.ChannelMessenger
	case fMsgType:
		return ch == store.ChannelMessenger
	case fMsgTag:
		return ch == store.ChannelMessenger && store.MessagingTypes[e.choice[fMsgType]] == store.MessagingMessageTag
	}
	return true
}

func (e *Editor) visibleFields() []fieldID {
	out := make([]fieldID, 0, numFields)
	for f := fName; f < numFields; f++ {
		if e.visible(f) {
			out = append(out, f)
		}
	}
	return out
}

func (e *Editor) focusField(f fieldID) tea.Cmd {
	for i := range e.inputs {
		e.inputs[i].Blur()
	}
	e.body.Blur()
	e.focus = f
	if e.readOnly {
		return nil
	}
	switch f {
	case fChannel, fMsgType, fMsgTag, fFormat:
		return nil
	case fBody:
		return e.body.Focus()
	}
	return e.inputs[f].Focus()
}

func (e *Editor) moveFocus(delta int) tea.Cmd {
	fields := e.visibleFields()
	idx := 0
	for i, f := range fields {
		if f == e.focus {
			idx = i
		}
	}
	idx = (idx + delta + len(fields)) % len(fields)
	return e.focusField(fields[idx])
}

// Init looks up the preview's recipient.
func (e *Editor) Init() tea.Cmd {
	e.refreshPreview()
	e.layout()
	return tea.Batch(e.lookupRecipient(), e.takePreviewCmd())
}

// audienceInfo is the editor's live count of who the campaign reaches, and
// when that is nobody, why.
type audienceInfo struct {
	known   bool
	size    int
	total   int      // contacts in the database
	unknown []string // tags of the campaign that no contact has
	inUse   []store.TagCount
	err     error
}

func (e *Editor) lookupRecipient() tea.Cmd {
	camp, _ := e.campaign()
	e.recipientReq++
	e.recipientFor = store.AudienceKey(&camp)
	req, id, st := e.recipientReq, e.id, e.c.Store
	return func() tea.Msg {
		aud := countAudience(st, &camp)
		ct, err := st.FirstRecipient(&camp)
		if err != nil {
			return editorRecipientMsg{id: id, req: req, err: err, aud: aud}
		}
		// The preview renders the contact as stored; the screen names it.
		return editorRecipientMsg{id: id, req: req, ct: &ct, aud: aud}
	}
}

// countAudience counts the campaign's recipients and, when there are none,
// finds out why: no contacts at all, or tags nobody has.
func countAudience(st *store.Store, camp *store.Campaign) audienceInfo {
	n, err := st.AudienceSize(camp)
	if err != nil {
		return audienceInfo{known: true, err: err}
	}
	aud := audienceInfo{known: true, size: n}
	if n > 0 {
		return aud
	}
	if c, err := st.Counts(); err == nil {
		aud.total = c.Contacts
	}
	if tags, err := st.Tags(); err == nil {
		have := map[string]bool{}
		for _, t := range tags {
			if t.Count > 0 {
				have[t.Tag] = true
				aud.inUse = append(aud.inUse, t)
			}
		}
		for _, t := range camp.Tags {
			if !have[t] {
				aud.unknown = append(aud.unknown, t)
			}
		}
	}
	return aud
}

// emptyAudienceText says why the audience is empty and what to do.
func (a audienceInfo) emptyAudienceText() string {
	switch {
	case a.total == 0:
		return "No contacts yet, so there is nothing to render. Import contacts with 2, then i."
	case len(a.unknown) > 0:
		what := "the tag " + a.unknown[0]
		if len(a.unknown) > 1 {
			what = "the tags " + strings.Join(a.unknown, ", ")
		}
		msg := fmt.Sprintf("No contact has %s, so this audience is empty (%s in the database).", what, english.Count(a.total, "contact", "contacts"))
		if len(a.inUse) > 0 {
			var in []string
			for i, t := range a.inUse {
				if i == 6 {
					in = append(in, fmt.Sprintf("and %d more", len(a.inUse)-i))
					break
				}
				in = append(in, fmt.Sprintf("%s (%s)", t.Tag, english.Thousands(t.Count)))
			}
			msg += " Tags in use: " + strings.Join(in, ", ") + "."
		} else {
			msg += " No contact has any tag yet: leave Tags empty to reach everyone, or tag contacts on screen 2."
		}
		return msg
	}
	return fmt.Sprintf("Every one of the %s that these tags select is excluded, suppressed or has no address this channel reaches, so there is nothing to render.", english.Count(a.total, "contact", "contacts"))
}

// audienceLine is the form's line under the tags: how many recipients the
// campaign has now, counted again as the tags change.
func (e *Editor) audienceLine(w int) string {
	st := e.c.Styles
	prefix := "  " + st.Dim.Render(fmt.Sprintf("%-*s", labelWidth-2, "Audience")) + " "
	var text string
	a := e.audience
	switch {
	case !a.known:
		text = st.Dim.Render("counting…")
	case a.err != nil:
		text = st.Error.Render("✗ cannot count: " + a.err.Error())
	case a.size == 0 && len(a.unknown) > 0:
		text = st.Error.Render("0 recipients") + st.Dim.Render(" — no contact has "+strings.Join(a.unknown, ", "))
	case a.size == 0:
		text = st.Error.Render("0 recipients")
	default:
		text = lipgloss.NewStyle().Foreground(st.Ok).Render(english.Count(a.size, "recipient", "recipients"))
	}
	if e.recipientFor != "" {
		camp, _ := e.campaign()
		if store.AudienceKey(&camp) != e.recipientFor {
			text += st.Dim.Render(" (counting…)")
		}
	}
	return ansi.Truncate(prefix+text, w, "…")
}

// refreshPreview re-checks the templates and renders them for the
// recipient. Parsing a message-sized template takes microseconds, so it runs
// on every keystroke.
func (e *Editor) refreshPreview() {
	delete(e.live, fSubject)
	delete(e.live, fBody)
	e.stopPreview()
	camp, _ := e.campaign()
	bad := false
	for _, f := range []fieldID{fSubject, fBody} {
		text := camp.Subject
		if f == fBody {
			text = camp.Body
		}
		if fe := store.CheckTemplate(fieldKeys[f], text); fe != nil {
			e.live[f] = describeFieldError(fe)
			bad = true
		}
	}
	if bad || e.recipient == nil {
		e.previewOK = false
		return
	}
	var links *sending.Links
	if e.c.Sends != nil {
		links = e.c.Sends.Links
	}
	r, err := sending.NewRenderer(&camp, links)
	if err != nil {
		e.previewOK = false
		var fe *store.FieldError
		if errors.As(err, &fe) {
			if f, ok := fieldByKey(fe.Field); ok {
				e.live[f] = describeFieldError(fe)
			}
		}
		return
	}
	// The last preview stays on screen until this one is ready.
	ctx, cancel := context.WithCancel(e.c.Ctx)
	e.previewCancel, e.rendering = cancel, true
	id, req, ct := e.id, e.previewReq, e.recipient
	e.previewCmd = func() tea.Msg {
		defer cancel()
		msg, err := r.WithContext(ctx).Render(ct)
		msg.Message = safeMessage(msg.Message)
		return editorPreviewMsg{id: id, req: req, msg: msg, err: safeError(err)}
	}
}

// stopPreview cancels a rendering under way; its answer will be dropped.
func (e *Editor) stopPreview() {
	e.previewReq++
	e.previewCmd, e.rendering = nil, false
	if e.previewCancel != nil {
		e.previewCancel()
		e.previewCancel = nil
	}
}

func (e *Editor) takePreviewCmd() tea.Cmd {
	cmd := e.previewCmd
	e.previewCmd = nil
	return cmd
}

// previewDone shows a rendering's outcome.
func (e *Editor) previewDone(m editorPreviewMsg) {
	e.rendering, e.previewCancel = false, nil
	if m.err != nil {
		e.previewOK = false
		var fe *store.FieldError
		if errors.As(m.err, &fe) {
			if f, ok := fieldByKey(fe.Field); ok {
				e.live[f] = describeFieldError(fe) + " — rendering for " + e.recipient.Address
				return
			}
		}
		e.live[fBody] = m.err.Error()
		return
	}
	e.preview, e.previewOK = m.msg, true
}

// describeFieldError says where in the template the problem is.
func describeFieldError(fe *store.FieldError) string {
	msg := fe.Msg
	if fe.StartLine > 0 {
		msg += fmt.Sprintf(" started on line %d", fe.StartLine)
	}
	switch {
	case fe.Line > 0 && fe.Col > 0:
		return fmt.Sprintf("line %d, column %d: %s", fe.Line, fe.Col, msg)
	case fe.Line > 0:
		return fmt.Sprintf("line %d: %s", fe.Line, msg)
	}
	return msg
}

// Update handles one message; the owner checks Done afterwards.
func (e *Editor) Update(msg tea.Msg) tea.Cmd {
	cmd := e.update(msg)
	// Errors and notes come and go with messages; the body gets what room
	// they leave.
	e.layout()
	if e.done {
		e.stopPreview()
	}
	if p := e.takePreviewCmd(); p != nil {
		cmd = tea.Batch(cmd, p)
	}
	return cmd
}

func (e *Editor) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		return e.handleKey(msg)
	case editorSavedMsg:
		if msg.id == e.id && msg.req == e.saveReq {
			return e.saveDone(msg)
		}
		return nil
	case editorPreviewMsg:
		if msg.id == e.id && msg.req == e.previewReq {
			e.previewDone(msg)
		}
		return nil
	case editorRecipientMsg:
		if msg.id != e.id || msg.req != e.recipientReq {
			return nil
		}
		e.recipient, e.recipientMsg, e.audience = msg.ct, "", msg.aud
		if msg.err != nil {
			if errors.Is(msg.err, store.ErrNotFound) {
				e.recipientMsg = msg.aud.emptyAudienceText()
			} else {
				e.recipientMsg = "Could not find a recipient for the preview: " + msg.err.Error()
			}
		}
		e.refreshPreview()
		return nil
	case editorTestDoneMsg:
		if msg.id == e.id && msg.req == e.testReq {
			return e.testDone(msg)
		}
		return nil
	case editorTagsSettledMsg:
		if msg.id == e.id && msg.seq == e.tagSeq {
			camp, _ := e.campaign()
			if store.AudienceKey(&camp) != e.recipientFor {
				return e.lookupRecipient()
			}
		}
		return nil
	case DataChangedMsg:
		if msg.What != CampaignData {
			// The first recipient may have changed or gone.
			return e.lookupRecipient()
		}
		return nil
	case tea.PasteMsg:
		if e.readOnly {
			return nil
		}
		return e.toField(msg)
	}
	return nil
}

func (e *Editor) handleKey(k tea.KeyPressMsg) tea.Cmd {
	if e.test != nil {
		return e.testKey(k)
	}
	if e.confirm != nil {
		closed, cmd := e.confirm.Update(k)
		if closed {
			// Discarding takes effect at once: keys typed right after it
			// belong to the list, not to the closing form.
			e.done = e.confirm.Confirmed()
			e.confirm = nil
		}
		return cmd
	}
	if e.readOnly && key.Matches(k, e.keys.Duplicate) {
		// The copy is the list's to make and select: the editor closes
		// and says which campaign to copy.
		e.done = true
		id := e.orig.ID
		return func() tea.Msg { return duplicateCampaignMsg{id: id} }
	}
	switch {
	case key.Matches(k, e.keys.Save):
		return e.save()
	case key.Matches(k, e.keys.Cancel):
		return e.cancel()
	case key.Matches(k, e.keys.Next):
		return e.moveFocus(1)
	case key.Matches(k, e.keys.Prev):
		return e.moveFocus(-1)
	case key.Matches(k, e.keys.Preview):
		e.showPreview = !e.showPreview
		return nil
	case key.Matches(k, e.keys.TestSend):
		return e.openTest()
	case key.Matches(k, e.keys.Reload) && e.conflict != nil:
		stored := *e.conflict
		e.orig, e.conflict, e.note = stored, nil, ""
		e.readOnly = !stored.Status.Editable()
		e.setValues(stored)
		e.saved = e.values()
		e.errs = map[fieldID]string{}
		e.refreshPreview()
		return tea.Batch(Flash("Loaded the stored version of '"+stored.Name+"'"), e.lookupRecipient())
	}
	if e.readOnly {
		// Arrow keys still scroll a long body.
		if e.focus == fBody {
			e.body.Focus()
			var cmd tea.Cmd
			before := e.body.Value()
			e.body, cmd = e.body.Update(k)
			if e.body.Value() != before {
				e.body.SetValue(before)
			}
			e.body.Blur()
			return cmd
		}
		return nil
	}
	if e.focus == fChannel || e.focus == fMsgType || e.focus == fMsgTag {
		return e.handleChoiceKey(k)
	}
	if e.focus == fFormat {
		return e.handleFormatKey(k)
	}
	if key.Matches(k, e.keys.Enter) && e.focus != fBody {
		return e.moveFocus(1)
	}
	return e.toField(k)
}

// handleChoiceKey picks the focused field's option: arrows and space
// cycle, and the first letter of an option jumps to it.
func (e *Editor) handleChoiceKey(k tea.KeyPressMsg) tea.Cmd {
	f := e.focus
	opts := choices(f)
	cur := &e.choice[f]
	if f == fChannel {
		cur = &e.channel
	}
	n := len(opts)
	switch {
	case key.Matches(k, e.keys.ChoiceLeft):
		*cur = (*cur + n - 1) % n
	case key.Matches(k, e.keys.ChoiceNext):
		*cur = (*cur + 1) % n
	case key.Matches(k, e.keys.Enter):
		return e.moveFocus(1)
	default:
		for i, o := range opts {
			if k.Text != "" && strings.HasPrefix(strings.ToLower(o), strings.ToLower(k.Text)) {
				*cur = i
				break
			}
		}
	}
	delete(e.errs, f)
	if f == fMsgType {
		delete(e.errs, fMsgTag)
	}
	e.urlPlaceholder()
	if f == fChannel {
		// The channel decides which addresses count: recount once the
		// person stops cycling.
		return e.settleAudience()
	}
	return nil
}

// settleAudience recounts the audience once typing pauses.
func (e *Editor) settleAudience() tea.Cmd {
	e.tagSeq++
	seq, id := e.tagSeq, e.id
	return tea.Tick(tagsSettle, func(time.Time) tea.Msg { return editorTagsSettledMsg{id: id, seq: seq} })
}

// urlPlaceholder fits the URL field's example to the channel.
func (e *Editor) urlPlaceholder() {
	if store.Channels[e.channel] == store.ChannelMessenger {
		e.inputs[fURL].Placeholder = "optional: a path on MESSENGER_API_BASE's host"
		return
	}
	e.inputs[fURL].Placeholder = "e.g. https://hooks.example.com/notify"
}

// toField passes a key or paste to the focused input and reacts to what
// changed.
func (e *Editor) toField(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	f := e.focus
	if f == fBody {
		before := e.body.Value()
		e.body, cmd = e.body.Update(msg)
		if e.body.Value() != before {
			delete(e.errs, f)
			e.refreshPreview()
		}
		return cmd
	}
	if f == fChannel || f == fMsgType || f == fMsgTag || f == fFormat {
		return nil
	}
	before := e.inputs[f].Value()
	e.inputs[f], cmd = e.inputs[f].Update(msg)
	if e.inputs[f].Value() == before {
		return cmd
	}
	delete(e.errs, f)
	switch f {
	case fSubject:
		e.refreshPreview()
	case fTags, fExclude:
		if f == fTags {
			delete(e.errs, fExclude) // "both included and excluded" involves both
		}
		return tea.Batch(cmd, e.settleAudience())
	}
	return cmd
}

func (e *Editor) cancel() tea.Cmd {
	if !e.Dirty() {
		e.done = true
		return nil
	}
	name := strings.TrimSpace(e.inputs[fName].Value())
	title := "Discard your changes?"
	if name != "" {
		title = "Discard your changes to '" + name + "'?"
	}
	e.confirm = NewConfirm(e.c, title, "What you typed since the last save will be lost.", "Discard", nil)
	return nil
}

func (e *Editor) save() tea.Cmd {
	if e.readOnly {
		e.note = "This campaign is " + string(e.orig.Status) + " and can no longer change. Press esc, then c to duplicate it into a new draft."
		return nil
	}
	if e.saving {
		return nil
	}
	camp, fe := e.campaign()
	if fe != nil {
		f, _ := fieldByKey(fe.Field)
		e.errs[f] = fe.Msg
		return e.focusField(f)
	}
	if e.conflict != nil {
		// Saving again after a conflict is a deliberate overwrite.
		camp.Version = e.conflict.Version
	}
	// The schedule is checked before anything is saved: a time that does
	// not parse, or has passed, keeps the form open on it.
	schedule, scheduleChanged := e.values().schedule, e.values().schedule != e.saved.schedule
	var at time.Time
	var zone string
	if scheduleChanged && schedule != "" {
		var err error
		if at, zone, err = sending.ParseSchedule(schedule); err != nil {
			e.errs[fSchedule] = err.Error()
			return e.focusField(fSchedule)
		}
		if !at.After(e.c.Now()) {
			e.errs[fSchedule] = "that time has passed: give one to come, or empty the field and press s to send now"
			return e.focusField(fSchedule)
		}
	}
	e.saving, e.note = true, ""
	e.saveReq++
	req, id, st, actor, isNew := e.saveReq, e.id, e.c.Store, e.c.Actor, e.isNew
	return func() tea.Msg {
		var saved store.Campaign
		var err error
		if isNew {
			saved, err = st.CreateCampaign(actor, camp)
		} else {
			saved, err = st.UpdateCampaign(actor, camp)
		}
		if err != nil || !scheduleChanged {
			return editorSavedMsg{id: id, req: req, c: saved, err: err}
		}
		var scheduled store.Campaign
		var serr error
		switch {
		case schedule == "" && saved.Status == store.StatusScheduled:
			scheduled, serr = st.UnscheduleCampaign(actor, saved.ID)
		case schedule != "":
			scheduled, serr = st.ScheduleCampaign(actor, saved.ID, at, zone)
		default:
			scheduled = saved
		}
		if serr == nil {
			saved = scheduled
		}
		return editorSavedMsg{id: id, req: req, c: saved, scheduleErr: serr}
	}
}

func (e *Editor) saveDone(msg editorSavedMsg) tea.Cmd {
	e.saving = false
	var verr *store.ValidationError
	var conflict *store.ConflictError
	switch {
	case msg.err == nil:
		e.done, e.conflict = true, nil
		saved := safeCampaign(msg.c)
		e.result = &saved
		if msg.scheduleErr != nil {
			return ReportError(fmt.Errorf("saved '%s', but it is not scheduled: %w", saved.Name, msg.scheduleErr))
		}
		return nil
	case errors.As(msg.err, &verr):
		e.errs = map[fieldID]string{}
		first := numFields
		for _, fe := range verr.Fields {
			f, ok := fieldByKey(fe.Field)
			if !ok {
				e.note = fe.Error()
				continue
			}
			if _, seen := e.errs[f]; !seen {
				e.errs[f] = describeFieldError(fe)
			}
			if e.visible(f) && f < first {
				first = f
			}
		}
		n := len(verr.Fields)
		summary := fmt.Sprintf("Not saved: %d problem", n)
		if n != 1 {
			summary += "s"
		}
		e.note = summary + " to fix (marked ✗ below)."
		if first < numFields {
			return e.focusField(first)
		}
		return nil
	case errors.As(msg.err, &conflict):
		stored := safeCampaign(conflict.Campaign)
		e.conflict = &stored
		e.note = safeLine(conflict.Error()) + ". ctrl+r loads their version (your edits are dropped); ctrl+s saves yours over it."
		return nil
	}
	if errors.Is(msg.err, store.ErrNotFound) && !e.isNew {
		// Deleted under us: the typing is still worth keeping.
		e.isNew = true
		e.orig.ID, e.orig.Version = 0, 0
		e.note = "Not saved: this campaign was deleted in another session. ctrl+s saves your version as a new campaign."
		return ReportError(msg.err)
	}
	e.note = "Not saved: " + msg.err.Error() + ". Your edits are still here; fix the cause and press ctrl+s again."
	return ReportError(msg.err)
}

// duplicateCampaignMsg asks the campaign list for a copy of a campaign
// that can no longer change.
type duplicateCampaignMsg struct{ id uint64 }

// Breadcrumb says which campaign the editor shows, and whether it edits it.
func (e *Editor) Breadcrumb() []string {
	switch {
	case e.isNew:
		return []string{"Campaigns", "New campaign"}
	case e.readOnly:
		return []string{"Campaigns", e.orig.Name}
	}
	return []string{"Campaigns", e.orig.Name, "Edit"}
}

// Done reports whether the editor has closed; Result is the saved campaign
// when it closed by saving.
func (e *Editor) Done() bool { return e.done }

// Result is the campaign as saved, or nil when the editor was cancelled.
func (e *Editor) Result() *store.Campaign { return e.result }

// SetSize gives the editor its area.
func (e *Editor) SetSize(w, h int) {
	e.width, e.height = w, h
	e.layout()
}

func (e *Editor) wide() bool { return e.width >= wideEditor }

func (e *Editor) formWidth() int {
	if e.wide() {
		return e.width * 55 / 100
	}
	return e.width
}

// layout sizes the inputs; the body takes the height the other fields leave.
func (e *Editor) layout() {
	fw := e.formWidth()
	inputW := max(fw-labelWidth-3, 8)
	for _, f := range []fieldID{fName, fFrom, fURL, fSubject, fTags, fExclude} {
		e.inputs[f].SetWidth(inputW)
	}
	e.inputs[fRate].SetWidth(min(inputW, 10))
	e.inputs[fAttempts].SetWidth(min(inputW, 10))
	e.inputs[fSchedule].SetWidth(min(inputW, 34))
	e.body.SetWidth(inputW)
	e.body.SetHeight(e.bodyHeight())
}

func (e *Editor) formHeight() int {
	if !e.wide() && !e.showPreview && e.height >= tallEditor {
		return e.height * 3 / 5
	}
	return e.height
}

func (e *Editor) bodyHeight() int {
	other := 3 // title and note lines, and the audience
	for _, f := range e.visibleFields() {
		if f != fBody {
			other++
		}
		if block := e.errorBlock(f, e.formWidth()); block != "" {
			other += strings.Count(block, "\n") + 1
		}
	}
	if e.note != "" || e.readOnly {
		// The note line may wrap to two.
		other++
	}
	return max(min(e.formHeight()-other, 16), 3)
}

// errorBlock is a field's error, wrapped to at most two lines and indented
// under the field's input.
func (e *Editor) errorBlock(f fieldID, w int) string {
	msg := e.fieldError(f)
	if msg == "" {
		return ""
	}
	indent := strings.Repeat(" ", labelWidth+1)
	lines := strings.Split(wrapCut(e.c.Styles.Error.Render("✗ "+msg), max(w-labelWidth-1, 10), 2), "\n")
	for i := range lines {
		lines[i] = indent + lines[i]
	}
	return strings.Join(lines, "\n")
}

func (e *Editor) fieldError(f fieldID) string {
	if msg, ok := e.live[f]; ok {
		return msg
	}
	return e.errs[f]
}

// View renders the form and the preview.
func (e *Editor) View() string {
	var out string
	switch {
	case e.wide():
		fw := e.formWidth()
		pw := e.width - fw - 1
		sep := e.c.Styles.Dim.Render(strings.TrimRight(strings.Repeat("│\n", max(e.height, 1)), "\n"))
		out = lipgloss.JoinHorizontal(lipgloss.Top,
			fitLines(e.formView(fw, e.height), fw, e.height), sep, " ",
			fitLines(e.previewView(pw-1, e.height), pw-1, e.height))
	case e.showPreview:
		out = e.previewView(e.width, e.height)
	case e.height >= tallEditor:
		fh := e.formHeight()
		out = fitLines(e.formView(e.width, fh), e.width, fh) + "\n" +
			e.previewView(e.width, e.height-fh)
	default:
		out = e.formView(e.width, e.height)
	}
	if e.confirm != nil {
		out = Overlay(e.width, e.height, fitLines(out, e.width, e.height), e.confirm.View())
	}
	if e.test != nil {
		out = Overlay(e.width, e.height, fitLines(out, e.width, e.height), e.test.View(e.c))
	}
	return out
}

// formView draws the form in w×h. When the fields do not all fit (a short
// terminal, or errors under several fields) they scroll so that the
// focused one, with its error, is always in view.
func (e *Editor) formView(w, h int) string {
	st := e.c.Styles
	var b strings.Builder
	title := "Edit campaign"
	if e.isNew {
		title = "New campaign"
	}
	if e.readOnly {
		title = "Campaign (read-only)"
	}
	hint := st.Key.Render("ctrl+s") + " Save · " + st.Key.Render("esc") + " Cancel"
	if !e.wide() {
		hint += " · " + st.Key.Render("ctrl+p") + " Preview"
	}
	if e.readOnly {
		hint = st.Key.Render("esc") + " Back · " + st.Key.Render("c") + " Duplicate"
	}
	if e.saving {
		hint = st.Dim.Render("Saving…")
	}
	head := st.Title.Render(title)
	gap := w - lipgloss.Width(head) - lipgloss.Width(hint)
	if gap >= 2 {
		head += strings.Repeat(" ", gap) + hint
	}
	b.WriteString(ansi.Truncate(head, w, "…") + "\n")
	switch {
	case e.note != "":
		b.WriteString(wrapCut(st.Error.Render("✗ "+e.note), w, 2) + "\n")
	case e.readOnly:
		note := "This campaign is " + string(e.orig.Status) + ": its message can no longer change. Press c to duplicate it into a new draft."
		b.WriteString(wrapCut(lipgloss.NewStyle().Foreground(st.Warn).Render(note), w, 2) + "\n")
	case e.Dirty():
		b.WriteString(st.Dim.Render("● unsaved changes") + "\n")
	default:
		b.WriteString("\n")
	}
	top := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	var fields []string
	from, to := 0, 0 // the focused field's lines
	for _, f := range e.visibleFields() {
		if f == e.focus {
			from = len(fields)
		}
		fields = append(fields, strings.Split(e.fieldView(f, w), "\n")...)
		if block := e.errorBlock(f, w); block != "" {
			fields = append(fields, strings.Split(block, "\n")...)
		}
		if f == fExclude {
			fields = append(fields, e.audienceLine(w))
			if e.focus == fTags || e.focus == fExclude {
				// The count answers the typing: keep it in view.
				to = len(fields)
			}
		}
		if f == e.focus {
			to = len(fields)
		}
	}
	room := h - len(top)
	if room > 0 && len(fields) > room {
		// Two lines say that more fields lie above or below.
		inner := room - 2
		if inner < 1 {
			inner = room
		}
		skip := 0
		if to > inner {
			skip = min(to-inner, from)
		}
		end := min(skip+inner, len(fields))
		window := fields[skip:end]
		if inner < room && skip > 0 {
			window = append([]string{st.Dim.Render("  ↑ more fields above (shift+tab)")}, window...)
		}
		if inner < room && end < len(fields) {
			window = append(window, st.Dim.Render("  ↓ more fields below (tab)"))
		}
		fields = window
	}
	return strings.Join(append(top, fields...), "\n")
}

func (e *Editor) fieldView(f fieldID, w int) string {
	st := e.c.Styles
	label := fieldLabels[f]
	if f == fURL && store.Channels[e.channel] == store.ChannelMessenger {
		label = "API URL"
	}
	marker := "  "
	lstyle := st.Dim
	if f == e.focus {
		marker = st.Key.Render("› ")
		lstyle = st.Label
	}
	prefix := marker + lstyle.Render(fmt.Sprintf("%-*s", labelWidth-2, label)) + " "
	var value string
	switch f {
	case fChannel, fMsgType, fMsgTag:
		picked := e.choice[f]
		if f == fChannel {
			picked = e.channel
		}
		opts := choices(f)
		on := lipgloss.NewStyle().Reverse(f == e.focus).Bold(true).Foreground(st.Accent)
		var parts []string
		for i, o := range opts {
			if i == picked {
				parts = append(parts, on.Render(" "+o+" "))
			} else {
				parts = append(parts, st.Dim.Render(" "+o+" "))
			}
		}
		value = strings.Join(parts, "")
		if lipgloss.Width(value)+6 > w-labelWidth-1 {
			// Too wide to list them all: the one picked, and where it is.
			value = on.Render(" "+opts[picked]+" ") + st.Dim.Render(fmt.Sprintf(" %d of %d", picked+1, len(opts)))
		}
		if f == e.focus && !e.readOnly {
			value += st.Dim.Render("  ←/→")
		}
		if f == fMsgType && f == e.focus && !e.readOnly {
			value += st.Dim.Render(messagingHint(store.MessagingTypes[picked]))
		}
	case fFormat:
		value = e.formatChoices(f == e.focus)
	case fBody:
		lines := strings.Split(e.body.View(), "\n")
		pad := strings.Repeat(" ", labelWidth+1)
		for i := range lines {
			if i > 0 {
				lines[i] = pad + lines[i]
			}
		}
		value = strings.Join(lines, "\n")
	case fRate:
		value = e.inputs[f].View() + st.Dim.Render("  messages/second, 0 = no limit")
	case fAttempts:
		value = e.inputs[f].View() + st.Dim.Render(fmt.Sprintf("  tries per recipient before it fails, up to %d", store.MaxAttemptsLimit))
	case fSchedule:
		value = e.inputs[f].View()
		if e.values().schedule == "" {
			value += st.Dim.Render("  empty: sends when you press s")
		}
		if v := e.values().schedule; v != "" {
			if at, _, err := sending.ParseSchedule(v); err == nil {
				value += st.Dim.Render("  " + sending.TimeLeft(at, e.c.Now()))
			}
		}
	default:
		value = e.inputs[f].View()
	}
	return prefix + value
}

func (e *Editor) previewView(w, h int) string {
	st := e.c.Styles
	var b strings.Builder
	b.WriteString(st.Title.Render("Preview"))
	if e.recipient != nil {
		who := e.recipient.Address
		if e.recipient.Name != "" {
			who = safeLine(e.recipient.Name) + " <" + e.recipient.Address + ">"
		}
		b.WriteString(st.Dim.Render(" for " + who))
	}
	if !e.wide() {
		b.WriteString(st.Dim.Render("  (ctrl+p back to the form)"))
	}
	b.WriteString("\n\n")
	switch {
	case e.fieldError(fSubject) != "" && e.live[fSubject] != "":
		b.WriteString(wrapCut(st.Error.Render("✗ subject: "+e.live[fSubject]), w, 3) + "\n")
	case e.live[fBody] != "":
		b.WriteString(wrapCut(st.Error.Render("✗ body: "+e.live[fBody]), w, 3) + "\n")
	case e.recipient == nil && e.recipientMsg != "":
		b.WriteString(lipgloss.NewStyle().Width(w).Render(e.recipientMsg) + "\n")
	case e.recipient == nil:
		b.WriteString(st.Dim.Render("Looking up the first recipient…") + "\n")
	case e.previewOK:
		b.WriteString(st.Label.Render("Subject: ") + ansi.Truncate(e.preview.Subject, max(w-9, 1), "…") + "\n")
		b.WriteString(e.previewParts(w))
	case e.rendering:
		b.WriteString(st.Dim.Render("Rendering…") + "\n")
	}
	return fitLines(b.String(), w, h)
}

// previewText is the start of a body, as much as a screen can show: a body
// may be a megabyte, and wrapping all of it on every keystroke would be
// slow.
func previewText(body string) string {
	const room = 32 << 10
	if len(body) <= room {
		return body
	}
	return strings.ToValidUTF8(body[:room], "") + "…"
}

// wrapCut wraps s to width w and keeps at most n lines.
func wrapCut(s string, w, n int) string {
	if w <= 0 {
		return ""
	}
	lines := strings.Split(lipgloss.NewStyle().Width(w).Render(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
		lines[n-1] = ansi.Truncate(lines[n-1], max(w-1, 1), "") + "…"
	}
	return strings.Join(lines, "\n")
}

// ShortHelp lists the editor's main keys.
func (e *Editor) ShortHelp() []key.Binding {
	if e.confirm != nil {
		return e.confirm.ShortHelp()
	}
	if e.readOnly {
		return []key.Binding{e.keys.Duplicate, e.keys.Cancel, e.keys.Next, e.keys.Preview}
	}
	if e.test != nil {
		return e.test.ShortHelp()
	}
	out := []key.Binding{e.keys.Save, e.keys.Cancel, e.keys.TestSend, e.keys.Next, e.keys.Prev}
	if e.conflict != nil {
		out = append([]key.Binding{e.keys.Reload}, out...)
	}
	if e.focus == fChannel || e.focus == fMsgType || e.focus == fMsgTag {
		out = append(out, e.keys.ChoiceLeft, e.keys.ChoiceNext)
	}
	if !e.wide() {
		out = append(out, e.keys.Preview)
	}
	return out
}

// FullHelp lists every editor key.
func (e *Editor) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{e.keys.Save, e.keys.Cancel, e.keys.Reload, e.keys.Preview, e.keys.TestSend},
		{e.keys.Next, e.keys.Prev, e.keys.Enter, e.keys.ChoiceLeft, e.keys.ChoiceNext},
	}
}

// messagingHint says whom a messaging type reaches.
func messagingHint(t store.MessagingType) string {
	switch t {
	case store.MessagingMessageTag:
		return "  any time, for the tag's use"
	case store.MessagingResponse:
		return "  a reply, within 24h"
	}
	return "  within 24h of their message"
}
